"""Step a Sequential one observation at a time, carrying the recurrent state between calls.

For online forecasting: feed each new observation as it arrives and read the model's output at
once, without re-running the whole history. ``Stepper(model).step(x_t)`` after t+1 calls equals
``model.predict(x[:, :t+1])`` when the recurrent layers return only their last state, and
``model.predict(x)[:, t]`` when they return sequences. One step is a few small matrix products
per layer under ``torch.no_grad``, through each layer's own recurrence (``grunet.ops``, so the
fastest backend for the device), with no validation or time loop per call.

Models of GRU layers (default activations), linear Dense layers right after a GRU, and Dropout,
on CPU in float32/float64, step through `_CpuProgram` instead: one numba call per observation
for the whole model (`grunet.ops.cpu.stream_kernels.model_step`), states kept as numpy arrays
updated in place, weights read through numpy views of the parameters (so in-place training
updates are seen; a parameter given new storage rebinds the views).

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
from grunet.ops.cpu import stream_kernels as SK
from grunet.ops.cpu.runtime import launch

State = list[torch.Tensor]
StepFn = Callable[[torch.Tensor, State], torch.Tensor]  # (x (B, F), state) -> y; updates state
_DATA_PTR = torch.Tensor.data_ptr


def _recurrent_step(layer: Recurrent) -> StepFn:
    """One time step of a recurrent layer: its own recurrence (grunet.ops) over T = 1."""

    def step(x: torch.Tensor, state: State) -> torch.Tensor:
        out, state[:] = layer.recur(x.unsqueeze(0), state)  # x (1, B, F) -> out (1, B, H)
        return out[0]

    return step


class _CpuProgram:
    """The whole model's step as one numba call (see the module docstring).

    `stream_kernels.model_step` reads every weight and state through one table of addresses:
    numpy views of the parameters (bound again when one gets new storage) and the states
    (B, H) per GRU layer, which this program owns and the kernel updates in place.
    """

    def __init__(self, model, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self.np_dtype = np.dtype({torch.float32: np.float32, torch.float64: np.float64}[dtype])
        self.params: list[torch.Tensor] = []
        self.layers: list = []  # (gru layer, dense layer or None)
        for layer in model.layers:
            if isinstance(layer, gl.GRU):
                self.layers.append([layer, None])
            elif isinstance(layer, gl.Dense):
                self.layers[-1][1] = layer
            self.params += [p for p in layer.parameters()]
        self.units = [gru.units for gru, _ in self.layers]
        last = self.layers[-1][1]
        self.outputs = last.units if last is not None else self.units[-1]
        self.launched = False
        self.batch = 0  # rows of the states, once started
        self.states: list[np.ndarray] = []  # (B, H) per GRU layer, once started
        self.bind()

    @staticmethod
    def supports(model, dtype: torch.dtype, device: torch.device) -> bool:
        """Whether `model` is GRU layers, each optionally followed by one linear Dense, and
        Dropout, on CPU in float32/float64 (the kernels' contract)."""
        if torch.device(device).type != "cpu" or dtype not in (torch.float32, torch.float64):
            return False
        after_gru = False
        for layer in model.layers:
            if isinstance(layer, gl.GRU):
                if (layer.activation, layer.recurrent_activation) != ("tanh", "sigmoid"):
                    return False
                if layer.backend not in ("auto", "cpu") or layer.go_backwards:
                    return False
                after_gru = True
            elif isinstance(layer, gl.Dense):
                if not after_gru or layer.activation not in (None, "linear"):
                    return False
                after_gru = False
            elif not isinstance(layer, gl.Dropout):
                return False
        return bool(model.layers) and isinstance(_first_compute(model), gl.GRU)

    def bind(self) -> None:
        """numpy views of every parameter; `ptrs` tells when one got new storage."""
        self.ptrs = list(map(_DATA_PTR, self.params))
        nd = self.np_dtype
        self.arrays = []  # keeps every address in the table alive
        for gru, dense in self.layers:
            H3 = 3 * gru.units
            w = [gru.weight_ih, gru.weight_hh, gru.bias_ih, gru.bias_hh]
            arrays = [np.zeros(H3, nd) if t is None else t.detach().numpy() for t in w]
            if dense is not None:
                bias = dense.bias
                arrays += [dense.kernel.detach().numpy()]
                arrays += [np.zeros(dense.units, nd) if bias is None else bias.detach().numpy()]
            self.arrays.append(arrays)
        if self.states:
            self._table()

    def start(self, batch: int) -> None:
        """Zero states for `batch` rows."""
        self.batch = batch  # rows of the states (read on every step: kept, not derived)
        self.states = [np.zeros((batch, H), self.np_dtype) for H in self.units]
        self._table()

    def _table(self) -> None:
        rows = []
        for i, (gru, _) in enumerate(self.layers):
            arrays = self.arrays[i]  # w_ih, w_hh, b_ih, b_hh[, Dense kernel, bias]
            rows.append(SK.layer_row(*arrays[:4], gru.reset_after, self.states[i], *arrays[4:]))
        self.table = SK.model_table(rows, self.batch)

    def step(self, x: np.ndarray) -> np.ndarray:
        """One observation of the `batch` started rows, x flat (B * F,) -> y flat (B * outputs,),
        a new array (earlier outputs are never overwritten); the states advance in place."""
        if list(map(_DATA_PTR, self.params)) != self.ptrs:
            self.bind()
        y = np.empty(self.batch * self.outputs, self.np_dtype)
        if self.launched:
            SK.model_step(self.table, x, y)
        else:  # first call: may compile (and says so)
            launch(SK.model_step, self.dtype, self.table, x, y)
            self.launched = True
        return y


def _first_compute(model):
    return next((la for la in model.layers if not isinstance(la, gl.Dropout)), None)


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
        self._program = (
            _CpuProgram(model, dtype) if _CpuProgram.supports(model, dtype, device) else None
        )

    def reset(self) -> None:
        """Forget the carried state: the next step starts a new sequence from zeros."""
        self._states = None

    def _bad_shape(self, x_t) -> DataError:
        return DataError(
            f"Stepper.step expects shape ({self._features},) or (batch, {self._features}), "
            f"got {tuple(np.shape(x_t))}."
        )

    def _bad_batch(self, B: int) -> DataError:
        return DataError(
            f"Stepper.step got a batch of {B} but the carried state is for another batch "
            "size; call reset() to start new sequences."
        )

    def _step_program(self, x_t):
        """`step` through `_CpuProgram`: numpy in, one numba call, numpy out."""
        prog = self._program
        as_tensor = False
        if type(x_t) is np.ndarray:
            x = x_t
        elif torch.is_tensor(x_t):
            as_tensor, x = True, x_t.detach().cpu().numpy()
        else:
            x = np.asarray(x_t)
        if x.dtype is not prog.np_dtype or not x.flags.c_contiguous:
            x = np.ascontiguousarray(x, dtype=prog.np_dtype)
        shape = x.shape
        if len(shape) == 1:  # one sequence: the kernel reads it as it is, (F,) = (1 * F,)
            B = 1
        elif len(shape) == 2:
            B = shape[0]
            x = x.reshape(-1)
        else:
            raise self._bad_shape(x_t)
        if shape[-1] != self._features or B == 0:
            raise self._bad_shape(x_t)
        if self._states is None:
            prog.start(B)
            hs_t = iter([[torch.from_numpy(h)] for h in prog.states])  # share their memory
            self._states = [next(hs_t) if n else [] for _, n in self._fns]
        elif prog.batch != B:
            raise self._bad_batch(B)
        y = prog.step(x)
        if len(shape) == 2:
            y = y.reshape(B, -1)
        return torch.from_numpy(y) if as_tensor else y

    @property
    def states(self) -> list[list[torch.Tensor]] | None:
        """Per layer, its state tensors ((B, H); LSTM: h then c); None before the first step."""
        return self._states

    def step(self, x_t):
        """Feed one observation per sequence and return the model's output for it.

        Args:
            x_t: (F,) for one sequence or (B, F) for B sequences (numpy, list or torch).

        Returns:
            The output for this step, (out,) or (B, out): a numpy array, or a tensor if `x_t` was.
        """
        if self._program is not None:  # no autograd involved: no no_grad context to pay for
            return self._step_program(x_t)
        return self._step_torch(x_t)

    @torch.no_grad()
    def _step_torch(self, x_t):
        """`step` through each layer's own torch call."""
        as_tensor = torch.is_tensor(x_t)
        x = torch.as_tensor(x_t, dtype=self._dtype, device=self._device)
        single = x.dim() == 1
        if single:
            x = x.unsqueeze(0)  # (1, F)
        if x.dim() != 2 or x.shape[1] != self._features:
            raise self._bad_shape(x_t)
        B = x.shape[0]
        if self._states is None:
            self._states = [
                [x.new_zeros(B, H) for _ in range(n)]
                for (_, n), H in zip(self._fns, self._units, strict=False)
            ]
        elif self._states and any(s and s[0].shape[0] != B for s in self._states):
            raise self._bad_batch(B)
        for (fn, _), state in zip(self._fns, self._states, strict=False):
            x = fn(x, state)
        y = x[0] if single else x
        return y if as_tensor else y.cpu().numpy()


__all__ = ["Stepper"]
