"""Shared test helpers: per-dtype tolerances and fresh random inputs for the recurrences.

Importable as ``helpers`` from any test: pytest puts ``tests/`` on sys.path to load
``tests/conftest.py``. Device-agnostic so the CPU and GPU kernel tests share it.

Legend:  T: time steps  B: batch  I: input features  H: hidden units
"""

from __future__ import annotations

import torch

# (rtol, atol) per dtype: a fused kernel vs the reference differ by summation order and FMA
# contraction, so errors grow with H and T a little; these hold for T <= 100, H <= 256.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-9, 1e-10),
    torch.float32: (1e-4, 2e-5),
    torch.bfloat16: (2e-2, 2e-2),
    torch.float16: (2e-3, 1e-3),
}


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    """``{"rtol": ..., "atol": ...}`` for comparing kernels against the reference in `dtype`."""
    rtol, atol = TOLERANCES[dtype]
    return {"rtol": rtol, "atol": atol}


def assert_close(actual, expected, dtype: torch.dtype | None = None, msg: str = "") -> None:
    """torch.testing.assert_close with grunet's per-dtype tolerances (dtype of `expected` by default).

    Compares on CPU in the expected tensor's dtype; NaN never equals anything (an output a kernel
    left unwritten in a NaN-poisoned buffer fails here).
    """
    dtype = dtype or expected.dtype
    torch.testing.assert_close(
        actual.detach().cpu().to(expected.dtype),
        expected.detach().cpu(),
        equal_nan=False,
        msg=(lambda m: f"{msg}: {m}") if msg else None,
        **tolerance(dtype),
    )


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
