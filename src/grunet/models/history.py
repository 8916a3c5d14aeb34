"""History (what fit returns) and the callback base class (callbacks.py holds the rest)."""

from __future__ import annotations

from typing import Any


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

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))

    def plot(self, path=None, *, title: str | None = None):
        """Plot loss (and val_loss, metrics) per epoch; save to `path` when given.

        Returns:
            The matplotlib Figure.
        """
        from grunet.plot import plot_history

        return plot_history(self, path, title=title)

    def __repr__(self) -> str:
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"


class Callback:
    """Base class for fit callbacks: override any hook. ``self.model`` is set by fit."""

    model: Any = None

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None: ...

    def on_train_end(self, logs: dict | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
