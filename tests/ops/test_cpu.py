"""The numba CPU GRU backend against the reference: outputs, final state, every gradient."""

from unittest import mock

import numpy as np
import pytest
import torch

import grunet
from grunet import ops
from grunet.ops import cpu, reference
from grunet.ops.registry import Backend, Call
from helpers import assert_close, assert_same_run, gru_inputs, nan_empty, run_with_grads

F32, F64 = torch.float32, torch.float64
SHAPES = [(1, 1, 1, 50), (63, 1, 5, 50), (17, 7, 1, 50), (5, 7, 5, 8)]  # (T, B, I, H)
BIASES = {"both": (True, True), "no_b_hh": (True, False), "none": (False, False)}


def _run_and_grads(fn, inputs, reset_after, reverse, seed):
    """Outputs and the gradients of a random projection of (out, h_n) w.r.t. every tensor input."""
    out, h_n = fn(*inputs, reset_after=reset_after, reverse=reverse)
    gen = torch.Generator().manual_seed(seed + 1000)
    loss = (out * torch.randn(out.shape, generator=gen, dtype=out.dtype)).sum()
    loss = loss + (h_n * torch.randn(h_n.shape, generator=gen, dtype=h_n.dtype)).sum()
    leaves = [t for t in inputs if t is not None]
    return (out, h_n), torch.autograd.grad(loss, leaves)


def _compare(inputs, reset_after, reverse, seed, dtype):
    (o1, h1), g1 = _run_and_grads(cpu.gru, inputs, reset_after, reverse, seed)
    (o2, h2), g2 = _run_and_grads(reference.gru, inputs, reset_after, reverse, seed)
    assert_close(o1, o2, dtype, "out")
    assert_close(h1, h2, dtype, "h_n")
    names = [
        n
        for n, t in zip(("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"), inputs, strict=False)
        if t is not None
    ]
    for name, a, b in zip(names, g1, g2, strict=False):
        assert_close(a, b, dtype, f"grad {name}")


@pytest.mark.parametrize("bias", list(BIASES))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_equals_reference_outputs_and_grads(dtype, reset_after, reverse, shape, bias, request):
    seed = request.node.callspec.indices["shape"] * 97 + hash(bias) % 89 + 7 * reverse
    b_ih, b_hh = BIASES[bias]
    inputs = gru_inputs(*shape, seed=seed, dtype=dtype, b_ih=b_ih, b_hh=b_hh)
    _compare(inputs, reset_after, reverse, seed, dtype)


@pytest.mark.parametrize("reset_after", [True, False])
def test_batch_first_transposed_input_and_threaded_rows(reset_after, monkeypatch):
    # x is a (T, B, I) view of a batch-first tensor; force the multi-thread row split too.
    monkeypatch.setattr(cpu.runtime, "PAR_MIN_ROWS", 1)
    monkeypatch.setattr(cpu.runtime, "PAR_MIN_WORK", 1)
    T, B, I, H = 9, 11, 3, 16  # noqa: E741
    x, *rest = gru_inputs(T, B, I, H, seed=5, dtype=F64)
    x_bf = x.detach().transpose(0, 1).contiguous().requires_grad_()
    inputs = (x_bf.transpose(0, 1), *rest)
    cpu.gru(*inputs, reset_after=reset_after)  # first call of a kernel runs on one thread
    _compare(inputs, reset_after, False, 5, F64)


@pytest.mark.parametrize("reset_after", [True, False])
def test_no_grad_path_equals_reference(reset_after):
    inputs = gru_inputs(12, 3, 4, 50, seed=11, dtype=F32, requires_grad=False)
    with torch.no_grad():
        o1, h1 = cpu.gru(*inputs, reset_after=reset_after, reverse=True)
        o2, h2 = reference.gru(*inputs, reset_after=reset_after, reverse=True)
    assert_close(o1, o2)
    assert_close(h1, h2)
    assert not o1.requires_grad


