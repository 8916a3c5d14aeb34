"""The first step from a zero state, which the CPU kernels run without W_hh (its product with 0
is 0), against the reference: outputs and gradients, every route of a call, and the weights or
gradients that are infinite or NaN, where 0 times them is NaN and nothing may be skipped.

Legend:  T: time steps  B: batch  I: input features  H: hidden units
"""

import numpy as np
import pytest
import torch

import grunet.nn as gnn
from grunet.ops import cpu, reference
from grunet.ops.cpu import kernels as K
from helpers import assert_close, assert_same_run, generator, gru_inputs, nan_empty, run_with_grads

F32, F64 = torch.float32, torch.float64
NP = {F32: np.float32, F64: np.float64}


@pytest.mark.parametrize("n", [1, 7, 33, 1000])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_finite_finds_every_infinite_or_nan_element(dtype, n):
    rng = np.random.default_rng(n)
    big = np.finfo(NP[dtype]).max
    a = rng.standard_normal(n).astype(NP[dtype])
    a[rng.integers(n)] = big  # large but finite
    assert K.finite(a)
    for bad in (np.nan, np.inf, -np.inf):
        for where in {0, n - 1, int(rng.integers(n))}:
            b = a.copy()
            b[where] = bad
            assert not K.finite(b), (bad, where)


def test_zero_rows_reads_only_the_rows_and_columns_asked():
    a = np.zeros((3, 5), np.float32)
    assert K.zero_rows(a, 3)
    a[2, 0] = 1.0
    assert K.zero_rows(a, 2) and not K.zero_rows(a, 3)
    assert K.zero_rows(a, 3, 1)  # from column 1 on
    a[1, 4] = -0.0  # minus zero is zero
    assert K.zero_rows(a, 2)


def _h0(kind: str, B: int, H: int, dtype, seed: int) -> torch.Tensor:
    """zeros: a plain zero state; zeros_grad: zeros whose gradient is wanted; mixed: rows 0-3 (the
    first tile of `kernels.fwd_rows`) and row 5 zero, the others not."""
    if kind.startswith("zeros"):
        return torch.zeros(B, H, dtype=dtype, requires_grad=kind == "zeros_grad")
    h = 0.5 * torch.randn(B, H, generator=generator(seed), dtype=dtype)
    h[:4] = 0
    h[5:6] = 0
    return h.requires_grad_()


# (1, 1), (1, 3): the one-call small path; (1, 9), (1, 40): large T = 1 (40: no packed W_hh,
# W_hh's gradient without a GEMM); (3, 5), (4, 9): the zero start followed by real steps; (3, 40):
# the same through torch's GEMMs (dW_hh without the first step's rows, either direction). Mixed
# zero and non-zero rows need B > 5 (`_h0`).
SHAPES = [(1, 1), (1, 3), (1, 9), (1, 40), (3, 5), (4, 9), (3, 40)]
CASES = [
    (T, B, k) for T, B in SHAPES for k in ("zeros", "zeros_grad", "mixed") if k[0] == "z" or B > 5
]


@pytest.mark.parametrize(("T", "B", "h0_kind"), CASES)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_zero_start_equals_reference(dtype, reset_after, reverse, h0_kind, T, B, monkeypatch):
    monkeypatch.setattr(cpu.runtime, "empty", nan_empty)
    H = 24
    seed = 7 * T + B + 3 * reverse + reset_after
    x, _, w_ih, w_hh, b_ih, b_hh = gru_inputs(T, B, 5, H, seed=seed, dtype=dtype)
    h0 = _h0(h0_kind, B, H, dtype, seed)
    args = (x, h0, w_ih, w_hh, b_ih, b_hh)
    leaves = [t for t in args if t.requires_grad]
    kw = {"reset_after": reset_after, "reverse": reverse}
    want = run_with_grads(lambda: reference.gru(*args, **kw), leaves, seed)
    assert_same_run(run_with_grads(lambda: cpu.gru(*args, **kw), leaves, seed), want, dtype)
    o2, h2 = want[:2]
    with torch.no_grad():
        o3, h3 = cpu.gru(*args, reset_after=reset_after, reverse=reverse)
    assert_close(o3, o2, dtype, "out (no grad)")
    assert_close(h3, h2, dtype, "h_n (no grad)")


# The inference routes of `grunet.nn.GRU` (`ops.cpu.infer`): one kernel call for a few rows, one
# bound call for a few dozen, torch's GEMM and `fwd_rows` beyond.
@pytest.mark.parametrize(("B", "T"), [(1, 1), (3, 1), (4, 4), (32, 4), (96, 1)])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("layers", [1, 2])
def test_module_routes_from_a_zero_state_equal_reference(layers, reset_after, B, T):
    torch.manual_seed(B * 10 + T + layers)
    kw = {"num_layers": layers, "batch_first": True, "reset_after": reset_after}
    fast, ref = gnn.GRU(6, 40, backend="cpu", **kw), gnn.GRU(6, 40, backend="reference", **kw)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(B, T, 6)
    with torch.no_grad():
        for h0 in (None, torch.zeros(layers, B, 40)):
            (o1, h1), (o2, h2) = fast(x, h0), ref(x, h0)
            assert_close(o1, o2, torch.float32, "out")
            assert_close(h1, h2, torch.float32, "h_n")


