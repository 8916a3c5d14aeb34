"""Launch functions of the CPU GRU kernels and their `torch.autograd.Function`.

Legend:  T: time steps  B: batch  I: input features  H: hidden units

What runs where, per call:
  torch   gi = x @ W_ih^T + b_ih for all steps: one GEMM (T*B, I) x (I, 3H)
  numba   the recurrence: per step (B, H) x (H, 3H) and the gates; saves r, z, n, a, h_prev
  numba   BPTT: d_gi (T, B, 3H), d_gh (T, B, 3H) and dh0
  torch   dW_ih = d_gi^T x, dW_hh = d_gh^T h_prev, dx = d_gi W_ih, biases: one GEMM/sum each
For calls of a few rows (`small_pays`; the article trains at T = B = 1) the same products run
inside the numba call instead: there torch's per-call cost (~2-5 us an op) is the whole bill.

Double backward (``create_graph=True``) re-runs the reference recurrence on the saved inputs
under autograd and differentiates it, so second derivatives are exact, only slower.

Tensors and numpy arrays share memory (`Tensor.numpy()`): nothing is copied between torch and
the kernels. Outputs are allocated through `runtime.empty` (tests poison it with NaN).
"""

from __future__ import annotations

import numpy as np
import torch

from grunet.ops import reference
from grunet.ops.cpu import kernels as K
from grunet.ops.cpu import pool as P
from grunet.ops.cpu import runtime as R

# Up to this many rows (T * B) and multiply-adds of the parameter gradients (rows * 3H * (I + H)),
# the input projection (forward) and the parameter gradients (backward) are computed inside the
# numba call (`small_pays`).
SMALL_ROWS = 32
SMALL_MACS = 1 << 20
NO_MASK = np.empty((0, 0), np.bool_)

_zeros_cache: dict[tuple, np.ndarray] = {}


def zeros(n: int, dtype: torch.dtype) -> np.ndarray:
    """A shared, read-only-by-convention zero vector (n,): the bias of a layer without one."""
    z = _zeros_cache.get((n, dtype))
    if z is None:
        z = _zeros_cache[(n, dtype)] = torch.zeros(n, dtype=dtype).numpy()
    return z


def np_(t: torch.Tensor) -> np.ndarray:
    """A contiguous CPU tensor as numpy: a view, never a copy."""
    return t.detach().numpy()


def small_pays(T: int, B: int, I: int, H: int) -> bool:  # noqa: E741
    """Whether a training call computes its projection and parameter gradients inside the numba
    calls (`kernels.fwd_small`, `kernels.bwd_small`) rather than with torch. Measured side by side
    (one thread, forward + backward, I = 8; ratios small / torch route): 0.80-0.92 up to 32 rows
    at <= 442 k multiply-adds (B x T x H: 16x1x32, 32x1x32, 32x1x64, 4x4x64, 4x8x32, 2x1x256,
    4x1x256), about 1.0 from there to 3.2 M (32x1x128, 16x1x256, 1x32x64, 1x16x128), 1.04-1.19
    beyond (128x1x32, 128x1x64, 8x4x128): each torch op costs microseconds, the numba loops
    per multiply-add more than a GEMM."""
    rows = T * B
    return rows <= SMALL_ROWS and rows * 3 * H * (I + H) <= SMALL_MACS


def transpose_pays(T: int, B: int, H: int) -> bool:
    """Whether the training forward hands the kernel W_hh packed (`kernels.pack`, see
    `kernels.fwd_rows`).

    The packed layout feeds the register-blocked micro-kernel (`kernels.panel_fma4`): 1.5-3x
    faster per step than dot products on W_hh's own layout from two rows on, 1.0-1.35x for one
    row (measured: B=1, T=24-512, H=64-256). Inference keeps the packed copy between calls
    (`infer.Plan`; remade when W_hh's bits change); training packs per call (~1-2 ns a weight; a
    cache keyed on the tensor's version would miss in-place edits through `.data`, which
    gradcheck makes), so there it must be spread over enough rows.
    """
    if B == 1:
        return H <= 64 and T >= 16
    return T * B >= 16 and (H <= 128 or T * B >= 48)


