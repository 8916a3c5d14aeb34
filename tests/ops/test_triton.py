"""The triton GRU backend against the reference: outputs, final state and every gradient.

Without a GPU the kernels run under the Triton interpreter (``TRITON_INTERPRET=1``, CPU tensors,
small shapes); with one, the same tests run compiled on CUDA. The full CUDA parity matrix is in
test_triton_cuda.py. The reference runs in float64; the kernels in float32 unless stated.
"""

import os
import subprocess
import sys

import pytest
import torch

_CUDA = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "0") != "1"
# The interpreter is chosen when the kernels are decorated, i.e. when triton_gru is imported: set
# it first, then put the environment back so that other test modules' "auto" dispatch stays as is.
_saved = os.environ.get("TRITON_INTERPRET")
if not _CUDA:
    os.environ["TRITON_INTERPRET"] = "1"
try:
    pytest.importorskip("triton", reason="triton is not installed (pip install 'grunet[triton]')")
    from grunet.ops import triton_gru  # noqa: E402
finally:
    if _saved is None:
        os.environ.pop("TRITON_INTERPRET", None)
    else:
        os.environ["TRITON_INTERPRET"] = _saved

import grunet  # noqa: E402
from grunet import ops  # noqa: E402
from grunet.ops import reference  # noqa: E402
from helpers import assert_close  # noqa: E402

DEVICE = "cuda" if _CUDA else "cpu"
F64 = torch.float64

if not _CUDA and type(triton_gru._gru_fwd_kernel).__name__ != "InterpretedFunction":
    pytest.skip("triton_gru was imported before TRITON_INTERPRET=1", allow_module_level=True)


@pytest.fixture(autouse=True)
def _interpreter(monkeypatch):
    """The backend accepts CPU tensors only while TRITON_INTERPRET=1 (read at each call)."""
    if not _CUDA:
        monkeypatch.setenv("TRITON_INTERPRET", "1")


