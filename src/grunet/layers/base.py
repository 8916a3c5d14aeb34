"""Layer: the Keras-style shell over torch.nn.Module (names, lazy build, weights, config)."""

from __future__ import annotations

import inspect
import itertools
import re
from collections import defaultdict
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from grunet.errors import DataError

_name_counters: dict[str, itertools.count] = defaultdict(itertools.count)

Shape = tuple  # a shape without the batch axis, e.g. (T, F) for a recurrent layer

_LayerT = TypeVar("_LayerT", bound="Layer")  # from_config returns the class it is called on


def snake_case(name: str) -> str:
    """Keras's ``to_snake_case`` of a class name: GRU -> gru, SimpleRNN -> simple_rnn."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """Keras naming: gru, gru_1, gru_2, ... per process."""
    n = next(_name_counters[base])
    return base if n == 0 else f"{base}_{n}"


class Layer(nn.Module):
    """Base of Keras-style layers.

    Parameters are created in ``build(input_shape)`` once the input's shape is known (or at
    construction when ``input_shape`` is given). Subclasses implement ``build``, ``forward``,
    ``compute_output_shape``, ``_keras_weights`` / ``_set_keras_weights`` and ``get_config``.

    Masks (Keras semantics): a mask is a (B, T) bool tensor, True at the steps that hold data.
    A layer whose ``forward`` takes ``mask=`` consumes it (`accepts_mask`); ``compute_mask(inputs,
    mask)`` gives the mask of its output, which a model passes to the next layer. Layers with
    ``supports_masking = True`` pass the mask through unchanged; the others drop it, as in Keras.
    """

    supports_masking: bool = False

    def __init__(
        self, *, name: str | None = None, input_shape: Shape | None = None, trainable: bool = True
    ) -> None:
        super().__init__()
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.trainable = trainable
        self.built = False

    # -- building -------------------------------------------------------------------------
    def build(self, input_shape: Shape) -> None:
        self.built = True

    def maybe_build(self, input_shape: Shape) -> None:
        if not self.built:
            self.build(tuple(input_shape))
            self.built = True
            if not self.trainable:
                self.requires_grad_(False)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    # -- regularization ----------------------------------------------------------------------
    def _regularized(self) -> list[tuple[Any, torch.Tensor | None]]:
        """(regularizer or None, weight) pairs this layer penalises; subclasses override."""
        return []

    @property
    def losses(self) -> list[torch.Tensor]:
        """The regularization penalties of the current weights (scalar tensors, with gradients),
        this layer's and its sub-layers', as Keras's ``layer.losses``; a training loop adds their
        sum to the loss."""
        out = [reg(w) for reg, w in self._regularized() if reg is not None and w is not None]
        for child in self.children():
            if isinstance(child, Layer):
                out.extend(child.losses)
        return out

    # -- masking ----------------------------------------------------------------------------
    @property
    def accepts_mask(self) -> bool:
        """True when ``forward`` takes a ``mask=`` argument (Keras's ``_call_has_mask_arg``)."""
        return "mask" in inspect.signature(self.forward).parameters

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None):
        """The mask of this layer's output given its input and input mask ((B, T) bool or None)."""
        return mask if self.supports_masking else None

    # -- weights ----------------------------------------------------------------------------
    def _keras_weights(self) -> list[torch.Tensor]:
        """This layer's weights in Keras's order and layout (views or copies)."""
        return []

    def _set_keras_weights(self, weights: list[torch.Tensor]) -> None:
        """Copy weights given in Keras's order and layout into the parameters."""

    def _require(self, param: nn.Parameter | None, what: str) -> nn.Parameter:
        """`param`, which this layer's settings say exists; a clear error if it is None."""
        if param is None:
            raise RuntimeError(
                f"{type(self).__name__} layer {self.name!r} has no {what} although its settings "
                "need one; build a new layer instead of removing its parameters."
            )
        return param

    def get_weights(self) -> list[np.ndarray]:
        """Weights as numpy arrays, in Keras's exact order and layouts."""
        return [w.detach().cpu().numpy().copy() for w in self._keras_weights()]

    def set_weights(self, weights: list) -> None:
        """Set weights given in Keras's order and layouts (as ``get_weights`` returns them)."""
        if not self.built:
            raise RuntimeError(
                f"Layer {self.name!r} is not built yet: give it input_shape=... or call it on "
                "data before set_weights()."
            )
        current = self._keras_weights()
        weights = list(weights)
        if len(weights) != len(current):
            raise DataError(
                f"Layer {self.name!r} expects {len(current)} weight arrays, got {len(weights)}."
            )
        converted = []
        for i, (w, ref) in enumerate(zip(weights, current, strict=False)):
            arr = np.asarray(w)
            if tuple(arr.shape) != tuple(ref.shape):
                raise DataError(
                    f"Layer {self.name!r}: weight {i} should have shape {tuple(ref.shape)}, "
                    f"got {tuple(arr.shape)}."
                )
            converted.append(torch.as_tensor(arr, dtype=ref.dtype, device=ref.device))
        with torch.no_grad():
            self._set_keras_weights(converted)

    def count_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- config -----------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config

    @classmethod
    def from_config(cls: type[_LayerT], config: dict[str, Any]) -> _LayerT:
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"
