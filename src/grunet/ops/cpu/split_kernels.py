"""Numba kernels of one recurrence split over threads by hidden units: one row, several cores.

Legend:  T: time steps  B: batch rows (one, in practice: `runtime.split_parts`)  H: hidden units
         G = 3H: gate rows  P: parts (threads)  U: units of one part

Threads over batch rows (`kernels.fwd_rows` per block) need a dozen rows or more. One row, or a
few, at H >= 128 is a chain of matrix-vector products each bound by reading W_hh (3H x H: 786 KB
at H = 256, float32) from L2 or L3. Here P threads share that chain: part p owns units [u0, u1)
of the state and computes, every step, its own columns of the recurrent product (r, z and n for
those units, ~1/P of W_hh, which then stays in its core's cache) and its units of the new state;
then all parts meet at a barrier, since each needs the whole state for the next step. The state
is double-buffered (`hbuf`: step s reads hbuf[s % 2] and writes hbuf[(s + 1) % 2]), so one
barrier per step suffices (reset_after=False adds one: the n columns need r * h_prev of all units).

The barrier is a counter per part in `sync` (on its own cache line), stored with release and
read with acquire ordering, spun on: a step at H = 256 takes a few us, far less than waking a
sleeping thread. The counters only grow, across calls too (a call starts at phase `phase0`): a
part may still be reading the others' counters after the last of them left the call, so the
array must not be reused from zero. Who starts the parts: `runtime.Team`.

numba's disk cache keys a kernel on its own file only: after changing anything in `kernels` this
kernel uses, clear the cache (``src/grunet/ops/cpu/__pycache__/*.nb*``).
"""

from __future__ import annotations

import platform

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from grunet.ops.cpu import kernels as K

_OPTS = {"cache": True, "fastmath": K.FASTMATH, "error_model": "numpy", "nogil": True}

LINE = 16  # int64 entries per cache line of `sync`: part p's counter is sync[(p + 1) * LINE]
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


def sync_array(parts: int) -> np.ndarray:
    """A fresh barrier for `parts` threads (all counters 0; entry 0 unused)."""
    return np.zeros((parts + 1) * LINE, np.int64)


def _atomic_load(ordering: str):
    """An intrinsic: arr[idx] of a 1-D int64 array, read atomically with `ordering` (never
    hoisted out of a spin loop)."""

    @intrinsic
    def load(typingctx, arr, idx):
        if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1):
            return None

        def codegen(context, builder, sig, args):
            return builder.load_atomic(_item_ptr(context, builder, sig, args), ordering, 8)

        return types.int64(arr, types.intp), codegen

    return load


def _atomic_store(ordering: str):
    """An intrinsic: arr[idx] = val for a 1-D int64 array, stored atomically with `ordering`."""

    @intrinsic
    def store(typingctx, arr, idx, val):
        if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1):
            return None

        def codegen(context, builder, sig, args):
            builder.store_atomic(args[2], _item_ptr(context, builder, sig, args), ordering, 8)
            return context.get_dummy_value()

        return types.void(arr, types.intp, types.int64), codegen

    return store


def _item_ptr(context, builder, sig, args):
    """The address of arr[idx] (args[0], args[1]) in a codegen."""
    ary = context.make_array(sig.args[0])(context, builder, args[0])
    return cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]], wraparound=False)


# Acquire/release for the barrier (what a part wrote before its counter is seen with it);
# sequentially consistent where a thread's store must come before its next load (a helper going
# to sleep and a caller posting a job each store, then read the other's flag).
_load_acquire, _store_release = _atomic_load("acquire"), _atomic_store("release")
_load_seq, _store_seq = _atomic_load("seq_cst"), _atomic_store("seq_cst")


@intrinsic
def _pause(typingctx):
    """The spin-wait hint (x86 `pause`); nothing elsewhere."""

    def codegen(context, builder, sig, args):
        if _X86:
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause"
            )
            builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