def _inputs(T, B, I, H, *, bias="both", device=DEVICE, seed=0):
    """Fresh float64 (x, h0, w_ih, w_hh, b_ih, b_hh); bias: "both", "ih" (Keras) or "none"."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, s=1.0):
        return (torch.randn(*shape, generator=g, dtype=F64) * s).to(device)

    k = H**-0.5
    return (
        rnd(T, B, I),
        rnd(B, H, s=0.5),
        rnd(3 * H, I, s=k),
        rnd(3 * H, H, s=k),
        rnd(3 * H, s=k) if bias != "none" else None,
        rnd(3 * H, s=k) if bias == "both" else None,
    )


def _leaves(tensors, dtype):
    return [None if t is None else t.detach().to(dtype).requires_grad_() for t in tensors]


def _run(fn, tensors, seed=1, **kwargs):
    """Outputs (out, h_n) and the gradients of a random projection of both w.r.t. every input."""
    out, h_n = fn(*tensors, **kwargs)
    g = torch.Generator().manual_seed(seed)
    w_out = torch.randn(out.shape, generator=g, dtype=F64).to(out.device, out.dtype)
    w_h = torch.randn(h_n.shape, generator=g, dtype=F64).to(out.device, out.dtype)
    loss = (out.float() * w_out.float()).sum() + (h_n.float() * w_h.float()).sum()
    leaves = [t for t in tensors if t is not None]
    return [out, h_n, *torch.autograd.grad(loss, leaves)]


NAMES = ("out", "h_n", "x", "h0", "w_ih", "w_hh", "b_ih", "b_hh")


def _assert_close(actual, expected, dtype, names=NAMES):
    for name, a, e in zip(names, actual, expected, strict=False):
        assert a.dtype == dtype, f"{name}: dtype {a.dtype}, want {dtype}"
        assert_close(a, e, dtype, f"{name} ({dtype})")


def _check(T, B, I, H, *, reset_after, reverse, bias="both", dtype=torch.float32, seed=0):
    x64 = _inputs(T, B, I, H, bias=bias, seed=seed)
    expected = _run(reference.gru, _leaves(x64, F64), reset_after=reset_after, reverse=reverse)
    actual = _run(triton_gru.gru, _leaves(x64, dtype), reset_after=reset_after, reverse=reverse)
    names = [*NAMES[:6], *["b_ih"] * (bias != "none"), *["b_hh"] * (bias == "both")]
    _assert_close(actual, expected, dtype, names)
    return actual


# Sizes rotate through T {1, 5}, B {1, 7, 17}, I {1, 5}, H {16, 50}; each row runs both variants.
# B <= 8 uses the broadcast-reduce product, B = 17 tl.dot with a masked second tile.
_CASES = [
    # T, B, I, H, reverse, bias
    (5, 7, 5, 50, False, "both"),
    (5, 7, 1, 16, True, "ih"),
    (1, 1, 5, 50, True, "none"),
    (5, 1, 1, 16, False, "both"),
    (5, 17, 5, 50, True, "both"),
    (1, 17, 1, 16, False, "ih"),
    (1, 7, 1, 50, False, "none"),
    (5, 1, 5, 50, True, "ih"),
]


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize(("T", "B", "I", "H", "reverse", "bias"), _CASES)
def test_matches_reference(T, B, I, H, reverse, bias, reset_after):  # noqa: E741
    _check(T, B, I, H, reset_after=reset_after, reverse=reverse, bias=bias)


@pytest.mark.parametrize(("B", "reverse"), [(7, True), (17, False)])
@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_streamed_weights_match_reference(monkeypatch, B, reverse, reset_after):
    """The H > 128 strategy (W_hh streamed in K-chunks every step), forced at H=50 (3 chunks)."""
    monkeypatch.setattr(triton_gru, "_RESIDENT_MAX_H", 16)
    monkeypatch.setattr(triton_gru, "_RESIDENT_MAX_H_SMALL_B", 16)
    assert not triton_gru._config(B, 50, torch.float32)["RESIDENT"]
    _check(5, B, 5, 50, reset_after=reset_after, reverse=reverse)


@pytest.mark.parametrize(("dtype", "B"), [(torch.bfloat16, 7), (torch.float16, 17)])
def test_half_precision_inputs(dtype, B):
    # bf16 with B > 8 (tl.dot) is left to the CUDA tests: the interpreter's dot multiplies bf16
    # bit patterns as integers.
    _check(5, B, 5, 50, reset_after=False, reverse=False, dtype=dtype)


def test_poisoned_buffers_are_all_written(monkeypatch):
    """Every buffer a kernel writes starts as NaN: an element left unwritten would show."""

    def poisoned(shape, dtype, device):
        return torch.full(shape, float("nan"), dtype=dtype, device=device)

    monkeypatch.setattr(triton_gru, "_empty", poisoned)
    for B, streamed in ((7, False), (17, True)):
        if streamed:
            monkeypatch.setattr(triton_gru, "_RESIDENT_MAX_H", 16)
        for reset_after in (True, False):
            _check(5, B, 5, 50, reset_after=reset_after, reverse=streamed)


def test_repeated_runs_are_identical():
    x64 = _inputs(5, 17, 5, 50)
    first = _run(triton_gru.gru, _leaves(x64, torch.float32), reset_after=False)
    again = _run(triton_gru.gru, _leaves(x64, torch.float32), reset_after=False)
    for a, b in zip(first, again, strict=False):
        assert torch.equal(a, b)


def test_no_grad_forward_equals_training_forward():
    x64 = _inputs(5, 7, 5, 50)
    with torch.no_grad():
        out, h_n = triton_gru.gru(*_leaves(x64, torch.float32))
    out_t, h_t = triton_gru.gru(*_leaves(x64, torch.float32))
    assert torch.equal(out, out_t) and torch.equal(h_n, h_t)
    assert torch.equal(out[-1], h_n)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_stacked_bidirectional_through_dispatch(reset_after):
    T, B, I, H, L = 5, 7, 5, 16, 2
    g = torch.Generator().manual_seed(3)
    weights = []
    for layer in range(L):
        for _ in range(2):
            i_l = I if layer == 0 else 2 * H
            shapes = ((3 * H, i_l), (3 * H, H), (3 * H,), (3 * H,))
            weights.append(tuple(torch.randn(*s, generator=g, dtype=F64) * H**-0.5 for s in shapes))
    x = torch.randn(T, B, I, generator=g, dtype=F64)
    h0 = torch.randn(2 * L, B, H, generator=g, dtype=F64)

    def run(backend, dtype):
        leaves = _leaves([x, h0, *[w for ws in weights for w in ws]], dtype)
        xs, hs = leaves[0].to(DEVICE), leaves[1].to(DEVICE)
        flat = [w.to(DEVICE) for w in leaves[2:]]
        ws = [tuple(flat[4 * k : 4 * k + 4]) for k in range(2 * L)]
        out, h_n = ops.gru(
            xs, hs, ws, num_layers=L, bidirectional=True, reset_after=reset_after, backend=backend
        )
        loss = (out.float() ** 2).sum() + h_n.float().sum()
        return [out, h_n, *torch.autograd.grad(loss, leaves)]

    expected = run("reference", F64)
    actual = run("triton", torch.float32)
    names = ["out", "h_n", "x", "h0"] + [f"weight {k}" for k in range(4 * 2 * L)]
    _assert_close([a.cpu() for a in actual], [e.cpu() for e in expected], torch.float32, names)


def test_nn_module_runs_on_triton():
    torch.manual_seed(0)
    mod = grunet.nn.GRU(3, 16, batch_first=True, reset_after=False, backend="triton").to(DEVICE)
    ref = grunet.nn.GRU(3, 16, batch_first=True, reset_after=False, backend="reference").to(DEVICE)
    ref.load_state_dict(mod.state_dict())
    x = torch.randn(2, 5, 3, device=DEVICE)
    torch.testing.assert_close(mod(x)[0], ref(x)[0], rtol=1e-5, atol=1e-5)


def test_dispatch_reasons(monkeypatch):
    call = ops.Call(cell="gru", device="cpu", dtype=torch.float32)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError, match="needs a CUDA tensor"):
        ops.resolve(call, "triton")
    assert ops.resolve(call).name != "triton"
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert ops.resolve(call, "triton").name == "triton"
    assert ops.resolve(call).name != "triton"  # the interpreter runs by name only, never by "auto"
    cuda_call = ops.Call(cell="gru", device="cuda", dtype=torch.float32)
    assert ops.registry._auto_ok(
        ops.registry._REGISTRY["gru"]["triton"], cuda_call
    )  # fastest on CUDA
    for bad, reason in (
        ({"dtype": torch.float64}, "float32, float16 and bfloat16"),
        ({"default_activations": False}, "default activations"),
        ({"recurrent_mask": True}, "recurrent dropout"),
    ):
        with pytest.raises(RuntimeError, match=reason):
            fields = {"cell": "gru", "device": "cpu", "dtype": torch.float32, **bad}
            ops.resolve(ops.Call(**fields), "triton")
    assert ops.resolve(ops.Call(cell="gru", device="cpu", dtype=torch.float64)).name != "triton"
    masked = ops.Call(cell="gru", device="cpu", dtype=torch.float32, step_mask=True)
    assert ops.resolve(masked, "triton").name == "triton"  # declares the step_mask capability


def test_fast_path_fires(monkeypatch):
    """backend="triton" through the stacked entry point really launches the forward kernel."""
    calls = []
    real = triton_gru._forward
    monkeypatch.setattr(
        triton_gru, "_forward", lambda *a: calls.append(a[8]) or real(*a)
    )  # a[8]: training
    x64 = _inputs(3, 2, 4, 16)
    x, h0, *weights = (t.float() for t in x64)
    ops.gru(x, h0[None], [tuple(weights)], backend="triton")
    assert calls == [False]  # one launch, inference (nothing saved)


def test_bad_arguments_say_what_was_received():
    x, h0, w_ih, w_hh, b_ih, b_hh = (t.float() for t in _inputs(3, 2, 4, 16))
    with pytest.raises(TypeError, match="share one dtype"):
        triton_gru.gru(x, h0.double(), w_ih, w_hh)
    with pytest.raises(ValueError, match="w_hh"):
        triton_gru.gru(x, h0, w_ih, w_hh[:, :8])


def test_import_grunet_does_not_import_triton():
    code = (
        "import sys, torch, grunet, grunet.ops, grunet.nn\n"
        "grunet.nn.GRU(2, 4)(torch.randn(3, 1, 2))  # auto dispatch on CPU\n"
        "assert 'triton' not in sys.modules, 'triton was imported'"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# ---------------------------------------------------------------------------------------------
# Step masks (PackedSequence, Keras masking) and double backward
# ---------------------------------------------------------------------------------------------


def _step_mask(T, B, seed):
    """A (T, B) bool mask with skipped steps at the start, middle and end of rows, one row empty."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(T, B, generator=g) > 0.35
    mask[:, 0] = True
    if B > 2:
        mask[:, 2] = False  # a row that never steps keeps h0
    return mask.to(DEVICE)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize(
    ("T", "B", "H", "reverse", "streamed"),
    [
        (6, 7, 50, False, False),
        (6, 7, 50, True, False),
        (5, 17, 16, True, False),
        (5, 17, 50, False, True),
    ],
)
def test_step_mask_matches_reference(monkeypatch, T, B, H, reverse, streamed, reset_after):
    if streamed:
        monkeypatch.setattr(triton_gru, "_RESIDENT_MAX_H", 16)
        monkeypatch.setattr(triton_gru, "_RESIDENT_MAX_H_SMALL_B", 16)
    mask = _step_mask(T, B, seed=T + B + H)
    x64 = _inputs(T, B, 3, H, seed=T * B)
    kw = {"reset_after": reset_after, "reverse": reverse, "step_mask": mask}
    expected = _run(reference.gru, _leaves(x64, F64), **kw)
    actual = _run(triton_gru.gru, _leaves(x64, torch.float32), **kw)
    _assert_close(actual, expected, torch.float32)


