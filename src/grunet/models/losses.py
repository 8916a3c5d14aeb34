"""Losses by Keras name. Each loss maps (y_true, y_pred) to a scalar batch mean."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from grunet.errors import OptionError

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mean_squared_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """mean((y_true - y_pred)^2)."""
    return F.mse_loss(y_pred, y_true)


def mean_absolute_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """mean(|y_true - y_pred|)."""
    return F.l1_loss(y_pred, y_true)


def huber(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Keras Huber, delta 1: 0.5 e^2 where |e| <= 1, else |e| - 0.5."""
    return F.huber_loss(y_pred, y_true, delta=1.0)


def root_mean_squared_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """sqrt(mean((y_true - y_pred)^2))."""
    return torch.sqrt(F.mse_loss(y_pred, y_true))


LOSSES: dict[str, Loss] = {
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
    "huber": huber,
    "huber_loss": huber,
    "root_mean_squared_error": root_mean_squared_error,
    "rmse": root_mean_squared_error,
}


def get_loss(loss: str | Loss, what: str = "loss") -> tuple[str, Loss]:
    """Return (name, function) for a Keras loss name or a callable(y_true, y_pred)."""
    if callable(loss):
        return getattr(loss, "__name__", "loss"), loss
    if loss not in LOSSES:
        raise OptionError(
            f"Unknown {what} {loss!r}. Use one of: {', '.join(LOSSES)}, or a callable."
        )
    return loss, LOSSES[loss]
