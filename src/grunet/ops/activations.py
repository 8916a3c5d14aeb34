"""Activation functions by Keras name: the one table every layer and op looks names up in."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Activation = Callable[[torch.Tensor], torch.Tensor]

ACTIVATIONS: dict[str, Activation] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": lambda x: torch.clamp(x / 6.0 + 0.5, 0.0, 1.0),  # Keras 3 definition
    "relu": torch.relu,
    "linear": lambda x: x,
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "swish": F.silu,
    "silu": F.silu,
    "exponential": torch.exp,
}


def get_activation(name: str | None) -> Activation:
    """Return the activation named `name` (Keras names; None means "linear").

    Raises:
        ValueError: the name is unknown; the message lists the known names.
    """
    if name is None:
        name = "linear"
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {name!r}. Use one of: {', '.join(sorted(ACTIVATIONS))}."
        )
    return ACTIVATIONS[name]
