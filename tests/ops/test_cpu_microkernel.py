"""The register-blocked path of the CPU forward kernel (W_hh^T packed in panels) against the plain
one, and the packing.

`fwd_rows(transposed=False)` (W_hh in its own layout, dot products) is itself checked against the
reference in test_cpu.py; here the micro-kernel path must give the same outputs, final state and
saved activations (what backward reads) for every tile remainder (1-4 rows) and panel remainder
(3H and 2H not multiples of the 16/32/64/128-column panels), both variants, forward and reverse,
with a padding mask, float32 and float64, on fresh random inputs.
"""

import numpy as np
import pytest
import torch

from grunet.ops import cpu, reference
from grunet.ops.cpu import kernels as K
from helpers import assert_close

NO_MASK = np.empty((0, 0), np.bool_)


def _inputs(rng, T, B, I, H, dtype):  # noqa: E741
    def r(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    return {
        "x": r(T, B, I),
        "w_ih": r(3 * H, I, scale=0.5),
        "b_ih": r(3 * H, scale=0.1),
        "h0": r(B, H, scale=0.5),
        "w_hh": r(3 * H, H, scale=1 / np.sqrt(H)),
        "b_hh": r(3 * H, scale=0.1),
    }


def _run(d, w, transposed, reset_after, reverse, mask, projection_inside):
    T, B, _ = d["x"].shape
    H = d["h0"].shape[1]
    out = np.full((T, B, H), np.nan, d["x"].dtype)
    h_n = np.full((B, H), np.nan, d["x"].dtype)
    saved = np.full((T, B, 5 * H), np.nan, d["x"].dtype)
    tail = (d["h0"], w, transposed, d["b_hh"], out, h_n, saved, reset_after, reverse, True, mask)
    if projection_inside:
        K.fwd_small(d["x"], d["w_ih"], d["b_ih"], *tail)
    else:
        gi = d["x"] @ d["w_ih"].T + d["b_ih"]
        K.fwd_rows(0, B, np.ascontiguousarray(gi), *tail, -1)
    return out, h_n, saved


SHAPES = [(5, 1, 3, 50), (4, 2, 1, 33), (3, 3, 2, 70), (6, 7, 5, 16), (2, 9, 4, 130), (3, 5, 1, 1)]
SHAPES += [(2, 5, 150, 40)]  # a wide input


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("projection_inside", [False, True], ids=["rows", "small"])
def test_panels_equal_plain_kernel(shape, dtype, reset_after, reverse, projection_inside):
    rng = np.random.default_rng()  # fresh inputs every run
    T, B, I, H = shape  # noqa: E741
    d = _inputs(rng, T, B, I, H, dtype)
    mask = rng.random((T, B)) < 0.8
    mask[0] = True
    w_t = cpu.runtime.packed(d["w_hh"])
    for m in (NO_MASK, mask):
        args = (reset_after, reverse, m, projection_inside)
        plain = _run(d, d["w_hh"], False, *args)
        tiles = _run(d, w_t, True, *args)
        torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
        for name, a, b in zip(("out", "h_n", "saved"), tiles, plain, strict=True):
            assert not np.isnan(a).any(), name
            assert_close(torch.from_numpy(a), torch.from_numpy(b), torch_dtype, name)


@pytest.mark.parametrize("reset_after", [True, False])
def test_panels_equal_reference(reset_after):
    # Through the public op, with sizes where transposing pays (so the panel path runs).
    T, B, I, H = 24, 6, 5, 50  # noqa: E741
    gen = torch.Generator().manual_seed(int(np.random.default_rng().integers(1 << 30)))
    x = torch.randn(T, B, I, generator=gen, dtype=torch.float64)
    h0 = torch.randn(B, H, generator=gen, dtype=torch.float64) * 0.5
    w_ih = torch.randn(3 * H, I, generator=gen, dtype=torch.float64) * 0.3
    w_hh = torch.randn(3 * H, H, generator=gen, dtype=torch.float64) * 0.15
    b_ih, b_hh = (torch.randn(3 * H, generator=gen, dtype=torch.float64) * 0.1 for _ in range(2))
    assert cpu.autograd.transpose_pays(T, B, H)
    got = cpu.gru(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after=reset_after)
    want = reference.gru(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after=reset_after)
    for a, b, name in zip(got, want, ("out", "h_n"), strict=True):
        assert_close(a, b, torch.float64, name)


@pytest.mark.parametrize("bound", [True, False], ids=["bound_call", "rows"])
@pytest.mark.parametrize("edit", ["data", "numpy", "copy_", "replace"])
def test_cached_transpose_sees_every_weight_change(edit, bound, monkeypatch):
    # Inference keeps W_hh packed and W_ih^T between calls; any change of their values must be
    # seen at once.
    import grunet.nn as gnn

    monkeypatch.setattr(cpu.infer, "_bound_pays", lambda *a: bound)
    torch.manual_seed(int(np.random.default_rng().integers(1 << 30)))
    m = gnn.GRU(3, 40, batch_first=True, backend="cpu").eval()
    ref = torch.nn.GRU(3, 40, batch_first=True).eval()
    x = torch.randn(6, 5, 3)
    with torch.no_grad():
        m(x)  # builds the cache
        plan = m.__dict__[cpu.infer._PLAN]
        assert np.array_equal(plan.made[0][1], cpu.runtime.packed(plan.weights[0][1]))  # in use
        for name in ("weight_hh_l0", "weight_ih_l0"):  # both are kept in other layouts
            p = getattr(m, name)
            new = torch.randn_like(p) * 0.2
            if edit == "data":
                p.data.copy_(new)
            elif edit == "numpy":
                p.detach().numpy()[:] = new.numpy()
            elif edit == "copy_":
                p.copy_(new)
            else:
                setattr(m, name, torch.nn.Parameter(new))
        ref.load_state_dict(m.state_dict())
        assert_close(m(x)[0], ref(x)[0], torch.float32, "out after the edit")


@pytest.mark.parametrize("H", [1, 15, 16, 17, 50, 64, 100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_pack_holds_w_transposed_by_panels(H, dtype):
    w = np.random.default_rng().standard_normal((3 * H, H)).astype(dtype)
    p = cpu.runtime.packed(w)
    rows, pw = K.packed_shape(H, w.itemsize)
    assert p.shape == (rows, pw) and pw == 128 // w.itemsize
    panels = p.reshape(-1, H, pw)  # (P, H, PW)
    flat = np.concatenate(list(panels), axis=1)  # (H, P * PW): W^T with padded blocks
    prz = -(-2 * H // pw)
    np.testing.assert_array_equal(flat[:, : 2 * H], w[: 2 * H].T)
    np.testing.assert_array_equal(flat[:, prz * pw : prz * pw + H], w[2 * H :].T)
    np.testing.assert_array_equal(flat[:, 2 * H : prz * pw], 0)
    np.testing.assert_array_equal(flat[:, prz * pw + H :], 0)
    assert p.ctypes.data % cpu.runtime.LINE_BYTES == 0  # the micro-kernel's loads: one line each


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (150, 50), (5, 2, 9)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_aligned_arrays_and_transposed_copy(shape, dtype):
    a = cpu.runtime.empty_aligned(shape, dtype)
    assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
    assert a.ctypes.data % cpu.runtime.LINE_BYTES == 0
    w = np.random.default_rng().standard_normal(shape[:2]).astype(dtype)
    t = cpu.runtime.transposed(w)
    np.testing.assert_array_equal(t, w.T)
    assert t.flags.c_contiguous and t.ctypes.data % cpu.runtime.LINE_BYTES == 0


@pytest.mark.parametrize("chunk_bytes", [1, 5000, 1 << 21])
def test_inference_projection_by_chunks_of_steps(chunk_bytes, monkeypatch):
    # Long calls project the input a chunk of steps at a time; the state carries across chunks,
    # forward and reverse (bidirectional), through stacked layers.
    import grunet.nn as gnn

    monkeypatch.setattr(cpu.infer, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(cpu.infer, "_bound_pays", lambda *a: False)  # the chunked route
    torch.manual_seed(int(np.random.default_rng().integers(1 << 30)))
    m = gnn.GRU(3, 21, num_layers=2, bidirectional=True, batch_first=True, backend="cpu").eval()
    ref = torch.nn.GRU(3, 21, num_layers=2, bidirectional=True, batch_first=True).eval()
    ref.load_state_dict(m.state_dict())
    x, h0 = torch.randn(9, 13, 3), torch.randn(4, 9, 21)
    with torch.no_grad():
        (o1, h1), (o2, h2) = m(x, h0), ref(x, h0)
    assert_close(o1, o2, torch.float32, "out")
    assert_close(h1, h2, torch.float32, "h_n")


@pytest.mark.parametrize(("B", "T", "I"), [(6, 5, 3), (6, 5, 150), (16, 1, 7), (3, 20, 2)])
def test_calls_of_a_few_dozen_rows(B, T, I):  # noqa: E741
    # T * B in (4, 64]: one bound_call, W_ih^T and W_hh packed kept, narrow and wide inputs.
    import grunet.nn as gnn

    torch.manual_seed(int(np.random.default_rng().integers(1 << 30)))
    for reset_after in (True, False):
        m = gnn.GRU(I, 40, batch_first=True, backend="cpu", reset_after=reset_after).eval()
        ref = gnn.GRU(I, 40, batch_first=True, backend="reference", reset_after=reset_after)
        ref.load_state_dict(m.state_dict())
        x, h0 = torch.randn(B, T, I), torch.randn(1, B, 40)
        with torch.no_grad():
            (o1, h1), (o2, h2) = m(x, h0), ref.eval()(x, h0)
        assert_close(o1, o2, torch.float32, "out")
        assert_close(h1, h2, torch.float32, "h_n")
