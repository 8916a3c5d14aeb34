"""A whole training epoch of GRU -> Dense -> MSE with Adam, in one numba call.

Legend:  N: samples  B: batch  T: time  I: input features  H: hidden units  O: outputs

At the article's sizes (B=1, T=1, H=50) a training step costs a few microseconds of arithmetic but
~100 us of per-op dispatch when written as torch ops (forward, autograd, optimizer). This kernel
runs every step of an epoch without leaving numba: the GRU recurrence and its BPTT are the CPU
backend's own kernels (`grunet.ops.cpu.kernels.fwd_rows`, `bwd_rows`), around them only the small products of a step:
the input projection, the Dense layer, the MSE gradient, the weight gradients and Adam's update,
written exactly as torch's foreach Adam computes it (lerp for the first moment, addcmul for the
second, bias corrections in float64).

Parameters are updated in place (numpy views of the torch parameters and of the optimizer's state).
Absent parameters (no bias) are zero-length arrays with their `has_*` flag False.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from grunet.ops.cpu.kernels import FASTMATH, bwd_rows, fwd_rows


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _adam(p, g, m, v, lr_t, beta1, beta2, eps, bc2_sqrt):
    """torch's foreach Adam for one parameter: m.lerp_(g, 1-b1); v = v*b2 + (1-b2) g^2;
    p -= lr_t * m / (sqrt(v) / sqrt(bc2) + eps), with lr_t = lr / bc1."""
    pf, gf, mf, vf = p.ravel(), g.ravel(), m.ravel(), v.ravel()
    w1 = 1.0 - beta1
    w2 = 1.0 - beta2
    for j in range(pf.size):
        gj = gf[j]
        mf[j] = mf[j] + w1 * (gj - mf[j])
        vf[j] = vf[j] * beta2 + w2 * gj * gj
        pf[j] = pf[j] - lr_t * mf[j] / (np.sqrt(vf[j]) / bc2_sqrt + eps)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def train_epoch(
    X,
    Y,
    batch_size,
    w_ih,
    w_hh,
    b_ih,
    b_hh,
    kd,
    bd,
    m_ih,
    v_ih,
    m_hh,
    v_hh,
    m_bih,
    v_bih,
    m_bhh,
    v_bhh,
    m_kd,
    v_kd,
    m_bd,
    v_bd,
    step,
    lr,
    beta1,
    beta2,
    eps,
    reset_after,
    loss_out,
):
    """Run every step of one epoch over X (N, T, I), Y (N, O) in order (shuffle beforehand).

    Weights in torch layout: w_ih (3H, I), w_hh (3H, H), b_ih/b_hh (3H,) or (0,); Dense in Keras
    layout: kd (H, O), bd (O,) or (0,). m_*/v_*: Adam moments shaped like their parameter.
    step: Adam steps taken before this epoch.

    Writes loss_out[0]: the sum over batches of (batch MSE * batch size).
    """
    N, T, I = X.shape
    H = w_hh.shape[1]
    O = kd.shape[1]
    H2, H3 = 2 * H, 3 * H
    dt = X.dtype
    has_bih, has_bhh, has_bd = b_ih.size > 0, b_hh.size > 0, bd.size > 0
    b_hh_full = np.zeros(H3, dt)  # the recurrent kernels want a bias; zero when absent
    g_ih, g_hh = np.empty_like(w_ih), np.empty_like(w_hh)
    g_bih, g_bhh = np.empty_like(b_ih), np.empty_like(b_hh)
    g_kd, g_bd = np.empty_like(kd), np.empty_like(bd)
    nomask = np.empty((0, 0), np.bool_)
    total = 0.0
    for a in range(0, N, batch_size):
        B = min(batch_size, N - a)
        if has_bhh:
            b_hh_full[:] = b_hh
        gi = np.empty((T, B, H3), dt)  # input projection incl. b_ih
        for t in range(T):
            for i in range(B):
                row = gi[t, i, :]
                if has_bih:
                    row[:] = b_ih
                else:
                    row[:] = 0.0
                for k in range(I):
                    xv = X[a + i, t, k]
                    for j in range(H3):
                        row[j] += xv * w_ih[j, k]
        h0 = np.zeros((B, H), dt)
        out = np.empty((T, B, H), dt)
        h_n = np.empty((B, H), dt)
        saved = np.empty((T, B, 5 * H), dt)
        fwd_rows(
            0, B, gi, h0, w_hh, False, b_hh_full, out, h_n, saved, reset_after, False, True, nomask,
            -1,
        )  # fmt: skip

        # Dense + MSE: y = h_n kd + bd, loss = mean((y - Y)^2) over B * O
        dh = np.zeros((B, H), dt)
        g_kd[:] = 0.0
        if has_bd:
            g_bd[:] = 0.0
        scale = 2.0 / (B * O)
        batch_loss = 0.0
        for i in range(B):
            for o in range(O):
                y = bd[o] if has_bd else dt.type(0)
                for j in range(H):
                    y += h_n[i, j] * kd[j, o]
                diff = y - Y[a + i, o]
                batch_loss += diff * diff
                dy = diff * scale
                for j in range(H):
                    g_kd[j, o] += h_n[i, j] * dy
                    dh[i, j] += dy * kd[j, o]
                if has_bd:
                    g_bd[o] += dy
        total += batch_loss / (B * O) * B

        dout = np.zeros((T, B, H), dt)
        d_gi = np.empty((T, B, H3), dt)
        d_gh = np.empty((T, B, H3), dt) if reset_after else d_gi
        bwd_rows(0, B, saved, w_hh, dout, dh, d_gi, d_gh, reset_after, False, nomask, False)

        # Weight gradients over all steps and rows of the batch.
        g_ih[:] = 0.0
        g_hh[:] = 0.0
        if has_bih:
            g_bih[:] = 0.0
        if has_bhh:
            g_bhh[:] = 0.0
        for t in range(T):
            for i in range(B):
                dgi, dgh, sv = d_gi[t, i, :], d_gh[t, i, :], saved[t, i, :]
                for k in range(I):
                    xv = X[a + i, t, k]
                    for j in range(H3):
                        g_ih[j, k] += dgi[j] * xv
                if has_bih:
                    g_bih += dgi
                if has_bhh:
                    g_bhh += dgh
                for j in range(H3):
                    # reset_after=False: the candidate's recurrent input is r * h_prev (saved a)
                    src = sv[4 * H :] if (reset_after or j < H2) else sv[3 * H : 4 * H]
                    d = dgh[j]
                    gr = g_hh[j, :]
                    for k in range(H):
                        gr[k] += d * src[k]

        step += 1
        bc1 = 1.0 - beta1**step
        bc2_sqrt = np.sqrt(1.0 - beta2**step)
        lr_t = lr / bc1
        _adam(w_ih, g_ih, m_ih, v_ih, lr_t, beta1, beta2, eps, bc2_sqrt)
        _adam(w_hh, g_hh, m_hh, v_hh, lr_t, beta1, beta2, eps, bc2_sqrt)
        if has_bih:
            _adam(b_ih, g_bih, m_bih, v_bih, lr_t, beta1, beta2, eps, bc2_sqrt)
        if has_bhh:
            _adam(b_hh, g_bhh, m_bhh, v_bhh, lr_t, beta1, beta2, eps, bc2_sqrt)
        _adam(kd, g_kd, m_kd, v_kd, lr_t, beta1, beta2, eps, bc2_sqrt)
        if has_bd:
            _adam(bd, g_bd, m_bd, v_bd, lr_t, beta1, beta2, eps, bc2_sqrt)
    loss_out[0] = total
