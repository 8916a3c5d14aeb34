"""Shared test helpers: the one tolerance rule, fresh random inputs, a seasonal test series.

Importable as ``helpers`` from any test: pytest puts ``tests/`` on sys.path to load
``tests/conftest.py``. Device-agnostic so the CPU and GPU kernel tests share it.

Legend:  T: time steps  B: batch  I: input features  H: hidden units
"""

from __future__ import annotations

import numpy as np
import torch

# The one tolerance rule of the test suite (every kernel-vs-reference comparison uses it):
#
#     max |actual - expected|  <=  TOLERANCES[dtype] * max(1, max |expected|)
#
# A fused kernel and the reference differ by summation order and FMA contraction, and the error of a
# sum is proportional to the size of its terms, not of its result: an elementwise relative test
# fails on gradients that cancel to near zero, so the error is measured against the tensor's scale
# (at least 1, so small outputs are held to the absolute bound). `dtype` is the precision the
# kernel computed in; these hold for T <= 100, H <= 256 and float64 references.
TOLERANCES: dict[torch.dtype, float] = {
    torch.float64: 1e-10,
    torch.float32: 2e-5,
    torch.float16: 5e-3,
    torch.bfloat16: 4e-2,
}


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """``max |actual - expected| / max(1, max |expected|)``, computed on the CPU in float64."""
    a, e = actual.detach().cpu().double(), expected.detach().cpu().double()
    if a.shape != e.shape:
        raise AssertionError(f"shape {tuple(a.shape)}, expected {tuple(e.shape)}")
    if a.numel() == 0:
        return 0.0
    return (a - e).abs().max().item() / max(1.0, e.abs().max().item())


def assert_close(
    actual: torch.Tensor,
    expected: torch.Tensor,
    dtype: torch.dtype | None = None,
    msg: str = "",
    *,
    tol: float | None = None,
) -> None:
    """Fail unless `actual` matches `expected` within the tolerance for `dtype` (see TOLERANCES).

    `dtype` is the precision the kernel computed in (default: `actual`'s dtype); `tol` overrides the
    table for a stated reason. NaN anywhere in `actual` fails (a kernel that left an element of a
    NaN-poisoned buffer unwritten fails here), as does a shape mismatch.
    """
    tol = TOLERANCES[dtype or actual.dtype] if tol is None else tol
    where = f"{msg}: " if msg else ""
    if torch.isnan(actual).any():
        raise AssertionError(f"{where}NaN in the result")
    err = relative_error(actual, expected)
    assert err <= tol, f"{where}error {err:.2e} > {tol:.0e} (relative to max(1, max |expected|))"


def generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A seeded generator, so every test case draws its own fresh inputs."""
    return torch.Generator(device=device).manual_seed(seed)


def randn(
    *shape: int,
    seed_or_gen,
    dtype=torch.float32,
    device="cpu",
    scale: float = 1.0,
    requires_grad: bool = False,
) -> torch.Tensor:
    """Normal random tensor from a seed or a generator."""
    gen = (
        seed_or_gen if isinstance(seed_or_gen, torch.Generator) else generator(seed_or_gen, device)
    )
    t = torch.randn(shape, generator=gen, dtype=dtype, device=device) * scale
    return t.requires_grad_(requires_grad)


def gru_inputs(
    T: int,
    B: int,
    I: int,
    H: int,
    *,
    seed: int,
    dtype=torch.float32,
    device="cpu",  # noqa: E741
    b_ih: bool = True,
    b_hh: bool = True,
    requires_grad: bool = True,
    gates: int = 3,
) -> tuple:
    """Random one-layer inputs ``(x (T,B,I), h0 (B,H), w_ih (gH,I), w_hh (gH,H), b_ih, b_hh)``.

    Weights are scaled like torch's init (uniform-ish 1/sqrt(H)) so states neither vanish nor
    saturate; a missing bias is None. `gates` is 3 for GRU, 4 for LSTM, 1 for RNN.
    """
    gen = generator(seed, device)
    kw = {"seed_or_gen": gen, "dtype": dtype, "device": device, "requires_grad": requires_grad}
    s = H**-0.5
    return (
        randn(T, B, I, **kw),
        randn(B, H, scale=0.5, **kw),
        randn(gates * H, I, scale=s, **kw),
        randn(gates * H, H, scale=s, **kw),
        randn(gates * H, scale=s, **kw) if b_ih else None,
        randn(gates * H, scale=s, **kw) if b_hh else None,
    )


def nan_empty(shape, dtype, device="cpu") -> torch.Tensor:
    """Allocator that fills with NaN: swap it in for a kernel's `torch.empty` to catch gaps."""
    return torch.full(tuple(shape), float("nan"), dtype=dtype, device=device)


def seasonal(
    n: int = 96, period: int = 12, noise: float = 0.05, seed: int = 0, level: float = 10.0
):
    """A noisy sine of `period` steps around `level`: (n,) float64, seeded."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return level + np.sin(2 * np.pi * t / period) + rng.normal(0, noise, n)


def random_loss(out: torch.Tensor, h_n: torch.Tensor, seed: int) -> torch.Tensor:
    """A scalar of out and h_n with seeded random weights: every output gets its own gradient."""
    gen = generator(seed)
    w_o = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    return (out * w_o).sum() + (h_n * torch.randn(h_n.shape, generator=gen, dtype=out.dtype)).sum()


def run_with_grads(fn, leaves: list[torch.Tensor], seed: int) -> tuple:
    """``out, h_n = fn()`` and the gradients of `random_loss` with respect to `leaves`."""
    out, h_n = fn()
    return out, h_n, torch.autograd.grad(random_loss(out, h_n, seed), leaves)


def assert_same_run(got: tuple, want: tuple, dtype: torch.dtype) -> None:
    """Two `run_with_grads` results agree: out, h_n and every gradient (`assert_close`)."""
    (o1, h1, g1), (o2, h2, g2) = got, want
    assert_close(o1, o2, dtype, "out")
    assert_close(h1, h2, dtype, "h_n")
    for i, (a, b) in enumerate(zip(g1, g2, strict=True)):
        assert_close(a, b, dtype, f"grad {i}")
