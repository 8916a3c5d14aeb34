"""History: what fit returns, one value per epoch and logged name."""

from __future__ import annotations

from typing import Any

from grunet.models.plots import plot_history


class History:
    """Per-epoch logs of a fit, as Keras has them.

    Attributes:
        history: {"loss": [...], "val_loss": [...], metric names ...}, one value per epoch.
        epoch: the epoch indices run.
        params: {"epochs", "steps", "verbose", "batch_size"}.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params: dict[str, Any] = {}

    @classmethod
    def from_dict(cls, history: dict[str, list[float]]) -> History:
        """A History holding `history` ({name: [one value per epoch]}), epochs 0, 1, ..."""
        out = cls()
        for name, values in history.items():
            out.history[name] = [float(v) for v in values]
        out.epoch = list(range(max((len(v) for v in history.values()), default=0)))
        return out

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))

    def plot(self, path=None, *, title: str | None = None):
        """Plot loss (and val_loss, metrics) per epoch; save to `path` when given.

        Returns:
            The matplotlib Figure.
        """
        return plot_history(self, path, title=title)

    def __repr__(self) -> str:
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"
