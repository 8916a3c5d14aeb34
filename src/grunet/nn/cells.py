"""torch.nn cell drop-ins (GRUCell, LSTMCell, RNNCell) whose one step runs through grunet.ops.

Each class subclasses its torch.nn counterpart: construction, parameters, ``state_dict`` keys,
initialisation, ``repr``, unbatched input and torch's checks (same exception types and messages)
are PyTorch's. The step is one step of the backend's recurrence (T = 1), chosen through the same
registry as the sequence modules; GRUCell adds ``reset_after``.

Legend:  N: batch  H_in: input features  H: hidden units
"""

from __future__ import annotations

import torch
from torch import nn

from grunet.ops.registry import Call, resolve

_DTYPE_NAMES = {torch.float64: "Double", torch.float32: "Float", torch.float16: "Half"}


def _dtype_name(dtype: torch.dtype) -> str:
    return _DTYPE_NAMES.get(dtype, str(dtype).removeprefix("torch."))


class _CellForward:
    """forward() shared by the cells: torch's checks, then one step of grunet.ops's recurrence."""

    _cell: str
    _states: int = 1  # LSTM: 2 (h, c)

    def __init__(self, *args, backend: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)  # torch's module (the next class in the MRO)
        self.backend = backend  # grunet.ops backend name: "auto" or one of ops.backends(cell)

    def _op_kwargs(self) -> dict:
        return {}

    def _check(self, input: torch.Tensor, states: list[torch.Tensor]) -> None:
        """ATen's checks of a cell's input and states (check_rnn_cell_forward_*)."""
        if input.size(1) != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {input.size(1)} expected {self.input_size}"
            )
        for i, h in enumerate(states):
            if input.size(0) != h.size(0):
                raise RuntimeError(
                    f"Input batch size {input.size(0)} doesn't match hidden{i} batch size "
                    f"{h.size(0)}"
                )
            if h.size(1) != self.hidden_size:
                raise RuntimeError(
                    f"hidden{i} has inconsistent hidden_size: got {h.size(1)}, "
                    f"expected {self.hidden_size}"
                )
        if input.dtype != self.weight_ih.dtype:
            raise RuntimeError(
                "mat1 and mat2 must have the same dtype, but got "
                f"{_dtype_name(input.dtype)} and {_dtype_name(self.weight_ih.dtype)}"
            )

    def forward(self, input: torch.Tensor, hx=None):
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        given = [] if hx is None else (list(hx) if self._states == 2 else [hx])
        for i, h in enumerate(given):
            if h.dim() not in (1, 2):
                what = f"hx[{i}]" if self._states == 2 else "hidden"
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {h.dim()}D instead")
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)  # (N, H_in)
        if hx is None:
            zeros = torch.zeros(x.size(0), self.hidden_size, dtype=x.dtype, device=x.device)
            states = [zeros] * self._states
        else:
            states = [h if batched else h.unsqueeze(0) for h in given]  # (N, H) each
        self._check(x, states)
        kwargs = self._op_kwargs()
        call = Call.of(
            self._cell,
            x,
            reset_after=kwargs.get("reset_after", True),
            default_activations=kwargs.get("activation", "tanh") == "tanh",
        )
        fn = resolve(call, self.backend).fn
        state = tuple(states) if self._states == 2 else states[0]
        weights = (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        _, final = fn(x.unsqueeze(0), state, *weights, **kwargs)  # a one-step recurrence
        if not batched:
            final = tuple(f.squeeze(0) for f in final) if self._states == 2 else final.squeeze(0)
        return final


class GRUCell(_CellForward, nn.GRUCell):
    r"""Drop-in for :class:`torch.nn.GRUCell`, plus ``reset_after`` and ``backend``.

    One step of `grunet.nn.GRU`: with ``reset_after=True`` (torch's cell)
    :math:`n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn}))`; with False (the
    article) :math:`n = \tanh(W_{in} x + b_{in} + W_{hn} (r \odot h) + b_{hn})`;
    :math:`h' = z \odot h + (1 - z) \odot n`.

    Inputs: ``input`` (N, H_in) or (H_in,); ``hx`` (N, H) or (H,), None for zeros.
    Output: ``h'`` (N, H) or (H,).

    Examples:
        >>> import torch, grunet
        >>> cell = grunet.nn.GRUCell(3, 5, reset_after=False)
        >>> tuple(cell(torch.randn(2, 3)).shape)
        (2, 5)
    """

    _cell = "gru"

    def __init__(self, *args, reset_after: bool = True, backend: str = "auto", **kwargs):
        super().__init__(*args, backend=backend, **kwargs)
        self.reset_after = bool(reset_after)

    def _op_kwargs(self) -> dict:
        return {"reset_after": self.reset_after}

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.reset_after else s + ", reset_after=False"


class LSTMCell(_CellForward, nn.LSTMCell):
    """Drop-in for :class:`torch.nn.LSTMCell`: ``(h', c') = cell(input, (h, c))``; gates (i, f, g, o)."""

    _cell = "lstm"
    _states = 2


class RNNCell(_CellForward, nn.RNNCell):
    """Drop-in for :class:`torch.nn.RNNCell` (``nonlinearity`` "tanh" or "relu")."""

    _cell = "rnn"

    def _op_kwargs(self) -> dict:
        # Only a non-default activation is passed: backends that run tanh only take no such kwarg.
        return {} if self.nonlinearity == "tanh" else {"activation": self.nonlinearity}


__all__ = ["GRUCell", "LSTMCell", "RNNCell"]
