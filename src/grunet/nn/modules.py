"""torch.nn drop-ins whose recurrence runs through grunet.ops.

Each class subclasses its torch.nn counterpart, so construction, parameters, ``state_dict`` keys
and shapes, ``reset_parameters()`` and ``repr`` are exactly PyTorch's; only ``forward`` differs:
it runs through grunet's backend registry, and GRU adds ``reset_after``.

Legend:  N: batch  L: sequence length  D: 2 if bidirectional else 1  H_in, H_out: feature sizes
"""

from __future__ import annotations

import torch
from torch import nn

from grunet import ops


class _OpsForward:
    """forward() shared by GRU, LSTM and RNN: validate, reshape, call grunet.ops, reshape back."""

    _cell: str

    def _op_kwargs(self) -> dict:
        return {}

    def _weights(self) -> list[tuple]:
        w = self._flat_weights
        k = 4 if self.bias else 2
        groups = [w[i : i + k] for i in range(0, len(w), k)]
        return [tuple(g) if self.bias else (g[0], g[1], None, None) for g in groups]

    def _check_input(self, input: torch.Tensor) -> bool:
        name = type(self).__name__
        if isinstance(input, nn.utils.rnn.PackedSequence):
            raise TypeError(
                f"{name}: PackedSequence input is not supported; pass a padded tensor instead."
            )
        if not isinstance(input, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(input).__name__}.")
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D instead")
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: input.size(-1) must be equal to input_size. "
                f"Expected {self.input_size}, got {input.shape[-1]}"
            )
        if input.shape[1 if (input.dim() == 3 and self.batch_first) else 0] == 0:
            raise ValueError(f"{name}: the input sequence is empty (length 0).")
        return input.dim() == 3

    def _initial(self, hx, batch: int, batched: bool, like: torch.Tensor) -> torch.Tensor:
        shape = (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)
        if hx is None:
            return torch.zeros(shape, dtype=like.dtype, device=like.device)
        if not batched:
            hx = hx.unsqueeze(1)
        if tuple(hx.shape) != shape:
            raise ValueError(
                f"{type(self).__name__}: expected hidden state of shape {shape}, "
                f"got {tuple(hx.shape)}"
            )
        return hx

    def forward(self, input: torch.Tensor, hx=None):
        if self._cell == "gru":  # CPU, nothing for autograd to record: the pre-bound fast path
            fast = ops.cpu.module_forward(self, input, hx)
            if fast is not None:
                return fast
        batched = self._check_input(input)
        x = input if batched else input.unsqueeze(1)  # (L, N, H_in) or (N, L, H_in)
        if self.batch_first and batched:
            x = x.transpose(0, 1)  # (L, N, H_in)
        N = x.shape[1]
        is_lstm = self._cell == "lstm"
        if is_lstm:
            h0, c0 = (None, None) if hx is None else hx
            state = (self._initial(h0, N, batched, x), self._initial(c0, N, batched, x))
        else:
            state = self._initial(hx, N, batched, x)
        out, final = getattr(ops, self._cell)(
            x,
            state,
            self._weights(),
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            dropout=self.dropout,
            training=self.training,
            backend=self.backend,
            **self._op_kwargs(),
        )
        if self.batch_first and batched:
            out = out.transpose(0, 1)  # (N, L, D*H_out)
        if not batched:
            out = out.squeeze(1)
            final = tuple(f.squeeze(1) for f in final) if is_lstm else final.squeeze(1)
        return out, final


class GRU(_OpsForward, nn.GRU):
    r"""Drop-in for :class:`torch.nn.GRU`, plus ``reset_after`` and ``backend``.

    With ``reset_after=True`` (default; PyTorch, cuDNN, Keras default):

    .. math::
        r_t = \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t = z_t \odot h_{t-1} + (1 - z_t) \odot n_t

    With ``reset_after=False`` (the article's equations, Cho et al. 2014):
    :math:`n_t = \tanh(W_{in} x_t + b_{in} + W_{hn} (r_t \odot h_{t-1}) + b_{hn})`.
    The article writes :math:`h_t = (1 - z_t) h_{t-1} + z_t n_t` with a "write" gate; that is this
    module with the z rows of ``weight_ih``, ``weight_hh`` and both biases negated.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
        device, dtype: exactly as :class:`torch.nn.GRU`.
        reset_after: where the reset gate applies (above). Default True.
        backend: "auto" (fastest available), or a name from ``grunet.ops.backends("gru")``.

    Inputs: ``input`` (L, N, H_in), (N, L, H_in) with ``batch_first``, or (L, H_in) unbatched;
    ``hx`` (D*num_layers, N, H_out) or None for zeros.
    Outputs: ``output`` (L, N, D*H_out) (batch-first if set), ``h_n`` (D*num_layers, N, H_out).

    Examples:
        >>> import torch, grunet
        >>> gru = grunet.nn.GRU(8, 16, num_layers=2, batch_first=True, reset_after=False)
        >>> out, h_n = gru(torch.randn(4, 10, 8))
        >>> tuple(out.shape), tuple(h_n.shape)
        ((4, 10, 16), (2, 4, 16))
    """

    _cell = "gru"

    def __init__(self, *args, reset_after: bool = True, backend: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.reset_after = bool(reset_after)
        self.backend = backend

    def _op_kwargs(self) -> dict:
        return {"reset_after": self.reset_after}

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if not self.reset_after:
            s += ", reset_after=False"
        if self.backend != "auto":
            s += f", backend={self.backend!r}"
        return s

    @classmethod
    def from_torch(cls, module: nn.GRU, reset_after: bool = True) -> GRU:
        """A grunet GRU with `module`'s configuration and parameters (see ``grunet.nn.convert``)."""
        from grunet.nn.convert import from_torch

        return from_torch(module, reset_after=reset_after)

    def to_torch(self) -> nn.GRU:
        """A ``torch.nn.GRU`` with these parameters; raises for reset_after=False."""
        from grunet.nn.convert import to_torch

        return to_torch(self)


class LSTM(_OpsForward, nn.LSTM):
    """Drop-in for :class:`torch.nn.LSTM` (no ``proj_size``) running through grunet.ops."""

    _cell = "lstm"

    def __init__(self, *args, backend: str = "auto", **kwargs):
        if kwargs.get("proj_size", 0):
            raise ValueError("grunet.nn.LSTM: proj_size is not supported; use torch.nn.LSTM.")
        super().__init__(*args, **kwargs)
        self.backend = backend


class RNN(_OpsForward, nn.RNN):
    """Drop-in for :class:`torch.nn.RNN` running through grunet.ops (tanh or relu)."""

    _cell = "rnn"

    def __init__(self, *args, backend: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.backend = backend

    def _op_kwargs(self) -> dict:
        return {"activation": self.nonlinearity}