@pytest.mark.parametrize(("T", "B"), [(4, 2), (1, 3)])  # (1, 3): the small, fused backward
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_float64(reset_after, reverse, T, B):
    inputs = gru_inputs(T, B, 3, 5, seed=3 + reverse + T, dtype=F64)

    def fn(*args):
        return cpu.gru(*args, reset_after=reset_after, reverse=reverse)

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize(("T", "B"), [(6, 5), (2, 2)])  # large and small backward paths
@pytest.mark.parametrize("reset_after", [True, False])
def test_outputs_poisoned_with_nan_are_all_written(reset_after, T, B, monkeypatch):
    monkeypatch.setattr(cpu.runtime, "empty", nan_empty)
    inputs = gru_inputs(T, B, 3, 50, seed=21 + T, dtype=F32)
    _compare(inputs, reset_after, False, 21, F32)
    with torch.no_grad():
        out, h_n = cpu.gru(*inputs, reset_after=reset_after, reverse=True)
    assert not (out.isnan().any() or h_n.isnan().any())
    h = cpu.gru_step(
        inputs[0][0].detach(), *(t.detach() for t in inputs[1:]), reset_after=reset_after
    )
    assert not h.isnan().any()


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_stacked_bidirectional_equals_reference(dtype, reset_after):
    T, B, I, H, L = 10, 3, 4, 50, 2  # noqa: E741
    gen = torch.Generator().manual_seed(31)
    x = torch.randn(T, B, I, generator=gen, dtype=dtype, requires_grad=True)
    h0 = torch.randn(2 * L, B, H, generator=gen, dtype=dtype, requires_grad=True)
    weights = []
    for layer in range(L):
        for _ in range(2):
            i = I if layer == 0 else 2 * H
            w = [
                torch.randn(3 * H, i, generator=gen, dtype=dtype) * H**-0.5,
                torch.randn(3 * H, H, generator=gen, dtype=dtype) * H**-0.5,
                torch.randn(3 * H, generator=gen, dtype=dtype) * 0.1,
                None,
            ]
            weights.append(tuple(t if t is None else t.requires_grad_() for t in w))
    leaves = [x, h0] + [t for w in weights for t in w if t is not None]
    results = []
    for backend in ("cpu", "reference"):
        out, h_n = ops.gru(
            x,
            h0,
            weights,
            num_layers=L,
            bidirectional=True,
            reset_after=reset_after,
            backend=backend,
        )
        loss = (out * torch.linspace(-1, 1, out.numel(), dtype=dtype).view_as(out)).sum()
        results.append((out, h_n, torch.autograd.grad(loss + h_n.sum(), leaves)))
    (o1, h1, g1), (o2, h2, g2) = results
    assert_close(o1, o2)
    assert_close(h1, h2)
    for a, b in zip(g1, g2, strict=False):
        assert_close(a, b)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_nn_gru_equals_torch_gru(dtype):
    torch.manual_seed(41)
    theirs = torch.nn.GRU(5, 50, num_layers=2, batch_first=True, dtype=dtype)
    ours = grunet.nn.GRU(5, 50, num_layers=2, batch_first=True, dtype=dtype, backend="cpu")
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(7, 13, 5, dtype=dtype)
    outs = []
    for m in (ours, theirs):
        xi = x.clone().requires_grad_()
        out, h_n = m(xi)
        (out.square().sum() + h_n.sum()).backward()
        outs.append((out, h_n, xi.grad, [p.grad for p in m.parameters()]))
    (o1, h1, gx1, gp1), (o2, h2, gx2, gp2) = outs
    assert_close(o1, o2)
    assert_close(h1, h2)
    assert_close(gx1, gx2)
    for a, b in zip(gp1, gp2, strict=False):
        assert_close(a, b)


