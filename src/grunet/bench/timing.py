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


def timer(
    fn: Callable[[], None],
    repeats: int,
    budget_s: float,
    sync: Callable[[], None],
    stat: str = "median",
):
    """Seconds per call of `fn`: the median (or, with ``stat="min"``, the fastest) of `repeats`
    blocks of a calibrated number of calls. On a shared, busy machine the fastest block is the
    one least disturbed by others, so "min" gives steadier ratios there."""
    fn()  # warm-up (compiles, allocator)
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    once = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(budget_s / repeats / once))
    for _ in range(min(inner, 10)):  # warm caches and the branch predictor
        fn()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / inner)
    if stat not in ("median", "min"):
        raise ValueError(f"timer: stat must be 'median' or 'min', got {stat!r}.")
    return (min(times) if stat == "min" else statistics.median(times)), once


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
    if stat not in ("median", "min"):
        raise ValueError(f"interleaved: stat must be 'median' or 'min', got {stat!r}.")
    enter = context or (lambda name: contextlib.nullcontext())
    inner = {}
    for name, fn in fns.items():
        with enter(name):
            fn()  # warm-up (compiles, allocator)
            t0 = time.perf_counter()
            fn()
            once = max(time.perf_counter() - t0, 1e-7)
            inner[name] = max(1, int(budget_s / repeats / once))
            for _ in range(min(inner[name], 10)):  # warm caches and the branch predictor
                fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            n = inner[name]
            time.sleep(SETTLE_S)
            with enter(name):
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                times[name].append((time.perf_counter() - t0) / n)
    pick = min if stat == "min" else statistics.median
    return {name: pick(t) for name, t in times.items()}


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