def forward(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, training, mask):
    """Input GEMM + forward kernel. Returns out (T, B, H), h_n (B, H), saved (T, B, 5H) | None.

    mask: (T, B) bool numpy array, or `NO_MASK`.
    """
    T, B, _ = x.shape
    H = h0.shape[1]
    dtype = x.dtype
    out = R.empty((T, B, H), dtype)
    h_n = R.empty((B, H), dtype)
    saved = P.empty_internal((T, B, 5 * H), dtype) if training else None
    b = zeros(3 * H, dtype) if b_hh is None else np_(b_hh.contiguous())
    h0_np = np_(h0.contiguous())
    # From a zero state the first step has no recurrent product (`kernels.fwd_rows`).
    transposed = transpose_pays(T - 1 if K.zero_rows(h0_np, B) else T, B, H)
    serial = R.TorchSerial(R.threads(T, B, H) > 1)
    w = R.packed(np_(w_hh.contiguous())) if transposed else np_(w_hh.contiguous())
    out_np = out.numpy()
    tail = (
        h0_np,
        w,
        transposed,
        b,
        out_np,
        h_n.numpy(),
        saved.numpy() if training else out_np,
        reset_after,
        reverse,
        training,
        mask,
    )
    if small_pays(T, B, x.shape[2], H):  # projection in the kernel call: one call, not three
        b_i = zeros(3 * H, dtype) if b_ih is None else np_(b_ih.contiguous())
        R.launch(K.fwd_small, dtype, np_(x.contiguous()), np_(w_ih.contiguous()), b_i, *tail)
        return out, h_n, saved
    gi = P.empty_internal((T, B, 3 * H), dtype)
    with serial:
        x2, w_t, g2 = x.detach().reshape(T * B, -1), w_ih.detach().t(), gi.view(T * B, 3 * H)
        if b_ih is None:
            torch.mm(x2, w_t, out=g2)
        else:
            torch.addmm(b_ih.detach(), x2, w_t, out=g2)
    R.rows(K.fwd_rows, dtype, T, B, H, (gi.numpy(), *tail, -1))  # -1: W_hh's finiteness unknown
    return out, h_n, saved


def _backward_recurrence(saved, w_hh, dout, dh_n, reset_after, reverse, mask, need_dh0):
    """Backward kernel. Returns d_gi (T, B, 3H), d_gh (T, B, 3H) (= d_gi if not reset_after), dh0
    (not computed unless `need_dh0`)."""
    T, B, H5 = saved.shape
    H = H5 // 5
    dtype = saved.dtype
    d_gi = P.empty_internal((T, B, 3 * H), dtype)
    d_gh = P.empty_internal((T, B, 3 * H), dtype) if reset_after else d_gi
    with R.TorchSerial(R.threads(T, B, H) > 1):
        dh = dh_n.clone(memory_format=torch.contiguous_format)  # carry: d h_n in, d h0 out
        args = (
            saved.numpy(),
            np_(w_hh.contiguous()),
            np_(dout.contiguous()),
            dh.numpy(),
            d_gi.numpy(),
            d_gh.numpy(),
            reset_after,
            reverse,
            mask,
            need_dh0,
        )
    R.rows(K.bwd_rows, dtype, T, B, H, args)
    return d_gi, d_gh, dh


def _backward_large(saved, x, w_ih, w_hh, dout, dh_n, reset_after, reverse, mask, needs):
    """Backward kernel, then each parameter gradient as one GEMM / sum over all T * B rows.

    When the kernels run threaded, the GEMMs run single-threaded on two threads of ours
    (`TorchSerial`): torch's own OpenMP workers would otherwise spin on, after the last GEMM,
    into the next forward's threaded kernel and halve its speed (measured).
    """
    need_x, need_h0, need_wih, need_whh, need_bih, need_bhh = needs
    T, B, I = x.shape  # noqa: E741
    H = w_hh.shape[1]
    d_gi, d_gh, dh0 = _backward_recurrence(
        saved, w_hh, dout, dh_n, reset_after, reverse, mask, need_h0
    )
    g_i = d_gi.view(T * B, 3 * H)
    g_h = d_gh.view(T * B, 3 * H)
    flat = saved.view(T * B, 5 * H)
    h_prev = flat[:, 4 * H :]  # (T*B, H) strided view: BLAS reads it in place

    def input_side():
        dx = torch.mm(g_i, w_ih).view(T, B, I) if need_x else None
        dw_ih = torch.mm(g_i.t(), x.reshape(T * B, I)) if need_wih else None
        db_ih = g_i.sum(0) if (need_bih or (need_bhh and not reset_after)) else None
        return dx, dw_ih, db_ih

    def recurrent_side():
        if not need_whh:
            return None
        rows = _dw_hh_rows(saved, d_gh, reverse)
        g, hp = g_h[rows], h_prev[rows]
        if reset_after:
            return torch.mm(g.t(), hp)
        dw_hh = torch.empty((3 * H, H), dtype=x.dtype)
        torch.mm(g[:, : 2 * H].t(), hp, out=dw_hh[: 2 * H])
        torch.mm(g[:, 2 * H :].t(), flat[rows, 3 * H : 4 * H], out=dw_hh[2 * H :])
        return dw_hh

    if R.threads(T, B, H) > 1:
        with R.TorchSerial(True):
            future = R.get_pool(1).submit(input_side)
            dw_hh = recurrent_side()
            dx, dw_ih, db_ih = future.result()
    else:
        dx, dw_ih, db_ih = input_side()
        dw_hh = recurrent_side()
    db_hh = None
    if need_bhh:  # for reset_after=False the recurrent pre-activation gradient is d_gi
        db_hh = g_h.sum(0) if reset_after else db_ih.clone()
    return dx, dh0, dw_ih, dw_hh, db_ih, db_hh


