"""Keras-style Dense and Dropout layers."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from grunet import ops
from grunet.errors import DataError
from grunet.layers import regularizers
from grunet.layers.base import Layer, Shape
from grunet.layers.initializers import glorot_uniform


class Masking(Layer):
    """Mark the time steps whose features all equal `mask_value` as padding (``keras.layers.Masking``).

    Output: the input with masked steps set to 0; ``compute_mask`` gives the (B, T) bool mask,
    True where any feature differs from `mask_value`, which recurrent layers then skip (their
    state and output are carried over masked steps).

    Examples:
        >>> import torch, grunet as gn
        >>> x = torch.tensor([[[1.0], [0.0], [2.0]]])
        >>> gn.layers.Masking(0.0).compute_mask(x).tolist()
        [[True, False, True]]
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return (inputs != self.mask_value).any(dim=-1)  # (B, T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = (x != self.mask_value).any(dim=-1, keepdim=True)  # (B, T, 1)
        return x * keep.to(x.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}


class Dense(Layer):
    """``y = activation(x @ kernel + bias)`` on the last axis; kernel (F, units), bias (units,).

    Examples:
        >>> import grunet as gn
        >>> gn.layers.Dense(1, input_shape=(50,)).count_params()
        51
    """

    supports_masking = True
    kernel: nn.Parameter  # (F, units), set by build()
    bias: nn.Parameter | None  # (units,); None without use_bias

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}.")
        self._act = ops.get_activation(activation)
        self.units = units
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        if self.input_shape is not None:
            self.maybe_build(self.input_shape)

    def build(self, input_shape: Shape) -> None:
        dtype = torch.get_default_dtype()
        self.kernel = nn.Parameter(glorot_uniform((input_shape[-1], self.units), dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(self.units, dtype=dtype)) if self.use_bias else None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def _regularized(self) -> list[tuple[Any, torch.Tensor | None]]:
        if not self.built:
            return []
        return [(self.kernel_regularizer, self.kernel), (self.bias_regularizer, self.bias)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.maybe_build(tuple(x.shape[1:]))
        if x.shape[-1] != self.kernel.shape[0]:
            raise DataError(
                f"Dense layer {self.name!r} expects {self.kernel.shape[0]} input features, "
                f"got {x.shape[-1]} (input shape {tuple(x.shape)})."
            )
        return self._act(F.linear(x, self.kernel.T, self.bias))

    def _keras_weights(self) -> list[torch.Tensor]:
        return [self.kernel, self._require(self.bias, "bias")] if self.use_bias else [self.kernel]

    def _set_keras_weights(self, weights: list[torch.Tensor]) -> None:
        for param, w in zip(self._keras_weights(), weights, strict=False):
            param.copy_(w)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            **{
                f"{k}_regularizer": regularizers.serialize(getattr(self, f"{k}_regularizer"))
                for k in ("kernel", "bias")
                if getattr(self, f"{k}_regularizer") is not None
            },
        }


class Dropout(Layer):
    """Zero a fraction `rate` of inputs during training and scale the rest by 1 / (1 - rate)."""

    supports_masking = True

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate!r}.")
        self.rate = float(rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.rate, training=self.training)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}
