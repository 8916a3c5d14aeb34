"""Running the CPU kernels: first-call compilation notice, threads, torch's thread pool.

Legend:  T: time steps  B: batch  H: hidden units

numba compiles a kernel for each dtype the first time it runs in a process, unless its on-disk
cache (``cache=True``, next to the sources or under ``NUMBA_CACHE_DIR``) already holds it; then it
loads in a fraction of a second. Only the kernels a program actually calls are compiled (the
training epoch of `grunet.models.fused` does not compile the streaming kernels, and so on).
`launch` says so in one line on stderr when a first call takes long enough to be a compile.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numba
import numpy as np
import torch

from grunet.ops.cpu import kernels as K
from grunet.ops.cpu import split_kernels as SK

# Each thread of a call gets at least PAR_MIN_ROWS rows and PAR_MIN_WORK of T * B * H * H
# (~ multiply-adds / 3). Measured on 2 cores, one thread against two, same process (inference and
# training alike): a call of 1.0-1.6 M ran 0.85-0.99x as fast on two, 3.1 M 1.01-1.19x, 6.3 M
# 1.2-1.3x (B 16-128, T 8-96, H 32-64).
PAR_MIN_ROWS = 8
PAR_MIN_WORK = 3 << 19  # ~1.5 M
# A first call still running after this long is compiling, not loading from the disk cache
# (a load, LLVM's start-up included, takes ~0.2-1.3 s on a busy 2-core VM).
_NOTICE_AFTER_S = 2.0
# Measured compile times on one core of a 2-core AMD EPYC VM, empty cache (float32; float64 alike;
# train_epoch, the fused training epoch: 19.2 s in a fresh clone; the stream_kernels on a busy VM).
# `grunet warmup` (run by `make install`) compiles the demo's kernels ahead.
COMPILE_S = {
    "train_epoch": 20,
    "fwd_rows": 4,
    "fwd_small": 5,
    "bwd_rows": 5,
    "bwd_small": 7,
    "pack": 2,
    "refresh_call": 3,
    "bound_call": 20,  # grunet.nn.GRU calls of a few dozen rows: 20 s measured (idle VM)
    "module_call": 10,  # short grunet.nn.GRU calls (stream_kernels): 7.9-15 s measured
    "model_step": 5,  # streaming.Stepper, GRUStepper: 4.1-13 s measured
    "fwd_part": 5,  # split_kernels (one row over two threads): 2.4-7.6 s measured
    "serve": 8,  # fwd_part inside, for a team's helper (estimated from fwd_part)
    "lead": 8,
}

_seen: set = set()


def _first_call(kernel, dtype: torch.dtype, args: tuple):
    """Run `kernel(*args)` for the first time with `dtype` in this process.

    When the call is still running after `_NOTICE_AFTER_S` it is compiling: say in one line what
    and for how long, and when it is done.
    """
    name = getattr(kernel, "__name__", "kernel")
    said: list[float] = []

    def notice() -> None:
        said.append(time.perf_counter())
        print(
            f"grunet: compiling the CPU kernel {name} for {str(dtype).replace('torch.', '')} "
            f"(first use on this machine, about {COMPILE_S.get(name, 5)} s; cached for later "
            "runs; `grunet warmup` compiles ahead)...",
            file=sys.stderr,
            flush=True,
        )

    misses = _misses(kernel)
    timer = threading.Timer(_NOTICE_AFTER_S, notice)
    timer.daemon = True
    t0 = time.perf_counter()
    timer.start()
    try:
        result = kernel(*args)
    finally:
        timer.cancel()
    if said:
        compiled = misses is None or _misses(kernel) != misses
        how = "compiled" if compiled else "loaded from the disk cache"
        print(f"grunet: {name} {how} in {time.perf_counter() - t0:.1f} s.", file=sys.stderr)
    return result


def _misses(kernel) -> int | None:
    """How many compiles the disk cache could not spare this kernel (numba's public stats)."""
    stats = getattr(kernel, "stats", None)
    return None if stats is None else sum(stats.cache_misses.values())


def launch(kernel, dtype: torch.dtype, *args):
    """`kernel(*args)`; the first call per (kernel, dtype) in a process may compile (see above)."""
    if (kernel, dtype) in _seen:
        return kernel(*args)
    result = _first_call(kernel, dtype, args)
    _seen.add((kernel, dtype))
    return result


_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def get_pool(workers: int) -> ThreadPoolExecutor:
    """A shared pool of at least `workers` threads (grown on demand)."""
    global _pool, _pool_size
    if _pool is None or _pool_size < workers:
        _pool, _pool_size = ThreadPoolExecutor(workers, thread_name_prefix="grunet-cpu"), workers
    return _pool


def threads(T: int, B: int, H: int) -> int:
    """How many threads `rows` will use for this call (1: the calling thread only)."""
    n = min(B // PAR_MIN_ROWS, T * B * H * H // PAR_MIN_WORK)
    if n < 2:  # asked first: numba.get_num_threads() costs ~0.9 us a call
        return 1
    n = min(n, numba.get_num_threads())
    return n if n >= 2 else 1


class TorchSerial:
    """Run torch single-threaded inside the block, when `on`.

    torch's OpenMP workers busy-wait for several ms after each parallel op; if the torch calls
    that prepare a threaded kernel call wake them, they then compete with our threads for the
    cores (measured: the threaded kernel ran no faster than one thread). Preparing on one thread
    leaves them asleep.
    """

    __slots__ = ("on", "n")

    def __init__(self, on: bool):
        self.on = on

    def __enter__(self):
        if self.on:
            self.n = torch.get_num_threads()
            torch.set_num_threads(1)

    def __exit__(self, *exc):
        if self.on:
            torch.set_num_threads(self.n)


def rows(kernel, dtype: torch.dtype, T: int, B: int, H: int, args: tuple) -> None:
    """Run `kernel(b0, b1, *args)` over all B rows: one block of rows per thread when it pays.

    The kernels release the GIL, and rows are independent through the whole recurrence, so
    threads need no synchronisation until the end (numba's prange would do the same, but its
    parallel kernels cannot be cached on disk here, and its OpenMP pool spins against torch's).
    """
    n = threads(T, B, H)
    if n < 2 or (kernel, dtype) not in _seen:
        launch(kernel, dtype, 0, B, *args)
        return
    pool = get_pool(n - 1)
    tiles = -(-B // K.TILE)
    per = -(-tiles // n) * K.TILE  # rows per block, whole tiles
    futures = [pool.submit(kernel, b0, min(B, b0 + per), *args) for b0 in range(per, B, per)]
    kernel(0, per, *args)
    for f in futures:
        f.result()


# The recurrence of one row is split over two threads by hidden units (`split_kernels`) when H is
# at least 2 * SPLIT_MIN_UNITS and T * H**3 reaches SPLIT_MIN_T_H3 (H = 256 from 16 steps, H = 128
# from 128: the gain grows with W_hh's size, whose halves then stay in each core's cache).
# Measured on the 2-core VM, split against one thread through grunet.nn.GRU, same process,
# interleaved, us a step: H=256: T=16 8.9 / 10.6, T=24 7.4-10.5 / 9.9-11.3, T=96 5.7-7.2 /
# 9.3-10.1, T=512 5.5 / 10.7; H=128: T=512 1.9-2.4 / 2.3-2.7, T=96 0.92-1.03x, T=24 0.64-0.70x.
# Several rows gained less or lost (B=2 0.91-0.92x, B=4 H=128 0.82x, B=16 T=1 0.64-0.97x; B=4
# H=256 1.4-1.6x): one thread reuses each weight over the rows, and a step's barrier costs
# ~0.25 us plus reading the other part's units of the state. A call costs ~3 us to start while
# the helper still spins. Only two parts were measured (a 2-core machine): no more are used.
SPLIT_MIN_UNITS = 64
SPLIT_MIN_T_H3 = 1 << 28
# How long a helper of `Team` spins for the next job after one (`split_kernels.serve` rounds:
# 50,000 took 1.4 ms here) before it sleeps: calls in a row then start in a few us instead of
# the ~30-70 us it takes to wake a sleeping thread on a VM.
SPIN_ROUNDS = 50_000
# A split call whose part 0 waited more than CONTENDED_ROUNDS spin rounds a barrier phase on
# average found the other core busy (another process: its part ran only between the other
# program's time slices). Measured with `yes` on the second core, B=1, T=200, H=256: 26 us a step
# split against 9.7 on one thread, part 0 waiting ~8,700 rounds a phase; uncontended, 0-40 a
# phase with spikes to ~180 (the first barrier, where a sleeping helper wakes, is not counted).
# The team then runs calls on one thread for a while and tries again: BACKOFF_MIN_S at first,
# twice as long after each call that again finds a core busy, up to BACKOFF_MAX_S, half as long
# after one that does not, so that a passing disturbance (another pool's threads spinning for a
# few ms after their own calls: torch's OpenMP workers, ONNX Runtime's) costs milliseconds, not a
# second. With `yes` on the other core (same call, us a step, split-capable against one thread,
# three blocks each, two runs): this rule 10.4-17.5 against 9.0-12.9; a flat 1 s back-off
# 13.5-16.6 against 12.3-12.5; without the time test below, doubling and halving alone 17-38
# against 10-12. Uncontended, the split then ran 5.6-7.7 against 10.1-11.1.
CONTENDED_ROUNDS = 1000
# A call SLOW_FACTOR times as slow a phase as the fastest of its kind (same shapes) found a core
# busy too: with `yes` on the other core, split calls ran 5.6 us a step (yes off the core) or ~26,
# and in some of the slow ones part 0 waited ~20 rounds a phase only (its own thread had been
# preempted). Uncontended, 7-10 of 600 calls in a row counted as slow (the host's noise).
SLOW_FACTOR = 2.0
BACKOFF_MIN_S = 0.01
BACKOFF_MAX_S = 1.0


def split_parts(T: int, B: int, H: int, itemsize: int) -> int:
    """Threads `split` would use for a recurrence of B rows (1: don't split)."""
    if B != 1 or H < 2 * SPLIT_MIN_UNITS or H % (K.PANEL_BYTES // itemsize):
        return 1
    if T * H**3 < SPLIT_MIN_T_H3:
        return 1  # (before asking numba: its get_num_threads costs ~0.9 us a call)
    return 2 if numba.get_num_threads() >= 2 else 1


class Team:
    """Helper threads that run parts 1.. of `split_kernels.fwd_part` while the caller runs part 0.

    A helper lives in `split_kernels.serve` (numba, no GIL): it spins for the next job for a
    while after each one, then returns to sleep on its Event until `run` wakes it. A job is
    posted in an int64 table of addresses (`split_kernels.lead`), so a helper never needs the
    GIL between jobs (handing the GIL over between threads costs ~30-70 us on a VM: a split call
    through a Python helper was slower than one thread up to T = 4 at H = 256). One job at a
    time: a caller that finds the team busy (another Python thread's call) runs unsplit, and so
    does every call for a while after one that waited long at the barriers (`CONTENDED_ROUNDS`).
    """

    def __init__(self, helpers: int, dtype: torch.dtype) -> None:
        self.helpers = helpers
        self.zero = (np.float32 if dtype == torch.float32 else np.float64)(0)
        self.ctl = SK.sync_array(helpers)
        self.job = np.zeros(SK.JOB, np.int64)
        self.seq = 0
        self.sync = SK.sync_array(helpers + 1)  # for the team's life: its counters only grow
        self.phase = 0
        self.events = [threading.Event() for _ in range(helpers)]
        self.lock = threading.Lock()
        self.dtype = dtype
        self.backoff_until = 0.0  # time.monotonic() before which calls run on one thread
        self.backoff_s = BACKOFF_MIN_S  # the next back-off
        self.best: dict[tuple, float] = {}  # fastest seconds a barrier phase, per kind of call
        launch(SK.serve, dtype, self.ctl, self.job, 0, 0, 0, self.zero)  # compile it here
        for i in range(helpers):
            threading.Thread(
                target=self._serve, args=(i,), daemon=True, name="grunet-split"
            ).start()

    def _serve(self, i: int) -> None:
        seen = 0
        while True:
            seen = SK.serve(self.ctl, self.job, i, seen, SPIN_ROUNDS, self.zero)
            self.events[i].wait()
            self.events[i].clear()

    def run(self, parts: int, args: tuple) -> bool:
        """`split_kernels.fwd_part(part, parts, *args, sync)` on `parts` threads; False if it
        did not run (the team was busy, or backing off after a call that found a core busy)."""
        if time.monotonic() < self.backoff_until or not self.lock.acquire(blocking=False):
            return False
        try:
            self.seq += 1
            ph0 = self.phase
            x, h0, reset_after = args[0], args[4], args[11]  # (see `split_kernels.fwd_part`)
            phases = SK.phases(x.shape[0], reset_after)
            self.phase += phases
            lead = (
                SK.lead if (SK.lead, self.dtype) in _seen else partial(launch, SK.lead, self.dtype)
            )
            t0 = time.perf_counter()
            waited = lead(self.ctl, self.job, self.seq, 1, parts, *args, self.sync, ph0)
            if waited < 0:  # a helper sleeps: wake it
                for e in self.events[: parts - 1]:
                    e.set()
                t0 = time.perf_counter()
                waited = SK.lead(self.ctl, self.job, self.seq, 0, parts, *args, self.sync, ph0)
            per_phase = (time.perf_counter() - t0) / phases
            kind = (parts, *x.shape, h0.shape[1], reset_after)  # parts, T, B, I, H, variant
            if len(self.best) > 256 and kind not in self.best:  # many kinds of calls: start again
                self.best.clear()
            best = self.best[kind] = min(self.best.get(kind, per_phase), per_phase)
            if waited > CONTENDED_ROUNDS * phases or per_phase > SLOW_FACTOR * best:
                self.backoff_until = time.monotonic() + self.backoff_s
                self.backoff_s = min(2 * self.backoff_s, BACKOFF_MAX_S)
            else:  # one quiet call does not mean the other program is gone: halve it only
                self.backoff_s = max(self.backoff_s / 2, BACKOFF_MIN_S)
            return True
        finally:
            self.lock.release()


_teams: dict[torch.dtype, Team] = {}
_team_lock = threading.Lock()


def _forget_teams() -> None:
    """In a forked child: the helpers were not copied (new teams start on demand)."""
    global _teams, _team_lock
    _teams, _team_lock = {}, threading.Lock()


os.register_at_fork(after_in_child=_forget_teams)


def split(dtype: torch.dtype, parts: int, args: tuple) -> None:
    """`split_kernels.fwd_part` for every part, on `parts` threads when it can: the first call
    per dtype (which may compile) and a call finding the team busy run as one part."""
    if (SK.fwd_part, dtype) in _seen:
        with _team_lock:
            team = _teams.get(dtype)
            if team is None or team.helpers < parts - 1:
                team = _teams[dtype] = Team(parts - 1, dtype)
        if team.run(parts, args):
            return
    launch(SK.fwd_part, dtype, 0, 1, *args, SK.sync_array(1), 0)


def empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Allocator for every buffer a kernel writes (tests poison it with NaN)."""
    return torch.empty(shape, dtype=dtype)


def _np_dtype(w: np.ndarray) -> torch.dtype:
    return torch.float32 if w.dtype == np.float32 else torch.float64


# Weights the micro-kernel streams start on a cache line: its 64-byte loads then never straddle
# two lines. numpy's arrays start 16 bytes into a line (glibc's malloc); aligned, the inference of
# one row took 5-15% less (us a step, B=1, T=24, H=64: 1.10 against 1.17-1.20; H=128 3.02 against
# 3.18-3.45; T=96, H=256 8.74 against 9.34-10.19; one process, interleaved).
LINE_BYTES = 64


def empty_aligned(shape: tuple[int, ...], dtype) -> np.ndarray:
    """numpy's empty array, its first element on a `LINE_BYTES` boundary."""
    dt = np.dtype(dtype)
    n = math.prod(shape) * dt.itemsize
    raw = np.empty(n + LINE_BYTES, np.uint8)
    start = -raw.ctypes.data % LINE_BYTES
    return raw[start : start + n].view(dt).reshape(shape)


def packed(w_hh: np.ndarray) -> np.ndarray:
    """W_hh (3H, H) -> W_hh^T in panels, the layout `kernels.fwd_rows(transposed=True)` takes."""
    out = empty_aligned(K.packed_shape(w_hh.shape[1], w_hh.itemsize), w_hh.dtype)
    launch(K.pack, _np_dtype(w_hh), np.ascontiguousarray(w_hh), out)
    return out


def transposed(w: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of w.T, line-aligned (`empty_aligned`): W_ih^T for the projection."""
    out = empty_aligned(w.shape[::-1], w.dtype)
    out[...] = w.T
    return out


def empty_np(shape: tuple[int, ...], dtype) -> np.ndarray:
    """numpy allocator of the inference path (tests poison it with NaN too)."""
    return np.empty(shape, dtype)
