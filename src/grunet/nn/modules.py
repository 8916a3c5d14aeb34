"""torch.nn drop-ins whose recurrence runs through grunet.ops.

Each class subclasses its torch.nn counterpart, so construction, parameters, ``state_dict`` keys
and shapes, ``reset_parameters()`` and ``repr`` are exactly PyTorch's; only ``forward`` differs:
it runs through grunet's backend registry, and GRU adds ``reset_after``. GRU's ``__call__`` sends a
call that torch would reduce to ``self.forward(...)`` (no hooks, not compiled, not traced) to the
CPU inference path directly, and every other call to torch's ``__call__``.

Legend:  N: batch  L: sequence length  D: 2 if bidirectional else 1  H_in, H_out: feature sizes
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from grunet import ops
from grunet.nn.copying import copy_module, refuse_reset_before
from grunet.ops.cpu import module_forward, module_train_forward

# What torch's `nn.Module.__call__` reads to decide that a call is just ``self.forward(...)``
# (`_wrapped_call_impl`, `_call_impl`): no compiled call, no module or global hooks, no
# torch.jit tracing. GRU.__call__ reads the same (see there); on a torch without one of these
# names it is not defined and calls go through torch's own __call__.
_TM = torch.nn.modules.module
_is_tracing = getattr(torch._C, "_is_tracing", None) or torch.jit.is_tracing
_TORCH_CALL = getattr(nn.Module, "_wrapped_call_impl", None)
_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
_FAST_CALL = (
    hasattr(torch._C, "_is_tracing")  # the same as bool(torch._C._get_tracing_state())
    and _TORCH_CALL is not None
    and hasattr(nn.Module, "_compiled_call_impl")
    and all(hasattr(_TM, "_global" + name) for name in _HOOKS)
    and set(_HOOKS) <= nn.Module().__dict__.keys()
)


def _shortcut(module, input, hx):
    """The CPU backend's short path for this call, or None: the inference plan when autograd
    records nothing (`ops.cpu.module_forward`), else straight to the kernels' Function
    (`ops.cpu.module_train_forward`)."""
    fast = module_forward(module, input, hx)
    return fast if fast is not None else module_train_forward(module, input, hx)


class _OpsForward:
    """forward() shared by GRU, LSTM and RNN: torch's checks, reshape, call grunet.ops, reshape back.

    The argument handling follows torch.nn.GRU/LSTM/RNN.forward step by step (the same checks, so
    the same exception types and messages, via torch's own ``check_forward_args``), and the flat
    weights are refreshed from the module's current parameters first, as torch does, so
    ``torch.func.functional_call`` and parametrizations (e.g. ``weight_norm``) take effect.

    PackedSequence: the packed batch is padded in its sorted order, run with a step mask (a row's
    state is carried past its length) and packed again; ``h_n`` is each row's state at its last
    valid step (forward) or at t = 0 (reverse), in the caller's order, as torch gives it.
    """

    _cell: str

    def __init__(self, *args, backend: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)  # torch's module (the next class in the MRO)
        self.backend = backend  # grunet.ops backend name: "auto" or one of ops.backends(cell)

    def _op_kwargs(self) -> dict:
        return {}

    def _weights(self) -> list[tuple]:
        """(w_ih, w_hh, b_ih, b_hh) per layer and direction, plus w_hr for an LSTM's proj_size."""
        w = self._flat_weights
        proj = getattr(self, "proj_size", 0) > 0
        k = (4 if self.bias else 2) + proj  # torch's order: w_ih, w_hh, [b_ih, b_hh], [w_hr]
        groups = [w[i : i + k] for i in range(0, len(w), k)]
        full = [tuple(g[:4]) if self.bias else (g[0], g[1], None, None) for g in groups]
        return [(*f, g[-1]) for f, g in zip(full, groups, strict=True)] if proj else full

    def _zeros(self, batch: int, like: torch.Tensor, size: int | None = None) -> torch.Tensor:
        D = 2 if self.bidirectional else 1
        size = self.hidden_size if size is None else size
        return torch.zeros(self.num_layers * D, batch, size, dtype=like.dtype, device=like.device)

    def _default_hx(self, batch: int, like: torch.Tensor):
        if self._cell == "lstm":
            h_size = self.proj_size or self.hidden_size
            return (self._zeros(batch, like, h_size), self._zeros(batch, like))
        return self._zeros(batch, like)

    def _unbatched_hx(self, hx, batched: bool):
        """torch's dimension checks on a given hx; adds the batch dimension when unbatched."""
        want = 3 if batched else 2
        kind = "batched 3-D" if batched else "unbatched 2-D"
        if self._cell == "lstm":
            if hx[0].dim() != want or hx[1].dim() != want:
                raise RuntimeError(
                    f"For {kind} input, hx and cx should also be {want}-D but got "
                    f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors"
                )
            return hx if batched else (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
        if hx.dim() != want:
            raise RuntimeError(
                f"For {kind} input, hx should also be {want}-D but got {hx.dim()}-D tensor"
            )
        return hx if batched else hx.unsqueeze(1)

    def _weights_have_changed(self) -> bool:
        """torch's check (has a parameter been swapped since the flat weights were taken?), with
        the common case read straight from ``_parameters``: torch's version goes through
        ``hasattr``/``getattr`` per weight, most of a small call's cost. ``functional_call``
        swaps tensors inside ``_parameters``, so it is seen here; a parametrized module (e.g.
        ``weight_norm``) computes its weights on access and takes torch's own path."""
        if "parametrizations" in self._modules:
            return super()._weights_have_changed()
        params = self._parameters
        for ref, name in zip(self._flat_weight_refs, self._flat_weights_names, strict=True):
            weight = params[name] if name in params else getattr(self, name, None)
            if weight is not None and ref is not None and ref() is not weight:
                return True
        return False

    def forward(self, input, hx=None):
        if isinstance(input, torch.fx.Proxy):
            # torch.fx traces into modules defined outside torch.nn: record one call of this
            # module, as it records for torch.nn.GRU/LSTM/RNN (its leaves).
            tracer = input.tracer
            args = (input,) if hx is None else (input, hx)
            return tracer.create_proxy("call_module", tracer.path_of_module(self), args, {})
        backend = self.backend
        if backend == "auto" and _is_tracing():
            # torch.jit.trace records torch ops, and grunet's CPU kernels compute through numpy
            # (recorded as constants): torch's own forward where it runs this module (the trace
            # torch.nn.GRU gives), else the reference backend's torch ops.
            if getattr(self, "reset_after", True):
                return super().forward(input, hx)
            backend = "reference"
        self._update_flat_weights()  # functional_call / parametrizations: use current parameters
        packed = isinstance(input, PackedSequence)
        sorted_indices = unsorted_indices = None
        if packed:
            data, batch_sizes, sorted_indices, unsorted_indices = input
            batched, N = True, int(batch_sizes[0])
            self.check_input(data, batch_sizes)  # torch's: dtype, dims, input_size
            hx = (
                self._default_hx(N, data) if hx is None else self.permute_hidden(hx, sorted_indices)
            )
            self.check_forward_args(data, hx, batch_sizes)
            # Pad in the packed (sorted) order: rows by decreasing length.
            x, lengths = pad_packed_sequence(PackedSequence(data, batch_sizes))  # (L, N, H_in)
            steps = torch.arange(x.shape[0])[:, None] < lengths[None, :]  # (L, N) bool
        else:
            if not isinstance(input, torch.Tensor):
                raise TypeError(
                    f"{type(self).__name__}: expected a torch.Tensor or PackedSequence, "
                    f"got {type(input).__name__}."
                )
            if input.dim() not in (2, 3):
                what = "D tensor" if self._cell == "rnn" else "D"  # torch's wording differs
                raise ValueError(
                    f"{self._cell.upper()}: Expected input to be 2D or 3D, "
                    f"got {input.dim()}{what} instead"
                )
            batched = input.dim() == 3
            x = input if batched else input.unsqueeze(0 if self.batch_first else 1)
            x = x.transpose(0, 1) if self.batch_first else x  # (L, N, H_in)
            hx = self._default_hx(x.shape[1], x) if hx is None else self._unbatched_hx(hx, batched)
            # torch's checks (dtype, dims, input_size, hx shape) read the batch where torch has it
            self.check_forward_args(x.transpose(0, 1) if self.batch_first else x, hx, None)
            if x.shape[0] == 0:
                raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
            steps = None
        out, final = getattr(ops, self._cell)(
            x,
            hx,
            self._weights(),
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            dropout=self.dropout,
            training=self.training,
            backend=backend,
            step_mask=steps,
            **self._op_kwargs(),
        )
        if packed:
            out = pack_padded_sequence(out, lengths)  # (sum(lengths), D*H_out); padding dropped
            out = PackedSequence(out.data, batch_sizes, sorted_indices, unsorted_indices)
            return out, self.permute_hidden(final, unsorted_indices)
        if not batched:
            out = out.squeeze(1)  # (L, D*H_out)
            final = tuple(f.squeeze(1) for f in final) if self._cell == "lstm" else final.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)  # (N, L, D*H_out)
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
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype:
            exactly as :class:`torch.nn.GRU`.
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
        super().__init__(*args, backend=backend, **kwargs)
        self.reset_after = bool(reset_after)

    def _op_kwargs(self) -> dict:
        return {"reset_after": self.reset_after}

    def forward(self, input, hx=None):
        # CPU, nothing for autograd to record: the pre-bound path (it reads the current
        # parameters itself); a call autograd records: straight to the kernels' Function. Not
        # under torch.jit.trace, which would record the numpy results as constants.
        if not _is_tracing():
            fast = _shortcut(self, input, hx)
            if fast is not None:
                return fast
        return super().forward(input, hx)

    if _FAST_CALL:

        def __call__(self, *args, **kwargs):
            """torch's ``Module.__call__`` with its no-hook case (then it only calls
            ``self.forward``) checked here, so that a small inference call skips two Python
            frames (~0.6 us of ~6.5 us for one step). Every other call, and one whose arguments
            are not ``(input, hx=None)``, goes to torch's __call__ unchanged."""
            d = self.__dict__
            if (
                not (
                    d["_forward_hooks"]
                    or d["_forward_pre_hooks"]
                    or d["_backward_hooks"]
                    or d["_backward_pre_hooks"]
                    or _TM._global_forward_hooks
                    or _TM._global_forward_pre_hooks
                    or _TM._global_backward_hooks
                    or _TM._global_backward_pre_hooks
                )
                and "_compiled_call_impl" not in d  # set by module.compile()
                and "forward" not in d  # e.g. accelerate's hooks wrap forward per instance
                and type(self).forward is GRU.forward
                and nn.Module.__call__ is _TORCH_CALL  # torch.fx patches it while tracing
                and not _is_tracing()  # torch.jit.trace: torch calls _slow_forward
            ):
                n = len(args)
                if not kwargs and (n == 1 or n == 2):
                    input, hx = args[0], args[1] if n == 2 else None
                elif (n == 1 and kwargs.keys() == {"hx"}) or (
                    n == 0 and "input" in kwargs and kwargs.keys() <= {"input", "hx"}
                ):
                    input, hx = args[0] if n else kwargs["input"], kwargs.get("hx")
                else:
                    return super().__call__(*args, **kwargs)  # torch binds (and raises)
                fast = _shortcut(self, input, hx)
                if fast is not None:
                    return fast
                return _OpsForward.forward(self, input, hx)  # what forward does next
            return super().__call__(*args, **kwargs)

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
        if not isinstance(module, nn.GRU):
            raise TypeError(f"GRU.from_torch expects a torch.nn.GRU, got {type(module).__name__}.")
        return copy_module(module, cls, reset_after=reset_after)

    def to_torch(self) -> nn.GRU:
        """A ``torch.nn.GRU`` with these parameters; raises for reset_after=False."""
        refuse_reset_before(self)
        return copy_module(self, nn.GRU)


class LSTM(_OpsForward, nn.LSTM):
    """Drop-in for :class:`torch.nn.LSTM` running through grunet.ops.

    ``proj_size > 0`` (LSTMs with projections, ``h_t = W_hr h_t``) runs on the backends that
    declare the "projection" capability (the reference).
    """

    _cell = "lstm"


class RNN(_OpsForward, nn.RNN):
    """Drop-in for :class:`torch.nn.RNN` running through grunet.ops (tanh or relu)."""

    _cell = "rnn"

    def _op_kwargs(self) -> dict:
        return {"activation": self.nonlinearity}