@njit(**_OPTS)
def meet(sync, part, parts, count):
    """Barrier: this part has done `count` phases; wait until every part has. Returns the spin
    rounds it waited (`runtime.Team` backs off when they say another part was not running)."""
    _store_release(sync, (part + 1) * LINE, count)
    waited = 0
    for p in range(parts):
        if p != part:
            while _load_acquire(sync, (p + 1) * LINE) < count:
                _pause()
                waited += 1
    return waited


@njit(**_OPTS)
def units(part, parts, H, pw):
    """Units [u0, u1) of `part`: whole panels of pw columns, as even as they go."""
    panels = H // pw
    return part * panels // parts * pw, (part + 1) * panels // parts * pw


def phases(T: int, reset_after: bool) -> int:
    """Barrier phases of one `fwd_part` call."""
    return 1 + T * (1 if reset_after else 2)


@njit(**_OPTS)
def fwd_part(
    part, parts, x, w_t, b_ih, gi, h0, w, b_hh, out, h_n, hbuf, qbuf, reset_after, reverse,
    sync, phase0,
):  # fmt: skip
    """Part `part` of `parts` of a layer's inference over rows [0, B) (by tiles of rows).

    x (T, B, I) contiguous.  w_t: W_ih^T (I, 3H).  b_ih (3H,).  gi (T, B, 3H): scratch for the
    input projections (each part projects its own columns: no torch GEMM, whose OpenMP
    threads would spin against the parts).  h0 (B, H).  w: W_hh packed (`kernels.pack`; H a
    multiple of its panel width).  b_hh (3H,).  Writes this part's units of out (T, B, H) and
    h_n (B, H).  hbuf (2, B, H) and qbuf (B, H): shared by the parts.  sync: `sync_array`, its
    counters at `phase0` or more (`phases` later they are all at phase0 + phases).
    Returns the spin rounds this part waited at the barriers after the first (which includes
    waking a helper that slept).
    """
    T, B, I = x.shape  # noqa: E741
    H = h0.shape[1]
    H2 = 2 * H
    dt = gi.dtype
    pw = K.PANEL_BYTES // gi.itemsize
    u0, u1 = units(part, parts, H, pw)
    U = u1 - u0
    cn, width = -(-H2 // pw) * pw, w.size // H
    x2, g2 = x.reshape((T * B, I)), gi.reshape((T * B, 3 * H))
    for c0 in (u0, H + u0, H2 + u0):  # this part's columns of the projections
        K._project(x2, w_t, b_ih, g2, c0, c0 + U)
    acc = np.empty((K.TILE, width), dt)  # a tile's pre-activations (this part's columns)
    rz = np.empty((B, 2 * U), dt)  # gates r, z of this part's units, every row
    nn = np.empty((K.TILE, U), dt)  # a tile's candidates
    acc1, w1, q1 = acc.reshape(-1), w.reshape(-1), qbuf.reshape(-1)
    for b in range(B):
        for j in range(u0, u1):
            hbuf[0, b, j] = h0[b, j]
    phase = phase0 + 1
    meet(sync, part, parts, phase)  # the whole h0 is in hbuf[0] (and a sleeping helper woke)
    waited = 0
    for step in range(T):
        t = T - 1 - step if reverse else step
        hp, hn = hbuf[step % 2], hbuf[(step + 1) % 2]
        hp1 = hp.reshape(-1)
        for s in range(0, B, K.TILE):  # r and z (and with reset_after, n) by tiles of rows
            nb = min(K.TILE, B - s)
            for i in range(nb):  # (loops over 1-D views: they vectorize)
                ar, az, an = acc[i, u0:u1], acc[i, H + u0 : H + u1], acc[i, cn + u0 : cn + u1]
                br, bz, bn = b_hh[u0:u1], b_hh[H + u0 : H + u1], b_hh[H2 + u0 : H2 + u1]
                for j in range(U):
                    ar[j] = br[j]
                for j in range(U):
                    az[j] = bz[j]
                for j in range(U):
                    an[j] = bn[j]
            K._gemm(nb, hp, hp1, s, 0, H, w, w1, True, u0, u1, acc, acc1, 0)
            K._gemm(nb, hp, hp1, s, 0, H, w, w1, True, H + u0, H + u1, acc, acc1, 0)
            for i in range(nb):
                ar, gr, zr = acc[i, u0:u1], gi[t, s + i, u0:u1], rz[s + i, :U]
                for j in range(U):
                    zr[j] = K._sigmoid(gr[j] + ar[j])
                ar, gr, zr = acc[i, H + u0 : H + u1], gi[t, s + i, H + u0 : H + u1], rz[s + i, U:]
                for j in range(U):
                    zr[j] = K._sigmoid(gr[j] + ar[j])
            if reset_after:
                K._gemm(nb, hp, hp1, s, 0, H, w, w1, True, cn + u0, cn + u1, acc, acc1, 0)
                _finish(
                    acc, rz, nn, gi, hp, hn, out, h_n, t, s, nb, u0, u1, cn, H2, True, step == T - 1
                )
            else:
                for i in range(nb):
                    rr, hr, qr = rz[s + i, :U], hp[s + i, u0:u1], qbuf[s + i, u0:u1]
                    for j in range(U):
                        qr[j] = rr[j] * hr[j]
        if not reset_after:
            phase += 1
            waited += meet(sync, part, parts, phase)  # all of r * h_prev is in qbuf
            for s in range(0, B, K.TILE):
                nb = min(K.TILE, B - s)
                for i in range(nb):
                    an, bn = acc[i, cn + u0 : cn + u1], b_hh[H2 + u0 : H2 + u1]
                    for j in range(U):
                        an[j] = bn[j]
                K._gemm(nb, qbuf, q1, s, 0, H, w, w1, True, cn + u0, cn + u1, acc, acc1, 0)
                _finish(
                    acc,
                    rz,
                    nn,
                    gi,
                    hp,
                    hn,
                    out,
                    h_n,
                    t,
                    s,
                    nb,
                    u0,
                    u1,
                    cn,
                    H2,
                    False,
                    step == T - 1,
                )
        phase += 1
        waited += meet(sync, part, parts, phase)  # the new state is whole; hbuf[step % 2] free
    return waited


@njit(**_OPTS)
def _finish(acc, rz, nn, gi, hp, hn, out, h_n, t, s, nb, u0, u1, cn, H2, reset_after, last):
    """The candidate and the new state of this part's units for rows [s, s + nb) of step t.

    The candidate goes into a buffer of its own first (nn): a loop that writes one part of an
    array (hbuf) while reading another part of it does not vectorize, and tanh is most of it."""
    U = u1 - u0
    for i in range(nb):
        b = s + i
        r_, z_, a_, nr = rz[b, :U], rz[b, U:], acc[i, cn + u0 : cn + u1], nn[i, :U]
        gin, hr, hw = gi[t, b, H2 + u0 : H2 + u1], hp[b, u0:u1], hn[b, u0:u1]
        if reset_after:
            for j in range(U):
                nr[j] = K._tanh(gin[j] + r_[j] * a_[j])
        else:
            for j in range(U):
                nr[j] = K._tanh(gin[j] + a_[j])
        for j in range(U):
            n = nr[j]
            nr[j] = n + z_[j] * (hr[j] - n)  # = z * h_prev + (1 - z) * n
        o = out[t, b, u0:u1]
        for j in range(U):
            hw[j] = nr[j]
            o[j] = nr[j]
        if last:
            hl = h_n[b, u0:u1]
            for j in range(U):
                hl[j] = nr[j]


# The job of a team (`lead` writes it, `serve` reads it): sizes, flags and addresses.
JOB = 23  # parts, T, B, H, I, packed rows, panel width, reset_after, reverse, phase0, then the
# addresses of x, w_t, b_ih, gi, h0, w, b_hh, out, h_n, hbuf, qbuf, sync, then the job's number
# (0 while `lead` writes the table: a helper reads a table only between two equal numbers)
# `ctl` of a team: ctl[0] the last job posted; ctl[(1 + i) * LINE] 1 while helper i sleeps.


@njit(**_OPTS)
def _run(job, part, zero):
    """Part `part` of the job in the table `job`."""
    parts, T, B, H, I, P, pw = job[0], job[1], job[2], job[3], job[4], job[5], job[6]  # noqa: E741
    G = 3 * H
    fwd_part(
        part, parts, K.at3(job[10], T, B, I, zero), K.at2(job[11], I, G, zero),
        K.at1(job[12], G, zero), K.at3(job[13], T, B, G, zero), K.at2(job[14], B, H, zero),
        K.at2(job[15], P, pw, zero), K.at1(job[16], G, zero), K.at3(job[17], T, B, H, zero),
        K.at2(job[18], B, H, zero), K.at3(job[19], 2, B, H, zero), K.at2(job[20], B, H, zero),
        job[7] != 0, job[8] != 0, K.at1(job[21], (parts + 1) * LINE, np.int64(0)), job[9],
    )  # fmt: skip


@njit(**_OPTS)
def lead(ctl, job, seq, check, parts, x, w_t, b_ih, gi, h0, w, b_hh, out, h_n, hbuf, qbuf, ra,
         rev, sync, ph0):  # fmt: skip
    """Post job `seq` (the arguments of `fwd_part`) to the team and run its part 0.

    Returns the spin rounds part 0 waited at the barriers when done, or -1 (nothing run, the
    job posted) when `check` and a helper sleeps: the caller wakes it and calls again with check
    False.
    """
    if ctl[0] != seq:
        _store_seq(job, JOB - 1, 0)
        T, B, I = x.shape  # noqa: E741
        vals = (parts, T, B, h0.shape[1], I, w.shape[0], w.shape[1], int(ra), int(rev), ph0)
        for j in range(10):
            job[j] = vals[j]
        ptrs = (x.ctypes.data, w_t.ctypes.data, b_ih.ctypes.data, gi.ctypes.data,
                h0.ctypes.data, w.ctypes.data, b_hh.ctypes.data, out.ctypes.data,
                h_n.ctypes.data, hbuf.ctypes.data, qbuf.ctypes.data, sync.ctypes.data)  # fmt: skip
        for j in range(12):
            job[10 + j] = ptrs[j]
        _store_seq(job, JOB - 1, seq)
        _store_seq(ctl, 0, seq)
    if check:
        for p in range(1, parts):
            if _load_seq(ctl, p * LINE) != 0:
                return -1
    return fwd_part(
        0, parts, x, w_t, b_ih, gi, h0, w, b_hh, out, h_n, hbuf, qbuf, ra, rev, sync, ph0
    )


@njit(**_OPTS)
def serve(ctl, job, helper, seen, rounds, zero):
    """Helper `helper` of a team: run part helper + 1 of the job posted last, whenever one newer
    than `seen` is posted, spinning up to `rounds` rounds for it; when none came, mark itself
    asleep and return the last job seen (the caller sleeps until woken, then calls again).
    Jobs posted while it slept did not need it (their caller would have woken it): it skips
    them, never runs a job twice. A job that needs it cannot end without it, so its table
    stays as it is while it runs; one that does not may be overwritten by the next while it
    looks: it reads the number of parts between two reads of the job's number."""
    flag = (1 + helper) * LINE
    _store_seq(ctl, flag, 0)
    while True:
        posted = seen
        for _ in range(rounds):
            posted = _load_acquire(ctl, 0)
            if posted > seen:
                break
            _pause()
        if posted == seen:
            _store_seq(ctl, flag, 1)
            posted = _load_seq(ctl, 0)  # checked after the flag: a post now sees the flag
            if posted == seen:
                return seen
            _store_seq(ctl, flag, 0)
        seen = posted
        if _load_seq(job, JOB - 1) == posted:
            parts = _load_seq(job, 0)
            if helper + 1 < parts and _load_seq(job, JOB - 1) == posted:
                _run(job, helper + 1, zero)
