"""Keras-style recurrent layers: GRU, LSTM, SimpleRNN. No math here: grunet.ops runs it.

Parameters are stored in PyTorch's layout (rows r, z, n for the GRU) so the recurrence runs without
conversion; ``get_weights`` / ``set_weights`` speak Keras's layout (kernel (I, G*H), recurrent_kernel
(H, G*H), GRU gate order z, r, h) and Keras's order.

Legend:  B: batch  T: time  F: features  H: units  G: gates (GRU 3, LSTM 4, SimpleRNN 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from grunet import ops
from grunet.errors import DataError
from grunet.layers import regularizers
from grunet.layers.base import Layer, Shape
from grunet.layers.initializers import glorot_uniform, orthogonal


@dataclass(frozen=True)
class _CellSpec:
    op: str  # grunet.ops function
    gates: int
    keras_blocks: tuple[int, ...]  # torch block index of each Keras block


def _reorder(w: torch.Tensor, blocks: tuple[int, ...], H: int) -> torch.Tensor:
    """Rows of `w` (G*H, ...) reordered so block j is block blocks[j] of the input."""
    return torch.cat([w[b * H : (b + 1) * H] for b in blocks], dim=0)


def _inverse(blocks: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(range(len(blocks)), key=lambda j: blocks[j]))


def _check_mask(layer: Layer, mask, x: torch.Tensor) -> torch.Tensor | None:
    """The (B, T) bool mask as a tensor on x's device, or None; x is (B, T, F)."""
    if mask is None:
        return None
    mask = torch.as_tensor(mask, device=x.device)
    if tuple(mask.shape) != tuple(x.shape[:2]):
        raise DataError(
            f"{type(layer).__name__} layer {layer.name!r}: mask must have shape (batch, timesteps) "
            f"= {tuple(x.shape[:2])}, got {tuple(mask.shape)}."
        )
    return mask.bool()


def _regularizer_config(layer: Layer, kinds: tuple[str, ...]) -> dict[str, Any]:
    """``{"<kind>_regularizer": {"class_name": ..., "config": ...}}`` for the ones set."""
    out = {}
    for kind in kinds:
        reg = getattr(layer, f"{kind}_regularizer")
        if reg is not None:
            out[f"{kind}_regularizer"] = regularizers.serialize(reg)
    return out


