"""Optimizers by Keras name (with Keras's defaults) on torch's implementations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from grunet.errors import OptionError


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
    """Raise a clear OptionError unless `spec` is a Keras optimizer name, a torch optimizer class,
    or a torch optimizer instance."""
    if isinstance(spec, torch.optim.Optimizer):
        return
    if isinstance(spec, type) and issubclass(spec, torch.optim.Optimizer):
        return
    if isinstance(spec, str) and spec.lower() in OPTIMIZERS:
        return
    raise OptionError(
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