def test_step_mask_packed_sequence_through_nn():
    """grunet.nn.GRU(backend="triton") on a PackedSequence equals torch.nn.GRU."""
    torch.manual_seed(8)
    theirs = torch.nn.GRU(3, 16, num_layers=2, bidirectional=True).to(DEVICE)
    ours = grunet.nn.GRU(3, 16, num_layers=2, bidirectional=True, backend="triton").to(DEVICE)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(6, 4, 3, device=DEVICE)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, [2, 6, 1, 4], enforce_sorted=False)
    (o_out, o_h), (t_out, t_h) = ours(packed), theirs(packed)
    torch.testing.assert_close(o_out.data, t_out.data, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(o_h, t_h, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("masked", [False, True], ids=["dense", "masked"])
def test_double_backward_equals_reference(reset_after, masked):
    """create_graph=True gives a differentiable gradient equal to the reference's (float32)."""
    T, B, H = 4, 3, 16
    x64 = _inputs(T, B, 3, H, seed=11)
    mask = _step_mask(T, B, seed=12) if masked else None
    kw = {"reset_after": reset_after, "reverse": True, "step_mask": mask}

    def penalty_grads(fn):
        leaves = _leaves(x64, torch.float32)
        out, h_n = fn(*leaves, **kw)
        gx, gw = torch.autograd.grad(
            out.sum() + h_n.sum(), [leaves[0], leaves[3]], create_graph=True
        )
        assert gx.requires_grad and gw.requires_grad
        return torch.autograd.grad(
            gx.pow(2).sum() + gw.pow(2).sum(), [t for t in leaves if t is not None]
        )

    expected, actual = penalty_grads(reference.gru), penalty_grads(triton_gru.gru)
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5)


def test_backward_with_create_graph_goes_through_the_reference():
    """A plain backward runs the backward kernel; create_graph=True differentiates the reference."""
    calls = []
    real = triton_gru._backward
    x64 = _inputs(3, 2, 3, 16, seed=13)
    leaves = _leaves(x64, torch.float32)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(triton_gru, "_backward", lambda *a: calls.append(1) or real(*a))
        out, h_n = triton_gru.gru(*leaves)
        torch.autograd.grad(out.sum(), leaves[0])
        assert calls == [1]
        out, h_n = triton_gru.gru(*leaves)
        torch.autograd.grad(out.sum(), leaves[0], create_graph=True)
        assert calls == [1]  # the graph-building backward goes through the reference
