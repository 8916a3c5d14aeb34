"""Conversions between torch.nn recurrent modules and grunet.nn, and between GRU gate conventions.

``from_torch`` / ``to_torch`` copy the ``state_dict`` unchanged: grunet.nn modules subclass their
torch.nn counterparts, so names, shapes and gate order (r, z, n) are identical.

The article's equations (Cho et al. 2014) use z as a *write* gate, ``h = (1 - z) h_prev + z h'``;
PyTorch, Keras, cuDNN, ONNX and grunet use z as a *keep* gate, ``h = z h_prev + (1 - z) n``.
Since ``sigmoid(-a) = 1 - sigmoid(a)``, a GRU in one convention is the same function in the other
with the z gate's pre-activation negated, i.e. the z rows (torch layout: rows ``H:2H``) of
``weight_ih``, ``weight_hh``, ``bias_ih`` and ``bias_hh`` multiplied by -1. The map is its own
inverse, so ``write_gate_to_keep_gate`` and ``keep_gate_to_write_gate`` do the same arithmetic;
two names keep call sites readable. It holds only for ``recurrent_activation="sigmoid"``.

Legend:  H: hidden units  I: input features
"""

from __future__ import annotations

import torch
from torch import nn

from grunet.nn.copying import copy_module, refuse_reset_before
from grunet.nn.modules import GRU, LSTM, RNN

_PAIRS = ((nn.GRU, GRU), (nn.LSTM, LSTM), (nn.RNN, RNN))


def from_torch(module: nn.GRU | nn.LSTM | nn.RNN, reset_after: bool = True) -> nn.Module:
    """A grunet.nn module with `module`'s configuration and a copy of its parameters.

    Args:
        module: a ``torch.nn.GRU`` (or ``nn.LSTM`` / ``nn.RNN``).
        reset_after: for a GRU, the variant of the new module. PyTorch's GRU *is* reset_after=True,
            so only the default gives the same outputs; False reuses the parameters in the
            article's variant (a different function, e.g. as a starting point for training).

    Returns:
        ``grunet.nn.GRU`` (``LSTM``, ``RNN``) on the same device and dtype, same train/eval mode.

    Examples:
        >>> import torch, grunet
        >>> gru = grunet.nn.GRU.from_torch(torch.nn.GRU(3, 5))
        >>> type(gru).__name__, gru.reset_after
        ('GRU', True)
    """
    for torch_cls, grunet_cls in _PAIRS:
        if isinstance(module, torch_cls):
            extra = {"reset_after": reset_after} if grunet_cls is GRU else {}
            return copy_module(module, grunet_cls, **extra)
    raise TypeError(f"from_torch expects torch.nn.GRU, LSTM or RNN, got {type(module).__name__}.")


def to_torch(module: GRU | LSTM | RNN) -> nn.Module:
    """The plain ``torch.nn`` module (``GRU``, ``LSTM``, ``RNN``) with a copy of `module`'s parameters.

    Raises:
        ValueError: a GRU with reset_after=False: torch.nn.GRU cannot compute that variant.
    """
    if isinstance(module, GRU):
        refuse_reset_before(module)
    for torch_cls, grunet_cls in _PAIRS:
        if isinstance(module, grunet_cls):
            return copy_module(module, torch_cls)
    raise TypeError(f"to_torch expects grunet.nn.GRU, LSTM or RNN, got {type(module).__name__}.")


def _flip_z(tensors, layout: str):
    if layout not in ("torch", "keras"):
        raise ValueError(f"layout must be 'torch' or 'keras', got {layout!r}.")
    out = []
    for t in tensors:
        if t is None:
            out.append(None)
            continue
        t = torch.as_tensor(t).clone()
        if layout == "torch":  # rows (r, z, n): z rows H:2H of (3H, ...) or (3H,)
            H = t.shape[0] // 3
            t[H : 2 * H] *= -1
        else:  # Keras columns (z, r, h): z columns 0:H of (I, 3H), (H, 3H), (3H,) or (2, 3H)
            H = t.shape[-1] // 3
            t[..., :H] *= -1
        out.append(t)
    return tuple(out)


def write_gate_to_keep_gate(
    weight_ih, weight_hh, bias_ih=None, bias_hh=None, *, layout: str = "torch"
) -> tuple:
    """Convert GRU parameters from the article's write-gate z to the keep-gate z grunet runs.

    With ``layout="torch"`` (default), the arguments are ``weight_ih`` (3H, I), ``weight_hh``
    (3H, H), ``bias_ih`` (3H,), ``bias_hh`` (3H,) with rows (r, z, n), and rows ``H:2H`` are
    negated. With ``layout="keras"`` they are ``kernel`` (I, 3H), ``recurrent_kernel`` (H, 3H) and
    ``bias`` ((3H,) or (2, 3H)) with columns (z, r, h), and columns ``0:H`` are negated. Each
    result is a new tensor; None stays None.

    If ``z_w = sigmoid(a)`` is the article's write gate, the result computes
    ``z_k = sigmoid(-a) = 1 - z_w``, so ``z_k h_prev + (1 - z_k) n = (1 - z_w) h_prev + z_w n``.

    Returns:
        ``(weight_ih, weight_hh, bias_ih, bias_hh)`` converted.

    Examples:
        >>> import torch
        >>> w = torch.ones(6, 1)
        >>> write_gate_to_keep_gate(w, w)[0].flatten().tolist()
        [1.0, 1.0, -1.0, -1.0, 1.0, 1.0]
    """
    return _flip_z((weight_ih, weight_hh, bias_ih, bias_hh), layout)


def keep_gate_to_write_gate(
    weight_ih, weight_hh, bias_ih=None, bias_hh=None, *, layout: str = "torch"
) -> tuple:
    """The inverse of `write_gate_to_keep_gate` (the same negation: it is its own inverse)."""
    return _flip_z((weight_ih, weight_hh, bias_ih, bias_hh), layout)


__all__ = ["from_torch", "keep_gate_to_write_gate", "to_torch", "write_gate_to_keep_gate"]
