"""Triton GRU backend: one persistent kernel per layer and direction, forward and backward (BPTT).

Legend:  T: time steps  B: batch  I: input features  H: hidden units
         HP: H padded to a power of two (>= 16)   BB: rows of one batch tile (BLOCK_B)
         BK: rows of one K-chunk of W_hh (BLOCK_K)

Imported only when a triton GRU actually runs (``grunet.ops.triton_backend`` registers the backend
without importing this module): CPU users never need triton.

What runs where, per call:
  torch   gi = x @ W_ih^T + b_ih for all steps: one GEMM (T*B, I) x (I, 3H)
  triton  forward: grid (cdiv(B, BB),); each program owns BB batch rows and loops over all T steps,
          state h (BB, HP) in fp32 registers; saves gates (T, B, 4H) = r, z, n, a where
          a = W_hn h_{t-1} + b_hn (reset_after) or r * h_{t-1} (not), and writes out (T, B, H)
  triton  backward: the same tiling, reverse time; writes d_gi (T, B, 3H) (gradient of the gate
          pre-activations), d_ghn (T, B, H) (reset_after only: gradient of W_hn h + b_hn) and dh0
  torch   dx = d_gi W_ih, dW_ih = d_gi^T x, dW_hh = sum_t d_gh_t^T h_{t-1} (the n rows against
          r * h_{t-1} when not reset_after), bias sums: one GEMM or reduction each, over all steps

h_{t-1} is not saved: it is ``out`` at the previous step (or h0), which the caller keeps anyway.

W_hh per step, two strategies (constexpr ``RESIDENT``):
  resident  HP <= 128 (64 below 16 rows): the three (HP, HP) gate blocks are loaded once, before
            the time loop, and stay on chip (registers / shared memory) for all T steps.
  streamed  larger H (256: 768 KB of fp32 weights, more than one SM holds). Triton has no grid-wide
            barrier, so splitting the 3H gate columns across programs (cuDNN's persistent-RNN trick)
            is not available; each program keeps its whole batch tile instead and streams W_hh
            from L2 in BK-row chunks every step, accumulating the products chunk by chunk. The
            chunked operand (h, r*h, or the gate gradients) goes through a small fp32 buffer in
            global memory (L1/L2-resident), with a CTA barrier between writing and reading it.

Products: ``tl.dot`` when the tile has >= 16 rows (exact fp32, input_precision="ieee", unless
``torch.backends.cuda.matmul.allow_tf32`` is set); below 16 rows (B <= 8) a broadcast multiply and
reduce, which wastes no work on padding rows. fp16/bf16 inputs: products read half operands and
accumulate in fp32; state, gates and gradients stay fp32 inside the kernels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from grunet.ops import reference

_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
# W_hh stays on chip when HP is at most this (tiles of >= 16 rows / of fewer rows).
_RESIDENT_MAX_H = 128
_RESIDENT_MAX_H_SMALL_B = 64
_DOT_MIN_ROWS = 16  # tl.dot needs every tile dimension >= 16
_BLOCK_K = 32


def _empty(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Allocator for every buffer a kernel writes (tests poison it with NaN)."""
    return torch.empty(shape, dtype=dtype, device=device)


# ---------------------------------------------------------------------------------------------
# Device helpers
# ---------------------------------------------------------------------------------------------