@pytest.mark.parametrize("shortcut", [True, False], ids=["shortcut", "general"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_auto_dispatches_to_the_cpu_kernel(reset_after, shortcut, monkeypatch):
    # Training calls of grunet.nn.GRU go straight to the kernels' Function when "auto" would pick
    # "cpu" (`ops.cpu.train`), else through the registry's entry: both reach the kernels.
    from grunet.nn import modules

    call = Call(cell="gru", device="cpu", dtype=F32, reset_after=reset_after)
    assert ops.resolve(call, "auto").name == "cpu"
    assert ops.registry.auto_choice(call) == "cpu"
    entry = ops.registry._REGISTRY["gru"]["cpu"]
    spy = mock.Mock(wraps=entry.fn)
    monkeypatch.setitem(
        ops.registry._REGISTRY["gru"],
        "cpu",
        Backend(entry.name, "gru", spy, entry.priority, entry.why_not),
    )
    if not shortcut:
        monkeypatch.setattr(modules, "module_train_forward", lambda *a: None)
    K = cpu.kernels
    with (
        mock.patch.object(K, "fwd_rows", wraps=K.fwd_rows) as rows,
        mock.patch.object(K, "fwd_small", wraps=K.fwd_small) as small,
    ):
        m = grunet.nn.GRU(3, 8, reset_after=reset_after)  # backend="auto"
        m(torch.randn(4, 2, 3))  # 8 rows: fwd_small (`autograd.small_pays`)
        m(torch.randn(40, 2, 3))  # 80 rows: torch's GEMM, then fwd_rows
    assert spy.call_count == (0 if shortcut else 2)
    assert (small.call_count, rows.call_count) == (1, 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"activation": "relu"}, "default activations"),
        ({"recurrent_activation": "hard_sigmoid"}, "default activations"),
        ({"recurrent_mask": torch.ones(2, 4)}, "recurrent dropout"),
    ],
)
def test_named_cpu_backend_refuses_what_it_cannot_run(kwargs, match):
    x, h0 = torch.randn(3, 2, 5), torch.zeros(1, 2, 4)
    weights = [(torch.randn(12, 5), torch.randn(12, 4), None, None)]
    with pytest.raises(RuntimeError, match=f"backend='cpu' cannot run this gru: .*{match}"):
        ops.gru(x, h0, weights, backend="cpu", **kwargs)


def test_named_cpu_backend_refuses_cuda_and_other_dtypes():
    with pytest.raises(RuntimeError, match="needs CPU tensors, got a cuda tensor"):
        ops.resolve(Call(cell="gru", device="cuda", dtype=F32), "cpu")
    x, h0 = torch.randn(3, 2, 5, dtype=torch.bfloat16), torch.zeros(1, 2, 4, dtype=torch.bfloat16)
    weights = [
        (
            torch.randn(12, 5, dtype=torch.bfloat16),
            torch.randn(12, 4, dtype=torch.bfloat16),
            None,
            None,
        )
    ]
    with pytest.raises(RuntimeError, match="float32 and float64, got torch.bfloat16"):
        ops.gru(x, h0, weights, backend="cpu")


def test_mixed_dtypes_are_a_clear_error():
    x, h0, w_ih, w_hh, _, _ = gru_inputs(3, 2, 4, 5, seed=0, requires_grad=False)
    with pytest.raises(TypeError, match="share one dtype"):
        cpu.gru(x, h0.double(), w_ih, w_hh)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_step_by_step_equals_full_sequence(dtype, reset_after):
    T, B, I, H = 20, 3, 4, 50  # noqa: E741
    x, h0, w_ih, w_hh, b_ih, _ = gru_inputs(T, B, I, H, seed=51, dtype=dtype, requires_grad=False)
    b_hh = None if reset_after else torch.randn(3 * H, dtype=dtype)
    with torch.no_grad():
        full, h_n = cpu.gru(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after=reset_after)
    h = h0
    stepper = cpu.GRUStepper(w_ih, w_hh, b_ih, b_hh, reset_after=reset_after, h0=h0)
    for t in range(T):
        h = cpu.gru_step(x[t], h, w_ih, w_hh, b_ih, b_hh, reset_after=reset_after)
        assert_close(h, full[t])
        from_numpy = stepper.step(x[t].numpy() if t % 2 else x[t])
        assert isinstance(from_numpy, np.ndarray if t % 2 else torch.Tensor)
        assert_close(torch.as_tensor(from_numpy), full[t])
    assert_close(torch.as_tensor(stepper.h), h_n)


def test_stepper_from_module_and_unbatched_input():
    m = grunet.nn.GRU(2, 16, reset_after=False)
    stepper = cpu.GRUStepper.from_module(m)
    x = torch.randn(6, 2)
    with torch.no_grad():
        full, _ = m(x)  # unbatched (L, H_in)
    for t in range(6):
        h = stepper.step(x[t])  # (I,) -> (1, H)
    assert_close(h[0], full[-1])
    with pytest.raises(ValueError, match="num_layers=1"):
        cpu.GRUStepper.from_module(torch.nn.GRU(2, 4, num_layers=2))


@pytest.fixture
def small_pool(monkeypatch):
    """`pool` for small buffers (HUGE_BYTES lowered), empty before and after."""
    monkeypatch.setattr(cpu.pool, "HUGE_BYTES", 256)
    monkeypatch.setattr(cpu.pool, "_maps", [])
    yield cpu.pool
    cpu.pool.release_memory()


