"""Losses and optimizers by Keras name. Each loss maps (y_true, y_pred) to a scalar batch mean."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

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
        raise ValueError(
            f"Unknown {what} {loss!r}. Use one of: {', '.join(LOSSES)}, or a callable."
        )
    return loss, LOSSES[loss]


def _adam(params, **kw):
    return torch.optim.Adam(params, **{"lr": 1e-3, "eps": 1e-7, **kw})


def _adamw(params, **kw):
    return torch.optim.AdamW(params, **{"lr": 1e-3, "eps": 1e-7, "weight_decay": 0.004, **kw})


def _sgd(params, **kw):
    return torch.optim.SGD(params, **{"lr": 1e-2, **kw})


def _rmsprop(params, **kw):
    return torch.optim.RMSprop(params, **{"lr": 1e-3, "alpha": 0.9, "eps": 1e-7, **kw})


# Keras's defaults (learning rate, epsilon, rho) on torch's optimizers.
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": _adam,
    "adamw": _adamw,
    "sgd": _sgd,
    "rmsprop": _rmsprop,
}


def check_optimizer(spec: Any) -> None:
    """Raise a clear ValueError unless `spec` is a Keras optimizer name, a torch optimizer class,
    or a torch optimizer instance."""
    if isinstance(spec, torch.optim.Optimizer):
        return
    if isinstance(spec, type) and issubclass(spec, torch.optim.Optimizer):
        return
    if isinstance(spec, str) and spec.lower() in OPTIMIZERS:
        return
    raise ValueError(
        f"Unknown optimizer {spec!r}. Use one of: {', '.join(OPTIMIZERS)}, a torch.optim "
        "optimizer class, or an optimizer instance."
    )


def make_optimizer(spec: Any, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """An optimizer from a Keras name, a torch optimizer class, or a torch optimizer instance."""
    check_optimizer(spec)
    if isinstance(spec, torch.optim.Optimizer):
        return spec
    if isinstance(spec, type):
        return spec(params)
    return OPTIMIZERS[spec.lower()](params, **_fast_kwargs(params))


def _fast_kwargs(params: list[torch.nn.Parameter]) -> dict[str, Any]:
    # foreach: one multi-tensor kernel per update instead of one small op per parameter.
    return {"foreach": True} if params else {}
