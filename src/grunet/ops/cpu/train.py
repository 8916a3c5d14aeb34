"""The training call of a ``grunet.nn.GRU`` on CPU with the least Python: straight to the kernels'
`autograd.GRUFunction`, one per layer and direction.

Legend:  T: time steps  B: batch  I: input features  H: hidden units  L: layers  D: directions

The general path (``nn.modules._OpsForward.forward`` -> ``ops.gru`` -> the registry -> ``ops.cpu.gru``
-> ``GRUFunction``) re-checks, on every call, what a module's call cannot change, and builds its
initial state, views and lists through a dozen torch calls that cost a few microseconds each. A
training call of a few rows is that overhead: B=16, T=1, H=32, forward and backward, 305 against
224 us with this path (one process, interleaved; torch.nn.GRU 325). `module_train_forward` takes
the calls it is sure of -- a plain 3-D CPU tensor of the module's dtype and input size, ``hx``
None or of the right shape, the module's own parameters (``functional_call`` swaps included) --
and returns None for everything else, which then takes the general path (and its errors). The
arithmetic is the same `GRUFunction` either way; dropout between layers as ``ops.stack`` applies it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from grunet.ops.cpu.autograd import GRUFunction
from grunet.ops.registry import Call, auto_choice

_DTYPES = (torch.float32, torch.float64)
# Zero initial states per (B, H, dtype), shared by calls (never written: GRUFunction only reads
# h0; its gradient is not asked for, it does not require grad). A few sizes at most in practice.
_ZEROS: dict[tuple, torch.Tensor] = {}
_ZEROS_MAX = 64


def _zeros(B: int, H: int, dtype: torch.dtype) -> torch.Tensor:
    key = (B, H, dtype)
    z = _ZEROS.get(key)
    if z is None:
        if len(_ZEROS) >= _ZEROS_MAX:
            _ZEROS.clear()
        z = _ZEROS[key] = torch.zeros(B, H, dtype=dtype)
    return z


def module_train_forward(module, input, hx):
    """``module(input, hx)`` for a grunet.nn.GRU on CPU through `GRUFunction` directly, or None
    where the general path must run (it validates and raises; this function never raises).

    The caller has already tried the inference path (`infer.module_forward`) and is not tracing.
    """
    if type(input) is not torch.Tensor or input.ndim != 3 or not input.is_cpu:
        return None
    dtype = input.dtype
    backend = module.backend
    reset_after = bool(getattr(module, "reset_after", True))
    if dtype not in _DTYPES or backend not in ("auto", "cpu"):
        return None
    if backend == "auto" and auto_choice(Call("gru", "cpu", dtype, reset_after)) != "cpu":
        return None  # a backend registered since ranks higher: the general path runs it
    if "parametrizations" in module._modules:
        return None  # weights computed on access: the general path refreshes them
    params = module._parameters
    weights = []
    for name in module._flat_weights_names:
        w = params.get(name)
        if type(w) is not torch.nn.Parameter and type(w) is not torch.Tensor:
            return None
        if w.dtype is not dtype or not w.is_cpu:
            return None
        weights.append(w)
    batch_first = module.batch_first
    x = input.transpose(0, 1) if batch_first else input  # (T, B, I)
    T, B, I = x.shape  # noqa: E741
    H, L = module.hidden_size, module.num_layers
    D = 2 if module.bidirectional else 1
    if I != module.input_size or T == 0 or B == 0:
        return None
    if hx is not None and (
        type(hx) is not torch.Tensor
        or not hx.is_cpu
        or hx.dtype is not dtype
        or hx.shape != (L * D, B, H)
    ):
        return None
    k = 4 if module.bias else 2
    dropout = module.dropout if module.training else 0.0
    finals = []
    for layer in range(L):
        outs = []
        for d in range(D):
            j = layer * D + d
            w = weights[j * k : j * k + k]
            b_ih, b_hh = (w[2], w[3]) if k == 4 else (None, None)
            h0 = _zeros(B, H, dtype) if hx is None else hx[j]
            out, h_n = GRUFunction.apply(x, h0, w[0], w[1], b_ih, b_hh, reset_after, d == 1, None)
            outs.append(out)
            finals.append(h_n)
        x = outs[0] if D == 1 else torch.cat(outs, dim=-1)
        if dropout > 0.0 and layer < L - 1:
            x = F.dropout(x, dropout, training=True)
    h_n = finals[0].unsqueeze(0) if len(finals) == 1 else torch.stack(finals)
    return (x.transpose(0, 1) if batch_first else x), h_n
