"""Weight regularizers (``keras.regularizers``): L1, L2, L1L2, by name, config or object.

A layer built with ``kernel_regularizer=`` (``recurrent_regularizer=``, ``bias_regularizer=``)
exposes the penalties of its current weights as ``layer.losses`` (a list of scalar tensors), as
Keras does; a training loop adds their sum to the loss. Sums of |w| and w^2 do not depend on
layout, so they are taken on the PyTorch-layout parameters directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class Regularizer:
    """Base: ``regularizer(weight) -> scalar tensor``; config round-trips like Keras's."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(())

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x^2)`` (Keras defaults l1 = l2 = 0)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        for label, v in (("l1", l1), ("l2", l2)):
            if not isinstance(v, (int, float)) or v < 0:
                raise ValueError(
                    f"{type(self).__name__}: {label} must be a number >= 0, got {v!r}."
                )
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        loss = x.new_zeros(())
        if self.l1:
            loss = loss + self.l1 * x.abs().sum()
        if self.l2:
            loss = loss + self.l2 * x.square().sum()
        return loss

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|x|)`` (Keras default l1 = 0.01)."""

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(x^2)`` (Keras default l2 = 0.01)."""

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


REGULARIZERS: dict[str, type[Regularizer]] = {
    "L1": L1,
    "L2": L2,
    "L1L2": L1L2,
    "l1": L1,
    "l2": L2,
    "l1l2": L1L2,  # Keras 3's snake_case of the class name
    "l1_l2": L1L2,  # Keras 2's function name
}


def get(identifier) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A regularizer from None, a name ("l1", "l2", "l1l2" or "l1_l2", "L2", ...), a config dict
    ``{"class_name": "L2", "config": {"l2": 0.01}}``, or an object (ours, Keras's L1/L2/L1L2, or
    any callable taking a weight tensor).

    Raises:
        ValueError: an unknown name or class; the message lists the known ones.
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in REGULARIZERS:
            raise ValueError(
                f"Unknown regularizer {identifier!r}; use one of: {', '.join(REGULARIZERS)}, "
                "or an object such as grunet.layers.regularizers.L2(0.001)."
            )
        return REGULARIZERS[identifier]()
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        if name not in REGULARIZERS:
            raise ValueError(
                f"Unknown regularizer class {name!r}; known: {', '.join(REGULARIZERS)}."
            )
        return REGULARIZERS[name].from_config(dict(identifier.get("config", {})))
    name = type(identifier).__name__
    if name in ("L1", "L2", "L1L2") and hasattr(identifier, "get_config"):  # e.g. Keras's
        config = {k: float(v) for k, v in identifier.get_config().items()}
        return REGULARIZERS[name].from_config(config)
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret regularizer {identifier!r}: give a name, dict or callable."
    )


def serialize(regularizer) -> dict[str, Any] | None:
    """``{"class_name": ..., "config": ...}`` for our regularizers; None stays None.

    Raises:
        ValueError: a custom callable, which has no config to save.
    """
    if regularizer is None:
        return None
    if not isinstance(regularizer, Regularizer):
        raise ValueError(f"Cannot save the custom regularizer {regularizer!r}: use L1, L2 or L1L2.")
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


__all__ = ["L1", "L1L2", "L2", "REGULARIZERS", "Regularizer", "get", "serialize"]
