"""Step a Sequential one observation at a time, carrying the recurrent state between calls.

For online forecasting: feed each new observation as it arrives and read the model's output at
once, without re-running the whole history. ``Stepper(model).step(x_t)`` after t+1 calls equals
``model.predict(x[:, :t+1])`` when the recurrent layers return only their last state, and
``model.predict(x)[:, t]`` when they return sequences. One step is a few small matrix products
per layer under ``torch.no_grad``, through each layer's own recurrence (``grunet.ops``, so the
fastest backend for the device), with no validation or time loop per call.

Models of GRU layers (default activations), linear Dense layers right after a GRU, and Dropout,
on CPU in float32/float64, step through `_CpuProgram` instead: one numba call per GRU layer
(its Dense fused in), states kept as numpy arrays updated in place, weights read through numpy
views of the parameters (so in-place training updates are seen; a parameter given new storage
rebinds the views).

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
from grunet.ops.cpu import kernels as K
from grunet.ops.cpu.runtime import launch

State = list[torch.Tensor]
StepFn = Callable[[torch.Tensor, State], torch.Tensor]  # (x (B, F), state) -> y; updates state


def _recurrent_step(layer: Recurrent) -> StepFn:
    """One time step of a recurrent layer: its own recurrence (grunet.ops) over T = 1."""

    def step(x: torch.Tensor, state: State) -> torch.Tensor:
        out, state[:] = layer.recur(x.unsqueeze(0), state)  # x (1, B, F) -> out (1, B, H)
        return out[0]

    return step


class _CpuProgram:
    """The whole model's step as one numba call per GRU layer (see the module docstring)."""

    def __init__(self, model, dtype: torch.dtype) -> None:
        self.dtype, self.np_dtype = (
            dtype,
            {torch.float32: np.float32, torch.float64: np.float64}[dtype],
        )
        self.params: list[torch.Tensor] = []
        self.layers: list = []  # (gru layer, dense layer or None)
        for layer in model.layers:
            if isinstance(layer, gl.GRU):
                self.layers.append([layer, None])
            elif isinstance(layer, gl.Dense):
                self.layers[-1][1] = layer
            self.params += [p for p in layer.parameters()]
        self.units = [gru.units for gru, _ in self.layers]
        self.kernel = None  # K.stream_step once launched
        self.outputs = self.layers[-1][1].units if self.layers[-1][1] is not None else None
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
        self.ptrs = [p.data_ptr() for p in self.params]
        nd = self.np_dtype
        self.calls = []
        for gru, dense in self.layers:
            H3 = 3 * gru.units
            z = np.zeros(H3, nd)
            w = [gru.weight_ih, gru.bias_ih, gru.weight_hh, gru.bias_hh]
            w_ih, b_ih, w_hh, b_hh = (z if t is None else t.detach().numpy() for t in w)
            if dense is None:
                kd, bd = np.zeros((0, 0), nd), np.zeros(0, nd)
            else:
                kd = dense.kernel.detach().numpy()
                bd = (
                    np.zeros(dense.units, nd) if dense.bias is None else dense.bias.detach().numpy()
                )
            self.calls.append((w_ih, b_ih, w_hh, b_hh, bool(gru.reset_after), kd, bd))

    def step(self, x: np.ndarray, states: list[np.ndarray], ys: list[np.ndarray]) -> np.ndarray:
        """x (B, F) contiguous; `states` (B, H) per GRU, updated in place -> the output (B, O)."""
        if [p.data_ptr() for p in self.params] != self.ptrs:
            self.bind()
        for (w_ih, b_ih, w_hh, b_hh, ra, kd, bd), h, y in zip(self.calls, states, ys, strict=True):
            if self.kernel is None:  # first call: may compile (and says so)
                launch(K.stream_step, self.dtype, x, h, w_ih, b_ih, w_hh, b_hh, ra, kd, bd, y)
                self.kernel = K.stream_step
            else:
                self.kernel(x, h, w_ih, b_ih, w_hh, b_hh, ra, kd, bd, y)
            x = h if kd.shape[0] == 0 else y
        return x


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
        self._arrays: tuple[list, list] | None = None  # program path: GRU states, output buffers

    def reset(self) -> None:
        """Forget the carried state: the next step starts a new sequence from zeros."""
        self._states = None
        self._arrays = None

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
        """`step` through `_CpuProgram`: numpy in, numba per GRU layer, numpy out."""
        prog = self._program
        as_tensor = torch.is_tensor(x_t)
        x = x_t.detach().cpu().numpy() if as_tensor else np.asarray(x_t)
        if x.dtype != prog.np_dtype or not x.flags.c_contiguous:
            x = np.ascontiguousarray(x, dtype=prog.np_dtype)
        single = x.ndim == 1
        if single:
            x = x.reshape(1, -1)  # (1, F)
        if x.ndim != 2 or x.shape[1] != self._features:
            raise self._bad_shape(x_t)
        B = x.shape[0]
        if self._arrays is None:
            hs = [np.zeros((B, H), prog.np_dtype) for H in prog.units]
            ys = [np.empty((B, c[5].shape[1]), prog.np_dtype) for c in prog.calls]
            self._arrays = (hs, ys)
            hs_t = iter([[torch.from_numpy(h)] for h in hs])  # share memory with the arrays
            self._states = [next(hs_t) if n else [] for _, n in self._fns]
        elif self._arrays[0][0].shape[0] != B:
            raise self._bad_batch(B)
        y = prog.step(x, *self._arrays).copy()  # the buffers are reused next step
        y = y[0] if single else y
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
