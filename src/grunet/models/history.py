"""History (what fit returns) and the callback base class."""

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


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by `min_delta` for `patience` epochs.

    Args:
        monitor: a history key, default "val_loss". mode: "min" or "max".
        restore_best_weights: put back the weights of the best epoch when stopping.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "min", restore_best_weights: bool = False) -> None:  # fmt: skip
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}.")
        self.monitor, self.min_delta, self.patience = monitor, abs(min_delta), patience
        self.sign = 1.0 if mode == "min" else -1.0
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs=None) -> None:
        self.best, self.wait, self.best_state, self.stopped_epoch = float("inf"), 0, None, None

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if not logs or self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which fit did not log; logged: "
                f"{', '.join(logs or {})}. Pass validation data or monitor 'loss'."
            )
        value = self.sign * logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait > self.patience:
            self.model.stop_training = True
            self.stopped_epoch = epoch

    def on_train_end(self, logs=None) -> None:
        if self.restore_best_weights and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