def _poison(w_hh: torch.Tensor, seed: int) -> None:
    """An infinite weight in the r rows and a NaN in the n rows of W_hh."""
    gen = generator(seed)
    H = w_hh.shape[1]
    with torch.no_grad():
        w_hh[int(torch.randint(H, (1,), generator=gen)), 3] = float("inf")
        w_hh[2 * H + int(torch.randint(H, (1,), generator=gen)), 0] = float("nan")


def _same_non_finite(actual, expected, what):
    """Non-finite in the same places; elsewhere within tolerance."""
    bad_a, bad_e = ~torch.isfinite(actual), ~torch.isfinite(expected)
    assert bad_e.any(), f"{what}: the reference has no non-finite element (test setup)"
    assert torch.equal(bad_a, bad_e), f"{what}: infinite/NaN elements differ from the reference"
    assert_close(actual[~bad_a], expected[~bad_e], actual.dtype, what)


@pytest.mark.parametrize(("T", "B"), [(1, 1), (1, 40), (2, 3)])
@pytest.mark.parametrize("reset_after", [True, False])
def test_non_finite_w_hh_propagates_from_a_zero_state(reset_after, T, B):
    H = 16
    x, _, w_ih, w_hh, b_ih, b_hh = gru_inputs(T, B, 3, H, seed=T + B, dtype=F64)
    _poison(w_hh, T + B)
    h0 = torch.zeros(B, H, dtype=F64)
    args = (x, h0, w_ih, w_hh, b_ih, b_hh)
    with torch.no_grad():
        want, want_h = reference.gru(*args, reset_after=reset_after)
        got, got_h = cpu.gru(*args, reset_after=reset_after)
    _same_non_finite(got, want, "out")
    _same_non_finite(got_h, want_h, "h_n")
    out, _ = cpu.gru(*args, reset_after=reset_after)  # the training forward
    _same_non_finite(out.detach(), want, "out (training)")


@pytest.mark.parametrize("B", [1, 3, 40])
@pytest.mark.parametrize("reset_after", [True, False])
def test_module_with_non_finite_w_hh_from_a_zero_state(reset_after, B):
    torch.manual_seed(B)
    kw = {"batch_first": True, "reset_after": reset_after}
    fast, ref = gnn.GRU(4, 16, backend="cpu", **kw), gnn.GRU(4, 16, backend="reference", **kw)
    _poison(fast.weight_hh_l0, B)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(B, 1, 4)
    with torch.no_grad():
        (o1, _), (o2, _) = fast(x), ref(x)
    _same_non_finite(o1, o2, "out")


@pytest.mark.parametrize("route", ["bound_call", "rows"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_module_sees_w_hh_become_non_finite_and_finite_again(reset_after, route, monkeypatch):
    # The module's plan keeps whether W_hh is all finite (`kernels.refresh`, remade with the packed
    # copy when W_hh's bits change): one row whose W_hh is beyond L1 then starts from a zero state
    # without the product. In-place edits that plant an inf/NaN, and remove it, must be seen.
    monkeypatch.setattr(cpu.infer, "_short_pays", lambda *a: False)
    monkeypatch.setattr(cpu.infer, "_bound_pays", lambda *a: route == "bound_call")
    torch.manual_seed(7)
    kw = {"batch_first": True, "reset_after": reset_after}
    fast, ref = gnn.GRU(4, 96, backend="cpu", **kw), gnn.GRU(4, 96, backend="reference", **kw)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(1, 5, 4)
    with torch.no_grad():
        assert_close(fast(x)[0], ref(x)[0], torch.float32, "finite")
        saved = fast.weight_hh_l0.clone()
        _poison(fast.weight_hh_l0, 1)  # in place
        ref.load_state_dict(fast.state_dict())
        _same_non_finite(fast(x)[0], ref(x)[0], "poisoned in place")
        fast.weight_hh_l0.copy_(saved)  # finite again, in place
        ref.load_state_dict(fast.state_dict())
        got = fast(x)[0]
        assert torch.isfinite(got).all()
        assert_close(got, ref(x)[0], torch.float32, "finite again")


@pytest.mark.parametrize("B", [1, 40])  # the one-call small path and the large one
@pytest.mark.parametrize("reset_after", [True, False])
def test_non_finite_gradient_reaches_w_hh_from_a_zero_state(reset_after, B):
    """dW_hh = d_gh^T h_prev is 0 at a zero state only while d_gh is finite."""
    x, _, w_ih, w_hh, b_ih, b_hh = gru_inputs(1, B, 3, 8, seed=B, dtype=F64)
    h0 = torch.zeros(B, 8, dtype=F64)
    grads = []
    for fn in (cpu.gru, reference.gru):
        out, _ = fn(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after=reset_after)
        dout = torch.zeros_like(out)
        dout[0, 0, 2] = float("inf")
        grads.append(torch.autograd.grad(out, (w_ih, w_hh, b_hh), dout))
    for name, a, b in zip(("w_ih", "w_hh", "b_hh"), *grads, strict=True):
        _same_non_finite(a, b, f"grad {name}")