class Recurrent(Layer):
    _spec: _CellSpec
    weight_ih: nn.Parameter  # (G*H, F), PyTorch's layout, set by build()
    weight_hh: nn.Parameter  # (G*H, H)
    bias_ih: nn.Parameter | None  # (G*H,); None without use_bias
    bias_hh: nn.Parameter | None  # (G*H,); only for cells with a recurrent bias
    supports_masking = True

    def __init__(
        self,
        units: int,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        use_bias: bool = True,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        backend: str = "auto",
        zero_output_for_mask: bool = False,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(
                f"{type(self).__name__}: units must be a positive integer, got {units!r}."
            )
        for label, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{type(self).__name__}: {label} must be in [0, 1), got {rate!r}.")
        ops.get_activation(activation)
        ops.get_activation(recurrent_activation)
        self.units = units
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.use_bias = use_bias
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.backend = backend
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._states: list[torch.Tensor] | None = None  # carried when stateful
        if self.input_shape is not None:
            self.maybe_build(self.input_shape)

    # -- parameters -------------------------------------------------------------------------
    @property
    def _has_recurrent_bias(self) -> bool:
        return False

    def build(self, input_shape: Shape) -> None:
        F, H, G = input_shape[-1], self.units, self._spec.gates
        blocks = _inverse(self._spec.keras_blocks)
        factory: dict[str, Any] = {"dtype": torch.get_default_dtype()}
        kernel = glorot_uniform((F, G * H), **factory)  # Keras layout (F, G*H)
        recurrent = orthogonal((H, G * H), **factory)  # Keras layout (H, G*H)
        self.weight_ih = nn.Parameter(_reorder(kernel.T, blocks, H))  # (G*H, F)
        self.weight_hh = nn.Parameter(_reorder(recurrent.T, blocks, H))  # (G*H, H)
        self.bias_ih = nn.Parameter(self._initial_bias(**factory)) if self.use_bias else None
        self.bias_hh = (
            nn.Parameter(torch.zeros(G * H, **factory)) if self._has_recurrent_bias else None
        )

    def _initial_bias(self, **factory) -> torch.Tensor:
        return torch.zeros(self._spec.gates * self.units, **factory)

    def _keras_weights(self) -> list[torch.Tensor]:
        H, blocks = self.units, self._spec.keras_blocks
        weights = [_reorder(self.weight_ih, blocks, H).T, _reorder(self.weight_hh, blocks, H).T]
        if self.use_bias:
            b = _reorder(self._require(self.bias_ih, "bias_ih"), blocks, H)
            if self._has_recurrent_bias:
                b_hh = _reorder(self._require(self.bias_hh, "bias_hh"), blocks, H)
                b = torch.stack([b, b_hh])  # (2, G*H)
            weights.append(b)
        return weights

    def _set_keras_weights(self, weights: list[torch.Tensor]) -> None:
        H, blocks = self.units, _inverse(self._spec.keras_blocks)
        self.weight_ih.copy_(_reorder(weights[0].T, blocks, H))
        self.weight_hh.copy_(_reorder(weights[1].T, blocks, H))
        if self.use_bias:
            b = weights[2]
            if self._has_recurrent_bias:
                self._require(self.bias_hh, "bias_hh").copy_(_reorder(b[1], blocks, H))
                b = b[0]
            self._require(self.bias_ih, "bias_ih").copy_(_reorder(b, blocks, H))

    def _regularized(self) -> list[tuple[Any, torch.Tensor | None]]:
        if not self.built:
            return []
        biases: list[torch.Tensor] = [b for b in (self.bias_ih, self.bias_hh) if b is not None]
        bias = torch.cat(biases) if biases else None  # Keras's one bias array (1 or 2 rows)
        return [
            (self.kernel_regularizer, self.weight_ih),
            (self.recurrent_regularizer, self.weight_hh),
            (self.bias_regularizer, bias),
        ]

    # -- running ----------------------------------------------------------------------------
    @property
    def _n_states(self) -> int:
        return 1

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.units) if self.return_sequences else (self.units,)

    def _op_kwargs(self) -> dict[str, Any]:
        return {"activation": self.activation, "recurrent_activation": self.recurrent_activation}

    def reset_state(self) -> None:
        """Forget the state carried between batches (``stateful=True``); Keras 3's name."""
        self._states = None

    def reset_states(self) -> None:
        """Alias of `reset_state` (the Keras 2 name)."""
        self.reset_state()

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None):
        """The output's mask: the input mask when returning sequences, else None (Keras)."""
        out = mask if self.return_sequences else None
        return [out] + [None] * self._n_states if self.return_state else out

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 3:
            raise DataError(
                f"{type(self).__name__} layer {self.name!r} expects input of shape "
                f"(batch, timesteps, features), got shape {tuple(x.shape)}."
            )
        if x.shape[1] == 0:
            raise DataError(f"{type(self).__name__} layer {self.name!r} got 0 timesteps.")
        if self.built and x.shape[2] != self.weight_ih.shape[1]:
            raise DataError(
                f"{type(self).__name__} layer {self.name!r} was built for "
                f"{self.weight_ih.shape[1]} features, got {x.shape[2]}."
            )

    def _initial_states(self, x: torch.Tensor, initial_state) -> list[torch.Tensor]:
        B = x.shape[1]
        if initial_state is not None:
            states = [initial_state] if torch.is_tensor(initial_state) else list(initial_state)
            return [torch.as_tensor(s, dtype=x.dtype, device=x.device) for s in states]
        if self.stateful and self._states is not None and self._states[0].shape[0] == B:
            return self._states
        return [x.new_zeros(B, self.units) for _ in range(self._n_states)]

    def _dropout_mask(self, shape, rate: float, like: torch.Tensor) -> torch.Tensor:
        # One mask per sequence, the same at every step (Keras semantics).
        return torch.bernoulli(like.new_full(shape, 1.0 - rate)) / (1.0 - rate)

    def recur(
        self,
        xt: torch.Tensor,
        states: list[torch.Tensor],
        recurrent_mask: torch.Tensor | None = None,
        step_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run this layer's recurrence through grunet.ops (its backend) from the given states.

        Args:
            xt: (T, B, F) inputs, time-major, already flipped for go_backwards.
            states: the initial states, each (B, H) (LSTM: h, c).
            recurrent_mask: (B, H) recurrent-dropout mask or None.
            step_mask: (T, B) bool or None, in xt's order: False carries the states over a step.

        Returns:
            out (T, B, H) and the final states, each (B, H).
        """
        stacked = [s.unsqueeze(0) for s in states]  # (1, B, H) each
        state = stacked[0] if self._n_states == 1 else tuple(stacked)
        weights = [(self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)]
        out, final = getattr(ops, self._spec.op)(
            xt,
            state,
            weights,
            backend=self.backend,
            recurrent_mask=recurrent_mask,
            step_mask=step_mask,
            **self._op_kwargs(),
        )
        return out, [f[0] for f in final] if self._n_states > 1 else [final[0]]

    def forward(self, x: torch.Tensor, initial_state=None, mask=None):
        """Run the layer.

        Args:
            x: (B, T, F) inputs.
            initial_state: a (B, H) tensor, or a list of them (LSTM: h, c); None for zeros.
            mask: (B, T) bool, True at the steps that hold data, or None. Keras's semantics: at a
                masked step the states are carried over and the output repeats the last unmasked
                step's output (zeros before the first one; zeros at every masked step when
                ``zero_output_for_mask``, which Bidirectional sets for sequences).

        Returns:
            (B, H), or (B, T, H) with ``return_sequences``; with ``return_state`` a list
            ``[output, *final_states]``.
        """
        self._check(x)
        self.maybe_build(tuple(x.shape[1:]))
        mask = _check_mask(self, mask, x)
        xt = x.transpose(0, 1)  # (T, B, F)
        steps = None if mask is None else mask.t()  # (T, B)
        if self.go_backwards:
            xt = xt.flip(0)
            steps = None if steps is None else steps.flip(0)
        B = xt.shape[1]
        if self.training and self.dropout > 0:
            xt = xt * self._dropout_mask((B, xt.shape[2]), self.dropout, xt)
        rec_mask = None
        if self.training and self.recurrent_dropout > 0:
            rec_mask = self._dropout_mask((B, self.units), self.recurrent_dropout, xt)
        out, finals = self.recur(xt, self._initial_states(xt, initial_state), rec_mask, steps)
        if steps is not None:
            # out holds the carried state; Keras's output is the last unmasked step's output,
            # zeros before any (or at every masked step with zero_output_for_mask).
            shown = steps if self.zero_output_for_mask else steps.int().cummax(0).values.bool()
            out = torch.where(shown.unsqueeze(-1), out, out.new_zeros(()))
        if self.stateful:
            self._states = [f.detach() for f in finals]
        y = out.transpose(0, 1) if self.return_sequences else out[-1]  # (B, T, H) or (B, H)
        return [y, *finals] if self.return_state else y

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "recurrent_activation": self.recurrent_activation,
            "use_bias": self.use_bias,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "backend": self.backend,
            **({"zero_output_for_mask": True} if self.zero_output_for_mask else {}),
            **_regularizer_config(self, ("kernel", "recurrent", "bias")),
        }

    def extra_repr(self) -> str:
        return f"name={self.name!r}, units={self.units}"


class GRU(Recurrent):
    """Keras-style GRU layer (``keras.layers.GRU``): input (B, T, F), output (B, H) or (B, T, H).

    reset_after=True (Keras default, cuDNN-compatible), with z, r, h in Keras's order::

        z = sigmoid(x W_z + b_z + h U_z + c_z)        r = sigmoid(x W_r + b_r + h U_r + c_r)
        hh = tanh(x W_h + b_h + r * (h U_h + c_h))    h' = z * h + (1 - z) * hh

    reset_after=False (the article): ``hh = tanh(x W_h + b_h + (r * h) U_h)``, one bias (3H,).

    Args:
        units: H. activation, recurrent_activation: Keras names. use_bias: add biases.
        dropout, recurrent_dropout: rates in [0, 1) for inputs and for the recurrent state.
        return_sequences: output every step (B, T, H) rather than the last (B, H).
        return_state: also return the final state. go_backwards: process time in reverse.
        stateful: carry the final state into the next batch (``reset_states()`` clears it).
        reset_after: see above. backend: grunet.ops backend ("auto" picks the fastest).
        input_shape: (T, F) to build at construction.

    Weights (``get_weights``): kernel (F, 3H), recurrent_kernel (H, 3H), bias (2, 3H) or (3H,).

    Examples:
        >>> import grunet as gn
        >>> layer = gn.layers.GRU(50, input_shape=(1, 1))
        >>> layer.count_params()
        7950
    """

    _spec = _CellSpec("gru", 3, (1, 0, 2))

    def __init__(self, units: int, *args: Any, reset_after: bool = True, **kwargs: Any) -> None:
        self.reset_after = bool(reset_after)
        super().__init__(units, *args, **kwargs)

    @property
    def _has_recurrent_bias(self) -> bool:
        return self.use_bias and self.reset_after

    def _op_kwargs(self) -> dict[str, Any]:
        return {**super()._op_kwargs(), "reset_after": self.reset_after}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reset_after": self.reset_after}


class LSTM(Recurrent):
    """Keras-style LSTM layer. Weights: kernel (F, 4H), recurrent_kernel (H, 4H), bias (4H,),
    gates (i, f, c, o). ``unit_forget_bias`` starts the forget-gate bias at 1, as Keras does.
    """

    _spec = _CellSpec("lstm", 4, (0, 1, 2, 3))

    def __init__(self, units: int, *args: Any, unit_forget_bias: bool = True, **kwargs: Any):
        self.unit_forget_bias = unit_forget_bias
        super().__init__(units, *args, **kwargs)

    @property
    def _n_states(self) -> int:
        return 2

    def _initial_bias(self, **factory) -> torch.Tensor:
        b = super()._initial_bias(**factory)
        if self.unit_forget_bias:
            b[self.units : 2 * self.units] = 1.0
        return b

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class SimpleRNN(Recurrent):
    """Keras-style SimpleRNN: ``h' = activation(x W + h U + b)``; kernel (F, H), recurrent (H, H)."""

    _spec = _CellSpec("rnn", 1, (0,))

    def __init__(self, units: int, activation: str = "tanh", **kwargs: Any) -> None:
        super().__init__(units, activation, **kwargs)

    def _op_kwargs(self) -> dict[str, Any]:
        return {"activation": self.activation}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["recurrent_activation"]
        return config