@triton.jit
def _tanh(x):
    # exp of a non-positive argument only: no overflow, and no cancellation near 0 of 2*sigmoid-1.
    e = tl.exp(-2.0 * tl.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(x >= 0, t, -t)


@triton.jit
def _mm(a, w, USE_DOT: tl.constexpr, PRECISION: tl.constexpr):
    """(BB, K) fp32 x (K, N) -> (BB, N) fp32."""
    if USE_DOT:
        if w.dtype == tl.float32:
            res = tl.dot(a, w, input_precision=PRECISION)
        else:
            res = tl.dot(a.to(w.dtype), w)
    else:
        res = tl.sum(a[:, :, None] * w.to(tl.float32)[None, :, :], axis=1)
    return res


@triton.jit
def _stream_mm(
    src,
    src_stride,
    rows,
    rmask,
    w,
    w_stride,
    H,
    HP: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_K: tl.constexpr,
    USE_DOT: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """sum_k src[rows, k] * w[k, j] for j < HP, streaming w in BK-row chunks.

    src: rows of an fp32 (B, >= H) array in global memory, row stride `src_stride`.
    w: a (H, >= H) block with row stride `w_stride`. Returns (BB, HP) fp32.
    """
    cols = tl.arange(0, HP)
    kk = tl.arange(0, BLOCK_K)
    acc = tl.zeros([BLOCK_B, HP], dtype=tl.float32)
    for k0 in range(0, HP, BLOCK_K):
        k = k0 + kk
        a = tl.load(
            src + rows[:, None] * src_stride + k[None, :],
            mask=rmask[:, None] & (k[None, :] < H),
            other=0.0,
        )  # (BB, BK)
        b = tl.load(
            w + k[:, None] * w_stride + cols[None, :],
            mask=(k[:, None] < H) & (cols[None, :] < H),
            other=0.0,
        )  # (BK, HP)
        acc += _mm(a, b, USE_DOT, PRECISION)
    return acc


@triton.jit
def _load_block(w, w_stride, H, HP: tl.constexpr):
    """The (HP, HP) zero-padded block w[k, j], k, j < H, row stride `w_stride`."""
    k = tl.arange(0, HP)
    j = tl.arange(0, HP)
    return tl.load(
        w + k[:, None] * w_stride + j[None, :], mask=(k[:, None] < H) & (j[None, :] < H), other=0.0
    )


# ---------------------------------------------------------------------------------------------
# Forward kernel
# ---------------------------------------------------------------------------------------------


@triton.jit
def _gru_fwd_kernel(
    gi,  # (T, B, 3H) input projection (b_ih included), x's dtype
    h0,  # (B, H)
    wt,  # (H, 3H) W_hh^T, contiguous
    b_hh,  # (3H,)
    out,  # (T, B, H) states, x's dtype
    h_n,  # (B, H) final state
    gates,  # (T, B, 4H) fp32: r, z, n, a (written when TRAINING)
    hbuf,  # (B, H) fp32 scratch: the state, streamed path
    rbuf,  # (B, H) fp32 scratch: r * h, streamed path, reset_after=False
    smask,  # (T, B) int8 step mask (read when MASKED): 0 carries the state over the step
    T,
    B,
    H,
    RESET_AFTER: tl.constexpr,
    REVERSE: tl.constexpr,
    TRAINING: tl.constexpr,
    MASKED: tl.constexpr,
    RESIDENT: tl.constexpr,
    USE_DOT: tl.constexpr,
    PRECISION: tl.constexpr,
    HP: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    pid = tl.program_id(0)
    rows = pid * BLOCK_B + tl.arange(0, BLOCK_B)  # (BB,)
    cols = tl.arange(0, HP)  # (HP,)
    rmask = rows < B
    cmask = cols < H
    m = rmask[:, None] & cmask[None, :]  # (BB, HP)
    H3 = 3 * H
    bh = rows[:, None] * H + cols[None, :]  # offsets into a (B, H) array
    b3 = rows[:, None] * H3 + cols[None, :]  # into a (B, 3H) array, gate r
    b4 = rows[:, None] * (4 * H) + cols[None, :]  # into a (B, 4H) array, slot r

    b_r = tl.load(b_hh + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]  # (1, HP)
    b_z = tl.load(b_hh + H + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
    b_n = tl.load(b_hh + 2 * H + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
    h = tl.load(h0 + bh, mask=m, other=0.0).to(tl.float32)  # (BB, HP), padding stays 0
    if RESIDENT:
        w_r = _load_block(wt, H3, H, HP)  # (HP, HP): W_hr^T
        w_z = _load_block(wt + H, H3, H, HP)
        w_n = _load_block(wt + 2 * H, H3, H, HP)
    else:
        tl.store(hbuf + bh, h, mask=m)
        tl.debug_barrier()

    for s in range(T):
        if REVERSE:
            tt = T - 1 - s
        else:
            tt = s
        t64 = tt.to(tl.int64)
        g_t = gi + t64 * B * H3
        x_r = tl.load(g_t + b3, mask=m, other=0.0).to(tl.float32)
        x_z = tl.load(g_t + b3 + H, mask=m, other=0.0).to(tl.float32)
        x_n = tl.load(g_t + b3 + 2 * H, mask=m, other=0.0).to(tl.float32)
        if RESIDENT:
            a_r = _mm(h, w_r, USE_DOT, PRECISION)
            a_z = _mm(h, w_z, USE_DOT, PRECISION)
        else:
            a_r = _stream_mm(
                hbuf, H, rows, rmask, wt, H3, H, HP, BLOCK_B, BLOCK_K, USE_DOT, PRECISION
            )
            a_z = _stream_mm(
                hbuf, H, rows, rmask, wt + H, H3, H, HP, BLOCK_B, BLOCK_K, USE_DOT, PRECISION
            )
        r = tl.sigmoid(x_r + a_r + b_r)
        z = tl.sigmoid(x_z + a_z + b_z)
        if RESET_AFTER:
            if RESIDENT:
                a = _mm(h, w_n, USE_DOT, PRECISION) + b_n
            else:
                a = (
                    _stream_mm(
                        hbuf,
                        H,
                        rows,
                        rmask,
                        wt + 2 * H,
                        H3,
                        H,
                        HP,
                        BLOCK_B,
                        BLOCK_K,
                        USE_DOT,
                        PRECISION,
                    )
                    + b_n
                )
            n = _tanh(x_n + r * a)
        else:
            a = r * h
            if RESIDENT:
                a_n = _mm(a, w_n, USE_DOT, PRECISION)
            else:
                tl.store(rbuf + bh, a, mask=m)
                tl.debug_barrier()
                a_n = _stream_mm(
                    rbuf,
                    H,
                    rows,
                    rmask,
                    wt + 2 * H,
                    H3,
                    H,
                    HP,
                    BLOCK_B,
                    BLOCK_K,
                    USE_DOT,
                    PRECISION,
                )
            n = _tanh(x_n + a_n + b_n)
        h_prev = h
        h = z * h_prev + (1.0 - z) * n
        if MASKED:
            keep = tl.load(smask + t64 * B + rows, mask=rmask, other=0) != 0  # (BB,)
            h = tl.where(keep[:, None], h, h_prev)
        tl.store(out + t64 * B * H + bh, h.to(out.dtype.element_ty), mask=m)
        if TRAINING:
            g4 = gates + t64 * B * (4 * H) + b4
            tl.store(g4, r, mask=m)
            tl.store(g4 + H, z, mask=m)
            tl.store(g4 + 2 * H, n, mask=m)
            tl.store(g4 + 3 * H, a, mask=m)
        if not RESIDENT:
            tl.debug_barrier()  # every thread is done reading this step's hbuf
            tl.store(hbuf + bh, h, mask=m)
            tl.debug_barrier()
    tl.store(h_n + bh, h.to(h_n.dtype.element_ty), mask=m)


# ---------------------------------------------------------------------------------------------
# Backward kernel
# ---------------------------------------------------------------------------------------------


@triton.jit
def _gru_bwd_kernel(
    gates,  # (T, B, 4H) fp32 from the forward
    out,  # (T, B, H) states from the forward (h_{t-1} of the next step)
    h0,  # (B, H)
    w,  # (3H, H) W_hh, contiguous
    dout,  # (T, B, H) gradient of out
    dh_n,  # (B, H) gradient of h_n
    d_gi,  # (T, B, 3H) fp32 out: gradient of the gate pre-activations (r, z, n)
    d_ghn,  # (T, B, H) fp32 out: gradient of W_hn h + b_hn (RESET_AFTER only)
    dh0,  # (B, H) fp32 out
    smask,  # (T, B) int8 step mask (read when MASKED)
    T,
    B,
    H,
    RESET_AFTER: tl.constexpr,
    REVERSE: tl.constexpr,
    MASKED: tl.constexpr,
    RESIDENT: tl.constexpr,
    USE_DOT: tl.constexpr,
    PRECISION: tl.constexpr,
    HP: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    pid = tl.program_id(0)
    rows = pid * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.arange(0, HP)
    rmask = rows < B
    cmask = cols < H
    m = rmask[:, None] & cmask[None, :]
    H3 = 3 * H
    bh = rows[:, None] * H + cols[None, :]
    b3 = rows[:, None] * H3 + cols[None, :]
    b4 = rows[:, None] * (4 * H) + cols[None, :]
    HH = H * H

    dh = tl.load(dh_n + bh, mask=m, other=0.0).to(tl.float32)  # (BB, HP) carry: dL/dh
    if RESIDENT:
        w_r = _load_block(w, H, H, HP)  # (HP, HP): W_hr, rows = gate outputs
        w_z = _load_block(w + HH, H, H, HP)
        w_n = _load_block(w + 2 * HH, H, H, HP)

    for s in range(T):
        sf = T - 1 - s  # forward step index, processed last to first
        if REVERSE:
            tt = T - 1 - sf
            tp = tt + 1
        else:
            tt = sf
            tp = tt - 1
        tp = tl.minimum(tl.maximum(tp, 0), T - 1)  # clamped: the load is masked when sf == 0
        t64 = tt.to(tl.int64)
        first = (bh * 0 + sf) == 0  # (BB, HP): this is the first forward step, h_prev = h0
        hp = tl.load(out + tp.to(tl.int64) * B * H + bh, mask=m & ~first, other=0.0)
        hp = hp.to(tl.float32) + tl.load(h0 + bh, mask=m & first, other=0.0).to(tl.float32)
        dh += tl.load(dout + t64 * B * H + bh, mask=m, other=0.0).to(tl.float32)
        g4 = gates + t64 * B * (4 * H) + b4
        r = tl.load(g4, mask=m, other=0.0)
        z = tl.load(g4 + H, mask=m, other=0.0)
        n = tl.load(g4 + 2 * H, mask=m, other=0.0)
        d_t = d_gi + t64 * B * H3  # this step's (B, 3H) rows of d_gi
        dh_skip = dh * 0.0
        if MASKED:  # a skipped step passes dh straight to h_prev; its gates get no gradient
            keep = tl.load(smask + t64 * B + rows, mask=rmask, other=0) != 0  # (BB,)
            dh_skip = tl.where(keep[:, None], 0.0, dh)
            dh = tl.where(keep[:, None], dh, 0.0)

        dz = dh * (hp - n)
        dhp = dh * z + dh_skip  # h = z * h_prev + (1 - z) * n
        dnp = dh * (1.0 - z) * (1.0 - n * n)  # through tanh
        dzp = dz * z * (1.0 - z)
        tl.store(d_t + b3 + 2 * H, dnp, mask=m)
        tl.store(d_t + b3 + H, dzp, mask=m)
        if RESET_AFTER:
            a = tl.load(g4 + 3 * H, mask=m, other=0.0)  # W_hn h_prev + b_hn
            dgn = dnp * r
            drp = dnp * a * r * (1.0 - r)
            tl.store(d_t + b3, drp, mask=m)
            tl.store(d_ghn + t64 * B * H + bh, dgn, mask=m)
            if RESIDENT:
                dhp += _mm(drp, w_r, USE_DOT, PRECISION)
                dhp += _mm(dzp, w_z, USE_DOT, PRECISION)
                dhp += _mm(dgn, w_n, USE_DOT, PRECISION)
            else:
                tl.debug_barrier()
                dhp += _stream_mm(
                    d_t, H3, rows, rmask, w, H, H, HP, BLOCK_B, BLOCK_K, USE_DOT, PRECISION
                )
                dhp += _stream_mm(
                    d_t + H, H3, rows, rmask, w + HH, H, H, HP, BLOCK_B, BLOCK_K, USE_DOT, PRECISION
                )
                dhp += _stream_mm(
                    d_ghn + t64 * B * H,
                    H,
                    rows,
                    rmask,
                    w + 2 * HH,
                    H,
                    H,
                    HP,
                    BLOCK_B,
                    BLOCK_K,
                    USE_DOT,
                    PRECISION,
                )
        else:
            # n = tanh(gi_n + W_hn (r * h_prev) + b_n): the gradient of r * h_prev comes first.
            if RESIDENT:
                drh = _mm(dnp, w_n, USE_DOT, PRECISION)
            else:
                tl.debug_barrier()
                drh = _stream_mm(
                    d_t + 2 * H,
                    H3,
                    rows,
                    rmask,
                    w + 2 * HH,
                    H,
                    H,
                    HP,
                    BLOCK_B,
                    BLOCK_K,
                    USE_DOT,
                    PRECISION,
                )
            dhp += drh * r
            drp = drh * hp * r * (1.0 - r)
            tl.store(d_t + b3, drp, mask=m)
            if RESIDENT:
                dhp += _mm(drp, w_r, USE_DOT, PRECISION)
                dhp += _mm(dzp, w_z, USE_DOT, PRECISION)
            else:
                tl.debug_barrier()
                dhp += _stream_mm(
                    d_t, H3, rows, rmask, w, H, H, HP, BLOCK_B, BLOCK_K, USE_DOT, PRECISION
                )
                dhp += _stream_mm(
                    d_t + H, H3, rows, rmask, w + HH, H, H, HP, BLOCK_B, BLOCK_K, USE_DOT, PRECISION
                )
        dh = dhp
    tl.store(dh0 + bh, dh, mask=m)


# ---------------------------------------------------------------------------------------------
# Launch functions
# ---------------------------------------------------------------------------------------------


def _config(B: int, H: int, dtype: torch.dtype) -> dict:
    """Tile sizes and strategy for a (B, H) recurrence (constexpr arguments of both kernels)."""
    HP = max(16, triton.next_power_of_2(H))
    BLOCK_B = _DOT_MIN_ROWS if B > _DOT_MIN_ROWS // 2 else triton.next_power_of_2(B)
    use_dot = BLOCK_B >= _DOT_MIN_ROWS
    resident = HP <= (_RESIDENT_MAX_H if use_dot else _RESIDENT_MAX_H_SMALL_B)
    tf32 = dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32
    return {
        "RESIDENT": resident,
        "USE_DOT": use_dot,
        "PRECISION": "tf32" if tf32 else "ieee",
        "HP": HP,
        "BLOCK_B": BLOCK_B,
        "BLOCK_K": min(HP, _BLOCK_K),
        "num_warps": 4 if HP <= 64 else 8,
    }


def _forward(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, training, smask=None):
    """Input GEMM + forward kernel. Returns out (T, B, H), h_n (B, H), gates (T, B, 4H) | None.

    smask: (T, B) int8 step mask or None.
    """
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dev, dt = x.device, x.dtype
    gi = F.linear(x, w_ih, b_ih).contiguous()  # (T, B, 3H)
    cfg = _config(B, H, dt)
    out = _empty((T, B, H), dt, dev)
    h_n = _empty((B, H), dt, dev)
    gates = _empty((T, B, 4 * H), torch.float32, dev) if training else None
    streamed = not cfg["RESIDENT"]
    hbuf = _empty((B, H), torch.float32, dev) if streamed else None
    rbuf = _empty((B, H), torch.float32, dev) if streamed and not reset_after else None
    b = torch.zeros(3 * H, dtype=dt, device=dev) if b_hh is None else b_hh.contiguous()
    grid = (triton.cdiv(B, cfg["BLOCK_B"]),)
    _gru_fwd_kernel[grid](
        gi,
        h0.contiguous(),
        w_hh.t().contiguous(),
        b,
        out,
        h_n,
        out if gates is None else gates,
        out if hbuf is None else hbuf,
        out if rbuf is None else rbuf,
        out if smask is None else smask,
        T,
        B,
        H,
        RESET_AFTER=reset_after,
        REVERSE=reverse,
        TRAINING=training,
        MASKED=smask is not None,
        **cfg,
    )
    return out, h_n, gates


def _backward(gates, out, h0, w_hh, dout, dh_n, reset_after, reverse, smask=None):
    """Backward kernel. Returns d_gi (T, B, 3H), d_ghn (T, B, H) | None, dh0 (B, H), all fp32."""
    T, B, H = out.shape
    dev = out.device
    cfg = _config(B, H, out.dtype)
    d_gi = _empty((T, B, 3 * H), torch.float32, dev)
    d_ghn = _empty((T, B, H), torch.float32, dev) if reset_after else None
    dh0 = _empty((B, H), torch.float32, dev)
    grid = (triton.cdiv(B, cfg["BLOCK_B"]),)
    _gru_bwd_kernel[grid](
        gates,
        out,
        h0.contiguous(),
        w_hh.contiguous(),
        dout.contiguous(),
        dh_n.contiguous(),
        d_gi,
        d_gi if d_ghn is None else d_ghn,
        dh0,
        dh0 if smask is None else smask,
        T,
        B,
        H,
        RESET_AFTER=reset_after,
        REVERSE=reverse,
        MASKED=smask is not None,
        **cfg,
    )
    return d_gi, d_ghn, dh0


def _sum_outer(d: torch.Tensor, out: torch.Tensor, h0: torch.Tensor, reverse: bool) -> torch.Tensor:
    """sum_t d_t^T h_{t-1}: d (T, B, K), h_{t-1} = out at the previous step or h0 -> (K, H).

    One GEMM over all steps but the first plus one (B-row) product for it; no (T, B, H) copy.
    """
    T, B, K = d.shape
    H = out.shape[-1]
    d_first, d_rest, h_rest = (d[-1], d[:-1], out[1:]) if reverse else (d[0], d[1:], out[:-1])
    res = d_first.t() @ h0  # (K, H)
    if T > 1:
        res = res.addmm(d_rest.reshape(-1, K).t(), h_rest.reshape(-1, H))
    return res


def _through_reference(ctx, dout, dh_n) -> tuple:
    """The backward with a graph (create_graph=True): autograd through the reference recurrence.

    The kernels' gradients carry no graph, so second derivatives (gradient penalties,
    gradgradcheck) come from differentiating the plain-torch recurrence instead: the same
    function, recomputed on the saved inputs.
    """
    x, h0, w_ih, w_hh, b_ih, b_hh, smask = ctx.saved_tensors[:7]
    inputs = (x, h0, w_ih, w_hh, b_ih, b_hh)
    wanted = [i for i, need in enumerate(ctx.needs_input_grad[:6]) if need]
    step_mask = None if smask is None else smask.bool()
    out, h_n = reference.gru(
        x,
        h0,
        w_ih,
        w_hh,
        b_ih,
        b_hh,
        reset_after=ctx.reset_after,
        reverse=ctx.reverse,
        step_mask=step_mask,
    )
    grads = torch.autograd.grad(
        (out, h_n), [inputs[i] for i in wanted], (dout, dh_n), create_graph=True, allow_unused=True
    )
    result: list = [None] * 8
    for i, g in zip(wanted, grads, strict=True):
        result[i] = torch.zeros_like(inputs[i]) if g is None else g
    return tuple(result)


class _GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, smask):
        out, h_n, gates = _forward(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, True, smask)
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh, smask, out, gates)
        ctx.reset_after = reset_after
        ctx.reverse = reverse
        return out, h_n

    @staticmethod
    def backward(ctx, dout, dh_n):
        if torch.is_grad_enabled():  # create_graph=True: second derivatives wanted
            return (*_through_reference(ctx, dout, dh_n), None)
        x, h0, w_ih, w_hh, _, _, smask, out, gates = ctx.saved_tensors
        need_x, need_h0, need_wih, need_whh, need_bih, need_bhh = ctx.needs_input_grad[:6]
        T, B, I = x.shape
        H = w_hh.shape[1]
        dt = x.dtype
        d_gi, d_ghn, dh0 = _backward(
            gates, out, h0, w_hh, dout, dh_n, ctx.reset_after, ctx.reverse, smask
        )
        g_i = d_gi.view(T * B, 3 * H).to(dt)  # (T*B, 3H); a no-op for float32
        dx = dw_ih = db_ih = dw_hh = db_hh = None
        if need_x:
            dx = torch.mm(g_i, w_ih).view(T, B, I)
        if need_wih:
            dw_ih = torch.mm(g_i.t(), x.reshape(T * B, I))
        if need_bih:
            db_ih = d_gi.sum((0, 1)).to(dt)
        # The recurrent pre-activations' gradient, rows (r, z, n) = d_gh: r and z as in d_gi.
        d_rz = d_gi[..., : 2 * H]  # (T, B, 2H) view
        d_n = d_ghn if ctx.reset_after else d_gi[..., 2 * H :]  # (T, B, H)
        if need_whh:
            h32 = (out.float(), h0.float()) if dt != torch.float32 else (out, h0)
            dw_hh = torch.empty((3 * H, H), dtype=torch.float32, device=x.device)
            dw_hh[: 2 * H] = _sum_outer(d_rz, *h32, ctx.reverse)
            if ctx.reset_after:
                dw_hh[2 * H :] = _sum_outer(d_n, *h32, ctx.reverse)
            else:  # against r * h_{t-1}, saved by the forward
                rh = gates[..., 3 * H :].reshape(T * B, H)
                dw_hh[2 * H :] = d_n.reshape(T * B, H).t() @ rh
            dw_hh = dw_hh.to(dt)
        if need_bhh:
            db_hh = torch.cat([d_rz.sum((0, 1)), d_n.sum((0, 1))]).to(dt)
        dh0 = dh0.to(h0.dtype) if need_h0 else None
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh, None, None, None


# ---------------------------------------------------------------------------------------------
# Public function
# ---------------------------------------------------------------------------------------------


def _check(x, h0, w_ih, w_hh, b_ih, b_hh, step_mask) -> None:
    tensors = {"x": x, "h0": h0, "w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh}
    given = {k: v for k, v in tensors.items() if v is not None}
    if x.dtype not in _DTYPES:
        raise TypeError(f"grunet triton gru: runs float32, float16 and bfloat16, got {x.dtype}.")
    if any(v.dtype != x.dtype for v in given.values()):
        got = ", ".join(f"{k} {v.dtype}" for k, v in given.items())
        raise TypeError(f"grunet triton gru: all tensors must share one dtype; got {got}.")
    if any(v.device != x.device for v in given.values()):
        got = ", ".join(f"{k} {v.device}" for k, v in given.items())
        raise ValueError(f"grunet triton gru: all tensors must be on one device; got {got}.")
    if x.dim() != 3 or h0.dim() != 2 or x.shape[0] == 0:
        raise ValueError(
            f"grunet triton gru: expected x (T>0, B, I) and h0 (B, H), got x {tuple(x.shape)} "
            f"and h0 {tuple(h0.shape)}."
        )
    B, H = h0.shape
    want_ih, want_hh = (3 * H, x.shape[2]), (3 * H, H)
    if x.shape[1] != B or tuple(w_ih.shape) != want_ih or tuple(w_hh.shape) != want_hh:
        raise ValueError(
            f"grunet triton gru: shapes disagree: x {tuple(x.shape)}, h0 {tuple(h0.shape)}, "
            f"w_ih {tuple(w_ih.shape)} (want {want_ih}), w_hh {tuple(w_hh.shape)} (want {want_hh})."
        )
    if step_mask is not None and (
        step_mask.dtype != torch.bool or tuple(step_mask.shape) != tuple(x.shape[:2])
    ):
        raise ValueError(
            f"grunet triton gru: step_mask must be bool (T, B) = {tuple(x.shape[:2])}, got "
            f"{step_mask.dtype} {tuple(step_mask.shape)}."
        )


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
    """One GRU layer in one direction with fused Triton kernels (same contract as reference.gru).

    Args:
        x: (T, B, I) inputs, time-major, on CUDA (or CPU under ``TRITON_INTERPRET=1``).
        h0: (B, H) initial state.
        w_ih: (3H, I) and w_hh: (3H, H), rows (r, z, n).
        b_ih, b_hh: (3H,) or None.
        reset_after: True: n = tanh(W_in x + b_in + r * (W_hn h + b_hn));
            False: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn).
        reverse: run t = T-1 .. 0; outputs stay in input time order.
        step_mask: (T, B) bool or None; where False the state is carried over the step (as in
            `grunet.ops.reference.gru`).

    Returns:
        out (T, B, H) and h_n (B, H) in x's dtype; differentiable w.r.t. every tensor argument,
        twice too (with create_graph=True the backward runs through the reference).
        ``h = z * h_prev + (1 - z) * n`` (z keeps).

    Examples (need a CUDA GPU and triton):
        >>> import torch
        >>> from grunet.ops import triton_gru  # doctest: +SKIP
        >>> cuda = {"device": "cuda"}
        >>> x, h0 = torch.randn(5, 2, 3, **cuda), torch.zeros(2, 4, **cuda)  # doctest: +SKIP
        >>> w_ih, w_hh = torch.randn(12, 3, **cuda), torch.randn(12, 4, **cuda)  # doctest: +SKIP
        >>> out, h_n = triton_gru.gru(x, h0, w_ih, w_hh, reset_after=False)  # doctest: +SKIP
        >>> tuple(out.shape), torch.equal(out[-1], h_n)  # doctest: +SKIP
        ((5, 2, 4), True)
    """
    _check(x, h0, w_ih, w_hh, b_ih, b_hh, step_mask)
    reset_after, reverse = bool(reset_after), bool(reverse)
    smask = None if step_mask is None else step_mask.to(torch.int8).contiguous()  # (T, B)
    tensors = (x, h0, w_ih, w_hh, b_ih, b_hh)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        return _GRUFunction.apply(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, smask)
    with torch.no_grad():
        out, h_n, _ = _forward(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, False, smask)
    return out, h_n


__all__ = ["gru"]
