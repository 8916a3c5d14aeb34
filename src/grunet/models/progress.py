"""Keras-style progress output for fit: a bar (verbose=1) or one line per epoch (verbose=2)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


class Progress:
    """Draws fit's progress; reads only the clock, so no tensor is synchronised to draw it.

    Args:
        verbose: 0 silent, 1 a bar (live on a terminal), 2 one line per epoch.
        epochs: epochs in the fit. steps: optimizer steps per epoch.
        print_fn: where lines go (default: stdout, flushed).
    """

    WIDTH = 20

    def __init__(
        self, verbose: int, epochs: int, steps: int, print_fn: Callable[[str], None] | None
    ) -> None:
        self.verbose, self.epochs, self.steps = verbose, epochs, steps
        self.live = print_fn is None and verbose == 1 and sys.stdout.isatty()
        self.print_fn = print_fn or (lambda s: print(s, flush=True))
        self._next_draw = 0.0
        self.start = time.perf_counter()

    def epoch_begin(self, epoch: int) -> None:
        self.start = time.perf_counter()
        if self.verbose:
            self.print_fn(f"Epoch {epoch + 1}/{self.epochs}")

    def _bar(self, step: int) -> str:
        done = int(self.WIDTH * step / self.steps)
        return "━" * done + " " * (self.WIDTH - done)

    def step(self, step: int) -> None:
        if self.live and step % 8 == 0:
            now = time.perf_counter()
            if now >= self._next_draw:
                self._next_draw = now + 0.1
                sys.stdout.write(f"\r{step}/{self.steps} {self._bar(step)}")
                sys.stdout.flush()

    def epoch_end(self, logs: dict[str, float]) -> None:
        if not self.verbose:
            return
        secs = time.perf_counter() - self.start
        per_step = secs / self.steps
        per = f"{per_step * 1e3:.0f}ms/step" if per_step >= 1e-3 else f"{per_step * 1e6:.0f}us/step"
        metrics = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
        if self.verbose == 1:
            line = (
                f"{self.steps}/{self.steps} {self._bar(self.steps)} {secs:.0f}s {per} - {metrics}"
            )
            if self.live:
                sys.stdout.write("\r")
        else:
            line = f"{self.steps}/{self.steps} - {secs:.0f}s - {per} - {metrics}"
        self.print_fn(line)
