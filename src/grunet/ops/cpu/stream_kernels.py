"""Numba kernels for the shortest calls: arrays passed as addresses in one pointer table.

Legend:  T: time steps  B: batch  I: input features  H: hidden units  O: Dense units
         L: layers  D: directions  G = 3H: gate rows (r, z, n)

numba's dispatcher checks the type of every argument of every call: ~0.1-0.2 us per array (and
per bool), which for a single step of a small layer costs more than the arithmetic. These
kernels take one int64 table of addresses (weights, states), bound once per weight version by
the caller, plus the few per-call addresses as plain ints, and rebuild the arrays inside numba
(`carray`). The recurrence is `few_rows`: row by row, weights in their own layout (so the
tables can point at the parameters themselves and in-place edits are seen), the gates through
`kernels`' vectorizable sigmoid and tanh. It is small on purpose: built on `kernels.fwd_small`
(tiles, both W_hh layouts) the callers took longer to compile (measured on a busy 2-core VM,
empty cache: model_step 17 s against 13 s, module_call 24 s against 15 s) and no less per step.

The caller owns every address: it keeps the memory alive while a table holds it, and checks
shapes, dtypes and contiguity before a call (nothing is checked here). `module_call` reads the
module's table that `kernels.bound_call` reads too (`infer.Plan`; layout `kernels.BOUND_HEAD`,
`BOUND_ROW`). numba's disk cache keys a kernel on its own file only: after changing that layout or
anything in `kernels` these kernels use, clear the cache (``src/grunet/ops/cpu/__pycache__/*.nb*``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from grunet.ops.cpu import kernels as K

_OPTS = {"cache": True, "fastmath": K.FASTMATH, "error_model": "numpy", "nogil": True}

# Model-step table: header, then per GRU layer `S_ROW` entries (see `model_step`).
S_HEAD = 2  # number of GRU layers, batch rows B the state addresses are for
S_ROW = 11  # I, H, reset_after, w_ih, w_hh, b_ih, b_hh, state, O (0: no Dense), kernel, bias


_a1, _a2, _a3 = K.at1, K.at2, K.at3  # arrays at an address


@njit(cache=True, fastmath=K.FASTMATH | {"reassoc"}, error_model="numpy", nogil=True)
def _matvec(w, r0, r1, v, bias, dst):
    """dst[j - r0] = bias[j] + w[j, :] . v  for j in [r0, r1): rows of W in its own layout.

    Four rows at a time share each load of v; reassociation (own flags) lets the dot products
    vectorize (it only reorders the sums).
    """
    K_ = v.shape[0]
    if K_ == 1:  # one input feature (the article's model): a scaled column, vectorized over rows
        wf, bf, v0 = w.reshape(w.shape[0])[r0:r1], bias[r0:r1], v[0]
        for i in range(r1 - r0):
            dst[i] = bf[i] + wf[i] * v0
        return
    zero = v.dtype.type(0)
    j = r0
    while j + 4 <= r1:
        w0, w1, w2, w3 = w[j, :K_], w[j + 1, :K_], w[j + 2, :K_], w[j + 3, :K_]
        s0, s1, s2, s3 = zero, zero, zero, zero
        for k in range(K_):
            vk = v[k]
            s0 += w0[k] * vk
            s1 += w1[k] * vk
            s2 += w2[k] * vk
            s3 += w3[k] * vk
        o = j - r0
        dst[o], dst[o + 1] = bias[j] + s0, bias[j + 1] + s1
        dst[o + 2], dst[o + 3] = bias[j + 2] + s2, bias[j + 3] + s3
        j += 4
    for i in range(j, r1):
        wr = w[i, :K_]
        s = zero
        for k in range(K_):
            s += wr[k] * v[k]
        dst[i - r0] = bias[i] + s


@njit(**_OPTS)
def few_rows(x, w_ih, b_ih, h0, w_hh, b_hh, out, h_n, reset_after, reverse):
    """One layer and direction over a few rows: x (T, B, I) -> out (T, B, H), h_n (B, H).

    The same recurrence as `kernels.fwd_small` (rows (r, z, n), both variants; out may not
    alias x), written for the shortest calls: row by row, weights in their own layout, no
    tiles, so it compiles in a few seconds and a step costs the arithmetic. h0 of zero rows
    means a zero initial state (no zeros array to allocate); its first step then skips the
    product with W_hh (0: the pre-activations are b_hh) where that pays (`kernels.skip_pays`)
    and W_hh holds no infinite or NaN weight (`kernels.fwd_rows` does the same).
    """
    T, B, _ = x.shape
    H = h_n.shape[1]
    H2 = 2 * H
    G = 3 * H
    buf = np.empty(2 * G + H, x.dtype)  # one allocation (each costs ~50 ns of a ~1 us step)
    gi = buf[:G]  # input projection of the row and step, b_ih included
    gh = buf[G : 2 * G]  # recurrent pre-activations, b_hh included
    q = buf[2 * G :]  # r * h_prev (reset_after=False)
    zero_start = h0.shape[0] == 0 and K.skip_pays(B, w_hh) and K.finite(w_hh.reshape(-1))
    if h0.shape[0] == 0:  # zero initial state
        h_n[:, :] = 0
    else:
        for b in range(B):
            h_n[b, :] = h0[b, :]
    for step in range(T):
        t = T - 1 - step if reverse else step
        for b in range(B):
            h, o = h_n[b, :], out[t, b, :]
            _matvec(w_ih, 0, G, x[t, b, :], b_ih, gi)
            product = step > 0 or not zero_start  # W_hh h_prev is 0 at a zero start
            if product:
                _matvec(w_hh, 0, G if reset_after else H2, h, b_hh, gh)
            else:
                gh[:] = b_hh
            for j in range(H2):
                gi[j] = K._sigmoid(gi[j] + gh[j])
            if not reset_after:
                for j in range(H):
                    q[j] = gi[j] * h[j]
                if product:
                    _matvec(w_hh, H2, G, q, b_hh, gh[H2:])
            for j in range(H):
                a = gh[H2 + j]
                n = K._tanh(gi[H2 + j] + (gi[j] * a if reset_after else a))
                o[j] = n + gi[H + j] * (h[j] - n)  # = z * h_prev + (1 - z) * n
            h[:] = o


@njit(**_OPTS)
def _layer(zero, tab, k, x, h0, out, h_n, Iin, H, reset_after, reverse):
    """Layer/direction `k` of a module table over x (T, B, Iin): out (T, B, H), h_n (B, H)."""
    base = K.BOUND_HEAD + K.BOUND_ROW * k  # the module's table (`infer.Plan`)
    G = 3 * H
    few_rows(
        x, _a2(tab[base], G, Iin, zero), _a1(tab[base + 2], G, zero), h0,
        _a2(tab[base + 1], G, H, zero), _a1(tab[base + 3], G, zero), out, h_n, reset_after,
        reverse,
    )  # fmt: skip


@njit(**_OPTS)
def module_call(tab, x_ptr, h0_ptr, out, h_n, batch_first):
    """A whole `grunet.nn.GRU` call on contiguous memory: the module's table, the addresses of
    x ((B, T, I) when `batch_first`, else (T, B, I)) and of h0 (L*D, B, H) (0: zeros); writes
    out ((B, T, D*H) or (T, B, D*H)) and h_n (L*D, B, H)."""
    zero = h_n.dtype.type(0)
    I, H, L, D, reset_after = tab[0], tab[1], tab[2], tab[3], tab[4] != 0  # noqa: E741
    B = h_n.shape[1]
    T = out.shape[1] if batch_first else out.shape[0]
    # h0 of zero rows: zero initial states (`few_rows`)
    h0 = _a3(h0_ptr, L * D, 0 if h0_ptr == 0 else B, H, zero)
    x = K.time_major(x_ptr, B, T, I, batch_first, zero)
    # One layer, one direction, memory order as time-major: straight into the caller's buffer.
    direct = L == 1 and D == 1 and not (batch_first and B > 1 and T > 1)
    o = out.reshape((T, B, H)) if direct else np.empty((T, B, H), h_n.dtype)
    Iin = I
    for layer in range(L):
        y = o if direct else np.empty((T, B, D * H), h_n.dtype)
        for d in range(D):  # one call site: the recurrence is compiled (and inlined) once
            k = layer * D + d
            _layer(zero, tab, k, x, h0[k], o, h_n[k], Iin, H, reset_after, d == 1)
            if not direct:
                y[:, :, d * H : (d + 1) * H] = o
        x = y
        Iin = D * H
    if not direct:
        K.write_out(x, out, batch_first)


@njit(**_OPTS)
def model_step(tab, x, y):
    """One observation through GRU layers, each optionally followed by a linear Dense.

    x (B * F,) and y (B * out,): rows of (B, F) and (B, out) one after the other (flat, so
    that one observation of one sequence needs no reshaping around the call); y receives the
    model's output (the last Dense's, else the last GRU's new state). Per GRU layer the table
    holds its sizes and reset_after, the addresses of w_ih (3H, I), w_hh (3H, H), b_ih, b_hh
    (3H,), its state (B, H), updated in place, and of its Dense's kernel (H, O) and bias (O,)
    when O > 0.
    """
    zero = x.dtype.type(0)
    n, B = tab[0], tab[1]
    xin = x.reshape((B, x.size // B))
    y = y.reshape((B, y.size // B))
    for i in range(n):
        r = S_HEAD + S_ROW * i
        I, H, ra = tab[r], tab[r + 1], tab[r + 2] != 0  # noqa: E741
        G = 3 * H
        h = _a2(tab[r + 7], B, H, zero)
        few_rows(
            xin.reshape((1, B, I)), _a2(tab[r + 3], G, I, zero), _a1(tab[r + 5], G, zero), h,
            _a2(tab[r + 4], G, H, zero), _a1(tab[r + 6], G, zero), np.empty((1, B, H), x.dtype),
            h, ra, False,
        )  # fmt: skip
        O = tab[r + 8]  # noqa: E741
        last = i == n - 1
        if O == 0:
            if last:
                y[:, :] = h
            xin = h
            continue
        kd, bd = _a2(tab[r + 9], H, O, zero), _a1(tab[r + 10], O, zero)
        yl = y if last else np.empty((B, O), x.dtype)
        for b in range(B):
            yr, hr = yl[b, :], h[b, :]
            yr[:] = bd
            for k in range(H):
                hk, kr = hr[k], kd[k, :]
                for o in range(O):
                    yr[o] += hk * kr[o]
        xin = yl


def layer_row(w_ih, w_hh, b_ih, b_hh, reset_after, state, kernel=None, bias=None):
    """`model_step`'s table entries for one GRU layer (numpy arrays; `state` may be None)."""
    dense = [0, 0, 0] if kernel is None else [kernel.shape[1], _addr(kernel), _addr(bias)]
    return [
        w_ih.shape[1], b_ih.shape[0] // 3, int(bool(reset_after)),
        _addr(w_ih), _addr(w_hh), _addr(b_ih), _addr(b_hh), _addr(state),
        *dense,
    ]  # fmt: skip


def model_table(rows: list[list[int]], batch: int) -> np.ndarray:
    """The table `model_step` reads: its header, then the layers' `layer_row` entries."""
    return np.array([len(rows), batch] + [v for row in rows for v in row], np.int64)


def _addr(a) -> int:
    return 0 if a is None else a.ctypes.data
