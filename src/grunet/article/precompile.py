"""Compile ahead: run once, on tiny inputs, what later runs would otherwise compile first.

numba compiles each CPU kernel the first time a process calls it, unless its on-disk cache
already holds it (``cache=True``: next to grunet's sources, else under ``NUMBA_CACHE_DIR``).
`warmup` calls the same public API the demo calls, so exactly the kernels (and argument types)
the demo needs are compiled and cached; a later ``grunet demo`` then loads them in well under
a second and starts fitting at once. ``make install`` runs it. Results never depend on it:
compiled or loaded, a kernel computes the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from grunet.article.demo import build_article_model
from grunet.nn import GRU
from grunet.streaming import Stepper

PrintFn = Callable[[str], None]


def _fit() -> None:
    """The demo's fit: the fused training epoch (train_epoch) and validation (fwd_rows)."""
    rng = np.random.default_rng(0)
    # The demo's shapes (99 lag pairs, a fifth for validation): the same kernels get compiled.
    x, y = rng.normal(size=(99, 1, 1)).astype(np.float32), rng.normal(size=(99, 1))
    model = build_article_model()
    model.fit(x, y.astype(np.float32), epochs=1, batch_size=1, validation_split=0.2, verbose=0)
    model.predict(x, batch_size=len(x))


def _single_call() -> None:
    """``grunet.nn.GRU`` calls under no_grad: one step (stream_kernels.module_call) and a few
    dozen rows (kernels.bound_call)."""
    with torch.no_grad():
        gru = GRU(1, 50, batch_first=True)
        gru(torch.zeros(1, 1, 1))
        gru(torch.zeros(4, 8, 1))


def _stepper() -> None:
    """``streaming.Stepper`` and ``ops.cpu.GRUStepper`` (stream_kernels.model_step)."""
    Stepper(build_article_model()).step(np.zeros(1, np.float32))


STEPS: dict[str, tuple[str, Callable[[], None]]] = {
    "fit": ("the demo's fit (fused training epoch, validation)", _fit),
    "call": ("grunet.nn.GRU calls under no_grad", _single_call),
    "stepper": ("streaming.Stepper / GRUStepper steps", _stepper),
}


def warmup(steps: tuple[str, ...] = ("fit",), print_fn: PrintFn = print) -> dict[str, float]:
    """Compile (or load from numba's disk cache) the float32 CPU kernels of `steps`.

    Args:
        steps: keys of `STEPS`: "fit" (what ``grunet demo`` compiles), "call", "stepper".
        print_fn: receives one line per step (what, and how long it took).

    Returns:
        Seconds per step: tens on a first run (compiling), well under one once cached.
    """
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"warmup: unknown steps {unknown}; choose from {list(STEPS)}.")
    seconds = {}
    for key in steps:
        what, run = STEPS[key]
        t0 = time.perf_counter()
        run()
        seconds[key] = time.perf_counter() - t0
        print_fn(f"grunet warmup: {what}: ready in {seconds[key]:.1f} s")
    return seconds
