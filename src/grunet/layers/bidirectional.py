"""Keras-style Bidirectional wrapper: a recurrent layer forwards, a copy backwards, merged.

Legend:  B: batch  T: time  F: features  H: units
"""

from __future__ import annotations

from typing import Any

import torch

from grunet.layers.base import Layer, Shape
from grunet.layers.recurrent import GRU, LSTM, Recurrent, SimpleRNN

_INNER = {cls.__name__: cls for cls in (GRU, LSTM, SimpleRNN)}


def _from_spec(layer):
    """A layer given as ``{"class_name": ..., "config": ...}`` (a saved config) is built here."""
    if not isinstance(layer, dict):
        return layer
    name = layer.get("class_name")
    if name not in _INNER:
        raise ValueError(f"Bidirectional wraps {', '.join(_INNER)}; got class_name {name!r}.")
    return _INNER[name].from_config(dict(layer.get("config", {})))


_MERGES = {
    "concat": lambda a, b: torch.cat([a, b], dim=-1),
    "sum": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "ave": lambda a, b: (a + b) / 2,
}


class Bidirectional(Layer):
    """Run a recurrent layer forwards and a copy backwards, and merge their outputs (Keras).

    Args:
        layer: a GRU, LSTM or SimpleRNN layer (not built); a copy named ``forward_<name>`` runs.
        merge_mode: "concat" (default), "sum", "mul", "ave", or None: a list ``[y, y_reverse]``.
        backward_layer: the layer to run backwards (its ``go_backwards`` must differ from
            `layer`'s, the other settings must agree); default: a copy of `layer` that goes
            backwards, named ``backward_<name>``.

    Call: ``layer(x, initial_state=None, mask=None)``: `initial_state` is a list, the forward
    layer's states then the backward layer's; `mask` (B, T) bool as for the recurrent layers (the
    inner layers output zeros at masked steps when returning sequences, as Keras forces).

    Weights: the forward layer's, then the backward layer's.
    """

    supports_masking = True
    forward_layer: Recurrent
    backward_layer: Recurrent

    def __init__(
        self,
        layer: Recurrent,
        merge_mode: str | None = "concat",
        backward_layer: Recurrent | None = None,
        **kwargs: Any,
    ) -> None:
        layer, backward_layer = _from_spec(layer), _from_spec(backward_layer)
        for label, lyr in (("layer", layer), ("backward_layer", backward_layer)):
            if lyr is not None and not isinstance(lyr, Recurrent):
                raise ValueError(
                    f"Bidirectional: {label} must be a GRU, LSTM or SimpleRNN layer, "
                    f"got {type(lyr).__name__}."
                )
        if merge_mode is not None and merge_mode not in _MERGES:
            raise ValueError(
                f"Unknown merge_mode {merge_mode!r}; use one of: {', '.join(_MERGES)} or None."
            )
        kwargs.setdefault("name", f"bidirectional_{layer.name}")
        input_shape = kwargs.pop("input_shape", None) or layer.input_shape
        super().__init__(input_shape=input_shape, **kwargs)
        config = layer.get_config()
        config.pop("input_shape", None)
        self.merge_mode = merge_mode
        name = layer.name.removeprefix("forward_")
        self.forward_layer = type(layer).from_config({**config, "name": f"forward_{name}"})
        self._explicit_backward = backward_layer is not None
        if backward_layer is None:
            backward_layer = type(layer).from_config(
                {**config, "name": f"backward_{name}", "go_backwards": not layer.go_backwards}
            )
        self.backward_layer = backward_layer
        self._verify(self.forward_layer, self.backward_layer)
        for inner in (self.forward_layer, self.backward_layer):  # Keras forces this
            inner.zero_output_for_mask = inner.return_sequences
        if self.input_shape is not None:
            self.maybe_build(self.input_shape)

    @staticmethod
    def _verify(fwd: Recurrent, bwd: Recurrent) -> None:
        if fwd.go_backwards == bwd.go_backwards:
            raise ValueError(
                "Bidirectional: the forward and backward layers must have different go_backwards "
                f"(both are {fwd.go_backwards}); build backward_layer with "
                f"go_backwards={not fwd.go_backwards}."
            )
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(fwd, attr) != getattr(bwd, attr):
                raise ValueError(
                    f"Bidirectional: the forward and backward layers must agree on {attr}; got "
                    f"{getattr(fwd, attr)} and {getattr(bwd, attr)}."
                )

    def build(self, input_shape: Shape) -> None:
        self.forward_layer.maybe_build(input_shape)
        self.backward_layer.maybe_build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = self.forward_layer.compute_output_shape(input_shape)
        if self.merge_mode == "concat":
            other = self.backward_layer.compute_output_shape(input_shape)
            return (*shape[:-1], shape[-1] + other[-1])
        return shape

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None):
        out: torch.Tensor | None | list[torch.Tensor | None]
        out = mask if self.forward_layer.return_sequences else None
        if self.merge_mode is None:
            out = [out, out]
        if self.forward_layer.return_state:
            states = [None] * (2 * self.forward_layer._n_states)
            return (out if isinstance(out, list) else [out]) + states
        return out

    def forward(self, x: torch.Tensor, initial_state=None, mask=None):
        self.maybe_build(tuple(x.shape[1:]))
        fwd_state = bwd_state = None
        if initial_state is not None:
            given = list(initial_state)
            half = len(given) // 2
            fwd_state, bwd_state = given[:half], given[half:]
        fwd = self.forward_layer(x, initial_state=fwd_state, mask=mask)
        bwd = self.backward_layer(x, initial_state=bwd_state, mask=mask)
        states: list[torch.Tensor] = []
        if self.forward_layer.return_state:
            fwd, *sf = fwd
            bwd, *sb = bwd
            states = sf + sb
        if self.forward_layer.return_sequences:
            bwd = bwd.flip(1)  # back to input time order
        y = [fwd, bwd] if self.merge_mode is None else [_MERGES[self.merge_mode](fwd, bwd)]
        return [*y, *states] if states or self.merge_mode is None else y[0]

    def _keras_weights(self) -> list[torch.Tensor]:
        return self.forward_layer._keras_weights() + self.backward_layer._keras_weights()

    def _set_keras_weights(self, weights: list[torch.Tensor]) -> None:
        n = len(self.forward_layer._keras_weights())
        self.forward_layer._set_keras_weights(weights[:n])
        self.backward_layer._set_keras_weights(weights[n:])

    def reset_state(self) -> None:
        """Forget both layers' carried states (``stateful=True``); Keras 3's name."""
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self) -> None:
        """Alias of `reset_state` (the Keras 2 name)."""
        self.reset_state()

    def get_config(self) -> dict[str, Any]:
        inner = self.forward_layer.get_config()
        inner["name"] = inner["name"].removeprefix("forward_")
        inner.pop("zero_output_for_mask", None)  # set by Bidirectional itself
        config = {
            **super().get_config(),
            "layer": {"class_name": type(self.forward_layer).__name__, "config": inner},
            "merge_mode": self.merge_mode,
        }
        if self._explicit_backward:
            back = self.backward_layer.get_config()
            back.pop("zero_output_for_mask", None)
            config["backward_layer"] = {
                "class_name": type(self.backward_layer).__name__,
                "config": back,
            }
        return config