def test_pooled_buffers_are_reused_only_when_no_view_lives(small_pool):
    R = small_pool
    cpu.runtime.get_pool(1)  # threaded calls' thread pool: another object (a name clash broke this)
    a = R.empty_internal((3, 100), F32)
    view = a[1:].numpy()  # a numpy view of the storage outlives the tensor
    del a
    b = R.empty_internal((3, 100), F32)
    addr = view.__array_interface__["data"][0] - 400  # where a started
    del view
    assert addr != b.data_ptr()  # b did not take a's mapping while the view lived
    c = R.empty_internal((3, 100), F32)  # a's mapping again: nothing uses it now
    assert c.data_ptr() == addr and len(R._maps) == 2
    big = R.empty_internal((3, 1000), F32)  # none free: a new mapping
    assert len(R._maps) == 3 and big.data_ptr() not in (b.data_ptr(), c.data_ptr())
    del b, c, big
    assert R.release_memory() > 0 and R._maps == []
    wide = R.empty_internal((5 << 20,), torch.uint8)  # a 6 MB mapping
    start = wide.data_ptr()
    del wide
    small = R.empty_internal((300,), torch.uint8)  # wants 2 MB: 6 MB is more than twice that
    assert small.data_ptr() != start and len(R._maps) == 2


def test_pool_keeps_at_most_pool_bytes(small_pool, monkeypatch):
    R = small_pool
    monkeypatch.setattr(R, "POOL_BYTES", 5 << 20)  # two of the 2 MB mappings (whole huge pages)
    held = [R.empty_internal((3, 100), F32) for _ in range(3)]
    assert len(R._maps) == 2  # the third is mapped outside the pool (unmapped when freed)
    del held
    x = R.empty_internal((2 << 20,), torch.uint8)  # 2 MB: a free pooled mapping again
    assert len(R._maps) == 2 and x.numel() == 2 << 20


@pytest.mark.parametrize("reset_after", [True, False])
def test_training_on_reused_poisoned_buffers_equals_the_reference(reset_after, small_pool):
    # A second call reuses the first call's buffers: fill every free pooled buffer with NaN first,
    # so that an element a kernel does not write shows up in the outputs or gradients.
    R = small_pool
    inputs = gru_inputs(40, 9, 5, 24, seed=17 + reset_after)
    leaves = [t for t in inputs if t is not None]
    kw = {"reset_after": reset_after}
    want = run_with_grads(lambda: reference.gru(*inputs, **kw), leaves, 6)
    assert_same_run(run_with_grads(lambda: cpu.gru(*inputs, **kw), leaves, 6), want, F32)
    assert R._maps and all(R._is_free(i) for i in range(len(R._maps)))
    for i in range(len(R._maps)):
        np.frombuffer(R._maps[i], np.float32)[:] = np.nan
    assert_same_run(run_with_grads(lambda: cpu.gru(*inputs, **kw), leaves, 6), want, F32)


@pytest.mark.parametrize("reset_after", [True, False])
def test_buffers_from_huge_page_mappings(reset_after, monkeypatch):
    """A training call's scratch buffers from `pool.empty_internal`'s mapped memory (`HUGE_BYTES`
    lowered so small calls take that branch): outputs and gradients as the reference's, the
    outputs still resizable (as torch's are), and a buffer outlives the name of its mapping."""
    monkeypatch.setattr(cpu.pool, "HUGE_BYTES", 256)
    monkeypatch.setattr(cpu.pool, "_maps", [])
    buf = cpu.pool.empty_internal((3, 100), F32)
    assert buf.shape == (3, 100) and buf.is_contiguous()
    inputs = gru_inputs(40, 9, 5, 24, seed=11 + reset_after)
    leaves = [t for t in inputs if t is not None]
    kw = {"reset_after": reset_after}
    want = run_with_grads(lambda: reference.gru(*inputs, **kw), leaves, 5)
    assert_same_run(run_with_grads(lambda: cpu.gru(*inputs, **kw), leaves, 5), want, F32)
    buf.fill_(2.0)
    assert float(buf.sum()) == 600.0
    with torch.no_grad():
        out, _ = cpu.gru(*inputs, **kw)
    out.resize_(2, 3)  # a user's tensor: torch's own storage
