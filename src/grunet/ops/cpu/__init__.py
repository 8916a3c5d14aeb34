"""CPU GRU backend: fused numba kernels for the recurrence, forward and backward (BPTT).

Legend:  T: time steps  B: batch  I: input features  H: hidden units

Modules, one job each:
  kernels    the numba kernels (forward recurrence, backward recurrence, one streaming step)
  runtime    launching them: first-call compile notice, threads over batch rows, torch threads
  pool       a training call's large buffers: huge-page mappings kept for the next call
  autograd   launch functions and the `torch.autograd.Function` (double backward included)
  infer      the pre-bound inference path ``grunet.nn.GRU`` takes when autograd records nothing
  train      the short path of a ``grunet.nn.GRU`` call that autograd records (to GRUFunction)
  step       streaming: `gru_step`, `GRUStepper`
  stream_kernels  the one-call kernels of the shortest calls (addresses in one table)
  split_kernels   one row's recurrence split over threads by hidden units
Here: the public `gru`, registered as backend "cpu".
"""

from __future__ import annotations

import torch

from grunet.ops.cpu import kernels, pool, runtime
from grunet.ops.cpu.autograd import NO_MASK, GRUFunction, forward
from grunet.ops.cpu.infer import module_forward
from grunet.ops.cpu.step import GRUStepper, gru_step
from grunet.ops.cpu.train import module_train_forward
from grunet.ops.registry import Call, register

_DTYPES = (torch.float32, torch.float64)


def why_not(call: Call) -> str | None:
    """None when this backend runs `call`; else why not (per-step masks are supported)."""
    if call.device != "cpu":
        return f"the cpu backend needs CPU tensors, got a {call.device} tensor."
    if call.dtype not in _DTYPES:
        return f"the cpu backend runs float32 and float64, got {call.dtype}."
    if not call.default_activations:
        return "the cpu backend runs only the default activations (tanh, sigmoid)."
    if call.recurrent_mask:
        return "the cpu backend does not support recurrent dropout (use backend='reference')."
    return None


def _check(x, h0, w_ih, w_hh, b_ih, b_hh, step_mask) -> None:
    dt = x.dtype
    if not (h0.dtype is dt and w_ih.dtype is dt and w_hh.dtype is dt) or any(
        b is not None and b.dtype is not dt for b in (b_ih, b_hh)
    ):
        raise TypeError(
            "grunet cpu gru: x, h0 and all weights must share one dtype; got "
            f"x {x.dtype}, h0 {h0.dtype}, w_ih {w_ih.dtype}, w_hh {w_hh.dtype}."
        )
    if step_mask is not None and (
        step_mask.dtype is not torch.bool or tuple(step_mask.shape) != tuple(x.shape[:2])
    ):
        raise ValueError(
            f"grunet cpu gru: step_mask must be a bool tensor of shape (T, B) = "
            f"{tuple(x.shape[:2])}, got {step_mask.dtype} {tuple(step_mask.shape)}; build it "
            "with e.g. `lengths[None, :] > torch.arange(T)[:, None]`."
        )


@register("gru", "cpu", priority=30, why_not=why_not, supports={"step_mask"})
def gru(
    x: torch.Tensor,
    h0: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None = None,
    b_hh: torch.Tensor | None = None,
    *,
    reset_after: bool = True,
    reverse: bool = False,
    step_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One GRU layer in one direction on CPU with fused numba kernels (same contract as reference).

    Args:
        x: (T, B, I) inputs, time-major (any strides).
        h0: (B, H) initial state.
        w_ih: (3H, I) and w_hh: (3H, H), rows (r, z, n).
        b_ih, b_hh: (3H,) or None.
        reset_after: True: n = tanh(W_in x + b_in + r * (W_hn h + b_hn));
            False: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn).
        reverse: run t = T-1 .. 0; outputs stay in input time order.
        step_mask: (T, B) bool in the time order of x, or None. Where False, the state is
            carried unchanged (h_t = h_{t-1}) and out[t] is that carried state.

    Returns:
        out (T, B, H) and h_n (B, H); differentiable w.r.t. every tensor argument (twice:
        double backward differentiates the reference recurrence).

    Examples:
        >>> import torch
        >>> from grunet.ops import cpu
        >>> x, h0 = torch.randn(5, 2, 3), torch.zeros(2, 4)
        >>> w_ih, w_hh = torch.randn(12, 3), torch.randn(12, 4)
        >>> out, h_n = cpu.gru(x, h0, w_ih, w_hh, reset_after=False)
        >>> tuple(out.shape), torch.equal(out[-1], h_n)
        ((5, 2, 4), True)
    """
    _check(x, h0, w_ih, w_hh, b_ih, b_hh, step_mask)
    reset_after, reverse = bool(reset_after), bool(reverse)
    if torch.is_grad_enabled() and (
        x.requires_grad
        or h0.requires_grad
        or w_ih.requires_grad
        or w_hh.requires_grad
        or (b_ih is not None and b_ih.requires_grad)
        or (b_hh is not None and b_hh.requires_grad)
    ):
        return GRUFunction.apply(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, step_mask)
    mask = NO_MASK if step_mask is None else step_mask.contiguous().numpy()
    out, h_n, _ = forward(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, False, mask)
    return out, h_n


__all__ = [
    "GRUStepper",
    "gru",
    "gru_step",
    "kernels",
    "module_forward",
    "module_train_forward",
    "pool",
    "runtime",
    "why_not",
]
