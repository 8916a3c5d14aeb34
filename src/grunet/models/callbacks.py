"""Callbacks as Keras users know them: EarlyStopping, ModelCheckpoint, CSVLogger,
ReduceLROnPlateau, TensorBoard, and the Callback base class."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import torch

from grunet._files import atomic_write
from grunet.errors import MissingDependencyError, OptionError


class Callback:
    """Base class for fit callbacks: override any hook. ``self.model`` is set by fit."""

    model: Any = None

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None: ...

    def on_train_end(self, logs: dict | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...


class _Monitor(Callback):
    """Shared by callbacks that watch one logged value for improvement."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        if mode not in ("min", "max"):
            raise OptionError(f"{type(self).__name__}: mode must be 'min' or 'max', got {mode!r}.")
        self.monitor, self.min_delta = monitor, abs(min_delta)
        self.sign = 1.0 if mode == "min" else -1.0
        self.best = math.inf

    def _value(self, logs) -> float:
        if not logs or self.monitor not in logs:
            raise OptionError(
                f"{type(self).__name__} monitors {self.monitor!r}, which fit did not log; logged: "
                f"{', '.join(logs or {})}. Pass validation data or monitor 'loss'."
            )
        return self.sign * logs[self.monitor]

    def _improved(self, logs) -> bool:
        value = self._value(logs)
        if value < self.best - self.min_delta:
            self.best = value
            return True
        return False


class EarlyStopping(_Monitor):
    """Stop when `monitor` has not improved by `min_delta` for `patience` epochs.

    Args:
        monitor: a history key, default "val_loss". mode: "min" or "max".
        restore_best_weights: put back the weights of the best epoch when training ends.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "min",
        restore_best_weights: bool = False,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience, self.restore_best_weights = patience, restore_best_weights
        self.wait = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stopped_epoch: int | None = None

    def on_train_begin(self, logs=None) -> None:
        self.best, self.wait, self.best_state, self.stopped_epoch = math.inf, 0, None, None

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self._improved(logs):
            self.wait = 0
            if self.restore_best_weights:
                self.best_state = {
                    k: v.detach().clone() for k, v in self.model.state_dict().items()
                }
            return
        self.wait += 1
        if self.wait > self.patience:
            self.model.stop_training = True
            self.stopped_epoch = epoch

    def on_train_end(self, logs=None) -> None:
        if self.restore_best_weights and self.best_state is not None:
            self.model.load_state_dict(self.best_state)


class ModelCheckpoint(_Monitor):
    """Save the model after each epoch (or only when `monitor` improves, with save_best_only).

    `filepath` may hold ``{epoch}`` and any logged key, e.g. ``"model-{epoch:03d}.grunet"``.
    Each write is atomic. The callback owns its file names: it replaces its own earlier saves.
    """

    def __init__(
        self, filepath, monitor: str = "val_loss", save_best_only: bool = False, mode: str = "min"
    ) -> None:
        super().__init__(monitor, mode, 0.0)
        self.filepath, self.save_best_only = str(filepath), save_best_only

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if (self.save_best_only and not self._improved(logs)) or self.model.rank != 0:
            return
        path = self.filepath.format(epoch=epoch + 1, **(logs or {}))
        self.model.save(path, overwrite=True)


class CSVLogger(Callback):
    """Write the logs of every epoch to a CSV file (epoch, loss, val_loss, ...)."""

    def __init__(self, filename, append: bool = False) -> None:
        self.path, self.append = Path(filename), append

    def on_train_begin(self, logs=None) -> None:
        self.rows: list[dict] = []
        if self.append and self.path.exists():
            with open(self.path, newline="") as f:
                self.rows = list(csv.DictReader(f))

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.rows.append({"epoch": epoch, **(logs or {})})
        if self.model.rank != 0:
            return
        fields = list(dict.fromkeys(k for row in self.rows for k in row))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write(self.path, lambda tmp: Path(tmp).write_text(buf.getvalue()))


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by `factor` when `monitor` stalls for `patience` epochs."""

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        mode: str = "min",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        if not 0.0 < factor < 1.0:
            raise OptionError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor!r}.")
        super().__init__(monitor, mode, min_delta)
        self.factor, self.patience, self.cooldown, self.min_lr = factor, patience, cooldown, min_lr

    def on_train_begin(self, logs=None) -> None:
        self.best, self.wait, self.cooling = math.inf, 0, 0

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.cooling:
            self.cooling -= 1
        if self._improved(logs):
            self.wait = 0
        elif not self.cooling:
            self.wait += 1
            if self.wait >= self.patience:
                for group in self.model.optimizer.param_groups:
                    group["lr"] = max(group["lr"] * self.factor, self.min_lr)
                self.wait, self.cooling = 0, self.cooldown
        if logs is not None:
            logs["lr"] = self.model.optimizer.param_groups[0]["lr"]


class TensorBoard(Callback):
    """Log every epoch's values to TensorBoard (needs the optional `tensorboard` package)."""

    def __init__(self, log_dir="logs") -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MissingDependencyError(
                "TensorBoard logging needs the tensorboard package: pip install tensorboard"
            ) from None
        self.writer = SummaryWriter(str(log_dir))

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        for key, value in (logs or {}).items():
            self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def on_train_end(self, logs=None) -> None:
        self.writer.close()