def _dw_hh_rows(saved, d_gh, reverse: bool) -> slice:
    """The rows (of T * B) whose terms dW_hh = d_gh^T h_prev sums: all but the first step's when
    that step started from a zero state (h_prev, and r * h_prev, are 0: at T = 1 no GEMM is left)
    and its d_gh is finite (0 times an infinite or NaN value is NaN)."""
    T, B, H5 = saved.shape
    first = T - 1 if reverse else 0
    if K.zero_rows(saved.numpy()[first], B, 4 * H5 // 5) and K.finite(d_gh.numpy()[first].ravel()):
        return slice(0, (T - 1) * B) if reverse else slice(B, T * B)
    return slice(0, T * B)


def _backward_small(saved, x, w_ih, w_hh, dout, dh_n, reset_after, reverse, mask, need_dh0):
    """Backward and every gradient in one numba call (a few rows: torch calls cost more)."""
    T, B, I = x.shape  # noqa: E741
    H = w_hh.shape[1]
    dtype = x.dtype
    dh0 = dh_n.clone(memory_format=torch.contiguous_format)
    d_gi = R.empty((T, B, 3 * H), dtype)
    d_gh = R.empty((T, B, 3 * H), dtype) if reset_after else d_gi
    dx, dw_ih, dw_hh = (
        R.empty((T, B, I), dtype),
        R.empty((3 * H, I), dtype),
        R.empty((3 * H, H), dtype),
    )
    db_ih, db_hh = R.empty((3 * H,), dtype), R.empty((3 * H,), dtype)
    R.launch(
        K.bwd_small,
        dtype,
        saved.numpy(),
        np_(w_hh.contiguous()),
        np_(dout.contiguous()),
        dh0.numpy(),
        d_gi.numpy(),
        d_gh.numpy(),
        reset_after,
        reverse,
        mask,
        np_(x.contiguous()),
        np_(w_ih.contiguous()),
        dx.numpy(),
        dw_ih.numpy(),
        dw_hh.numpy(),
        db_ih.numpy(),
        db_hh.numpy(),
        need_dh0,
    )
    return dx, dh0, dw_ih, dw_hh, db_ih, db_hh


def reference_gru(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, step_mask):
    """The reference recurrence, with the per-step mask applied as a plain loop when given."""
    if step_mask is None:
        return reference.gru(
            x, h0, w_ih, w_hh, b_ih, b_hh, reset_after=reset_after, reverse=reverse
        )
    T = x.shape[0]
    outs: list = [None] * T
    h = h0
    for t in range(T - 1, -1, -1) if reverse else range(T):
        _, h_new = reference.gru(x[t : t + 1], h, w_ih, w_hh, b_ih, b_hh, reset_after=reset_after)
        h = torch.where(step_mask[t].unsqueeze(1), h_new, h)  # (B, 1) broadcast over H
        outs[t] = h
    return torch.stack(outs), h


class GRUFunction(torch.autograd.Function):
    """out, h_n = GRU(x, h0, w_ih, w_hh, b_ih, b_hh) with the numba kernels both ways."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, step_mask):
        mask = NO_MASK if step_mask is None else step_mask.contiguous().numpy()
        out, h_n, saved = forward(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, True, mask)
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh, saved, step_mask)
        ctx.reset_after = reset_after
        ctx.reverse = reverse
        return out, h_n

    @staticmethod
    def backward(ctx, dout, dh_n):
        x, h0, w_ih, w_hh, b_ih, b_hh, saved, step_mask = ctx.saved_tensors
        needs = ctx.needs_input_grad[:6]
        if torch.is_grad_enabled():  # create_graph=True: differentiate the reference instead
            grads = _reference_grads(ctx, (x, h0, w_ih, w_hh, b_ih, b_hh), step_mask, dout, dh_n)
            return (*grads, None, None, None)
        mask = NO_MASK if step_mask is None else step_mask.numpy()
        T, B, _ = x.shape
        if small_pays(T, B, x.shape[2], w_hh.shape[1]):
            grads = _backward_small(
                saved, x, w_ih, w_hh, dout, dh_n, ctx.reset_after, ctx.reverse, mask, needs[1]
            )
        else:
            grads = _backward_large(
                saved, x, w_ih, w_hh, dout, dh_n, ctx.reset_after, ctx.reverse, mask, needs
            )
        return (*(g if n else None for g, n in zip(grads, needs, strict=True)), None, None, None)


def _reference_grads(ctx, inputs, step_mask, dout, dh_n) -> list:
    """Gradients of the reference recurrence at `inputs`, with a graph (for double backward)."""
    needs = ctx.needs_input_grad[:6]
    out, h_n = reference_gru(*inputs, ctx.reset_after, ctx.reverse, step_mask)
    wrt = [t for t, n in zip(inputs, needs, strict=True) if n]
    found = iter(
        torch.autograd.grad((out, h_n), wrt, (dout, dh_n), create_graph=True, allow_unused=True)
    )
    return [next(found) if n else None for n in needs]
