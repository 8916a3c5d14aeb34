"""Step a Sequential one observation at a time, carrying the recurrent state between calls.

For online forecasting: feed each new observation as it arrives and read the model's output at
once, without re-running the whole history. ``Stepper(model).step(x_t)`` after t+1 calls equals
``model.predict(x[:, :t+1])`` when the recurrent layers return only their last state, and
``model.predict(x)[:, t]`` when they return sequences. One step is a few small matrix products
per layer under ``torch.no_grad``, through each layer's own recurrence (``grunet.ops``, so the
fastest backend for the device), with no validation or time loop per call.

Legend:  B: batch  F: features  H: units

Examples:
    >>> import numpy as np, grunet as gn
    >>> from grunet.streaming import Stepper
    >>> model = gn.Sequential([gn.layers.GRU(8, input_shape=(None, 2)), gn.layers.Dense(1)])
    >>> stepper = Stepper(model)
    >>> stepper.step(np.zeros(2, dtype=np.float32)).shape
    (1,)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from grunet import layers as gl
from grunet.errors import DataError
from grunet.layers.recurrent import Recurrent

State = list[torch.Tensor]
StepFn = Callable[[torch.Tensor, State], torch.Tensor]  # (x (B, F), state) -> y; updates state


def _recurrent_step(layer: Recurrent) -> StepFn:
    """One time step of a recurrent layer: its own recurrence (grunet.ops) over T = 1."""

    def step(x: torch.Tensor, state: State) -> torch.Tensor:
        out, state[:] = layer.recur(x.unsqueeze(0), state)  # x (1, B, F) -> out (1, B, H)
        return out[0]

    return step


class Stepper:
    """Run a built Sequential one time step at a time (online inference).

    Supports stacked GRU (both variants), LSTM and SimpleRNN layers, Dense and Dropout (identity,
    as in ``predict``). Bidirectional and ``go_backwards`` layers need the whole sequence and are
    refused. The stepper reads the model's parameters live, so later training is visible.

    Args:
        model: a built ``grunet.Sequential``.

    Raises:
        DataError: the model is not built or holds a layer that cannot stream.
    """

    def __init__(self, model) -> None:
        if not model.built:
            raise DataError("Stepper: the model is not built; give its first layer input_shape=...")
        self._fns: list[tuple[StepFn, int]] = []  # (step function, number of state tensors)
        self._units: list[int] = []
        dtype, device = model.dtype_device()
        self._dtype, self._device = dtype, device
        self._features = model.build_input_shape[-1]
        for layer in model.layers:
            if isinstance(layer, gl.Bidirectional) or getattr(layer, "go_backwards", False):
                raise DataError(
                    f"Stepper: layer {layer.name!r} reads the sequence backwards "
                    f"({type(layer).__name__}), so its output at step t depends on later inputs; "
                    "it cannot run one step at a time. Use model.predict on whole windows."
                )
            if isinstance(layer, Recurrent):
                self._fns.append((_recurrent_step(layer), layer._n_states))
                self._units.append(layer.units)
            elif isinstance(layer, gl.Dense):
                self._fns.append((lambda x, state, layer=layer: layer(x), 0))
                self._units.append(0)
            elif not isinstance(layer, gl.Dropout):
                raise DataError(f"Stepper: layer type {type(layer).__name__} cannot be stepped.")
        self._states: list[State] | None = None

    def reset(self) -> None:
        """Forget the carried state: the next step starts a new sequence from zeros."""
        self._states = None

    @property
    def states(self) -> list[list[torch.Tensor]] | None:
        """Per layer, its state tensors ((B, H); LSTM: h then c); None before the first step."""
        return self._states

    @torch.no_grad()
    def step(self, x_t):
        """Feed one observation per sequence and return the model's output for it.

        Args:
            x_t: (F,) for one sequence or (B, F) for B sequences (numpy, list or torch).

        Returns:
            The output for this step, (out,) or (B, out): a numpy array, or a tensor if `x_t` was.
        """
        as_tensor = torch.is_tensor(x_t)
        x = torch.as_tensor(x_t, dtype=self._dtype, device=self._device)
        single = x.dim() == 1
        if single:
            x = x.unsqueeze(0)  # (1, F)
        if x.dim() != 2 or x.shape[1] != self._features:
            raise DataError(
                f"Stepper.step expects shape ({self._features},) or (batch, {self._features}), "
                f"got {tuple(np.shape(x_t))}."
            )
        B = x.shape[0]
        if self._states is None:
            self._states = [
                [x.new_zeros(B, H) for _ in range(n)]
                for (_, n), H in zip(self._fns, self._units, strict=False)
            ]
        elif self._states and any(s and s[0].shape[0] != B for s in self._states):
            raise DataError(
                f"Stepper.step got a batch of {B} but the carried state is for another batch "
                "size; call reset() to start new sequences."
            )
        for (fn, _), state in zip(self._fns, self._states, strict=False):
            x = fn(x, state)
        y = x[0] if single else x
        return y if as_tensor else y.cpu().numpy()


__all__ = ["Stepper"]
