"""Timing shared by the CPU and CUDA benchmarks: the shape of a point, the cases timed, the means.

Legend:  B: batch  T: time steps  I: input features  H: hidden units
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Point:
    """One benchmark shape; `group` is "grid", "article" or "long"."""

    B: int
    T: int
    I: int  # noqa: E741
    H: int
    group: str = "grid"


def _pick(stat: str) -> Callable[[list[float]], float]:
    """The statistic over blocks: "median", or "min" (on a shared, busy machine the fastest block
    is the one least disturbed by others, so "min" gives steadier ratios there)."""
    if stat not in ("median", "min"):
        raise ValueError(f"stat must be 'median' or 'min', got {stat!r}.")
    return min if stat == "min" else statistics.median


def _calibrate(fn: Callable[[], None], repeats: int, budget_s: float, sync) -> tuple[int, float]:
    """Warm `fn` up and size its blocks: (calls per block, seconds of one call)."""
    fn()  # warm-up (compiles, allocator)
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    once = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(budget_s / repeats / once))
    for _ in range(min(inner, 10)):  # warm caches and the branch predictor
        fn()
    return inner, once


def _block(fn: Callable[[], None], n: int, sync) -> float:
    """Seconds per call over one block of n calls."""
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return (time.perf_counter() - t0) / n


def timer(
    fn: Callable[[], None],
    repeats: int,
    budget_s: float,
    sync: Callable[[], None],
    stat: str = "median",
):
    """Seconds per call of `fn` (the median, or fastest, of `repeats` blocks of a calibrated
    number of calls; see `_pick`) and of its first timed call."""
    pick = _pick(stat)
    inner, once = _calibrate(fn, repeats, budget_s, sync)
    return pick([_block(fn, inner, sync) for _ in range(repeats)]), once


# Pause before each timed block of `interleaved`: thread pools spin for a while after their last
# job (torch's OpenMP workers, ONNX Runtime's, grunet's split team), and a block started right
# after another case's would time that case's spinning threads too.
SETTLE_S = 0.01


def interleaved(
    fns: dict[str, Callable[[], None]],
    repeats: int,
    budget_s: float,
    stat: str = "median",
    context: Callable[[str], contextlib.AbstractContextManager] | None = None,
) -> dict[str, float]:
    """Seconds per call of each case: `repeats` rounds, each timing one block of every case in
    turn (a block: a calibrated number of calls), then the median (or fastest) block per case.

    Interleaved, a burst of load from elsewhere on a shared machine falls on one block of every
    case rather than on all blocks of one case, so ratios between cases of one round hold up
    better than with each case timed in one go. `context(name)`, when given, is entered around
    each block of that case (e.g. ``torch.no_grad``)."""
    pick = _pick(stat)
    enter = context or (lambda name: contextlib.nullcontext())
    inner = {}
    for name, fn in fns.items():
        with enter(name):
            inner[name] = _calibrate(fn, repeats, budget_s, _no_sync)[0]
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            time.sleep(SETTLE_S)
            with enter(name):
                times[name].append(_block(fn, inner[name], _no_sync))
    return {name: pick(t) for name, t in times.items()}


def _no_sync() -> None:
    return None


def cases(mod: torch.nn.Module, x: torch.Tensor) -> dict[str, Callable[[], None]]:
    def infer() -> None:
        with torch.no_grad():
            mod(x)

    def train() -> None:
        mod.zero_grad(set_to_none=True)
        out, _ = mod(x)
        out.sum().backward()

    return {"infer": infer, "train": train}


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")
