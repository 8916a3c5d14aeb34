"""PyTorch's own recurrent kernels (cuDNN on CUDA, ATen's loop on CPU) as grunet backends.

They run only what torch runs: GRU with reset_after=True, default activations, no recurrent dropout.
"""

from __future__ import annotations

import torch

from grunet.ops.registry import Call, register


def _flat(w_ih, w_hh, b_ih, b_hh) -> tuple[list[torch.Tensor], bool]:
    if b_ih is None and b_hh is None:
        return [w_ih, w_hh], False
    # Keras-style layers keep one bias where torch keeps two: the missing one is zero.
    b_ih = torch.zeros_like(b_hh) if b_ih is None else b_ih
    b_hh = torch.zeros_like(b_ih) if b_hh is None else b_hh
    return [w_ih, w_hh, b_ih, b_hh], True


def _run(vf, x, hx, w_ih, w_hh, b_ih, b_hh, reverse):
    if reverse:
        x = x.flip(0)
    params, has_biases = _flat(w_ih, w_hh, b_ih, b_hh)
    out, *state = vf(x, hx, params, has_biases, 1, 0.0, False, False, False)
    return (out.flip(0) if reverse else out), state


def _why_not_torch(call: Call) -> str | None:
    if call.cell == "gru" and not call.reset_after:
        return (
            "torch's GRU runs only reset_after=True (use backend='cpu', 'triton' or 'reference')."
        )
    if not call.default_activations:
        return "torch's kernels run only the default activations (tanh, sigmoid)."
    if call.recurrent_mask:
        return "torch's kernels do not support recurrent dropout."
    return None


def _why_not_cudnn(call: Call) -> str | None:
    if call.device != "cuda":
        return f"cuDNN needs a CUDA tensor, got a {call.device} tensor."
    return _why_not_torch(call)


def gru(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, *, reset_after=True, reverse=False):
    """torch's GRU for one layer and direction. x (T, B, I), h0 (B, H) -> (T, B, H), (B, H)."""
    out, (h_n,) = _run(torch._VF.gru, x, h0.unsqueeze(0), w_ih, w_hh, b_ih, b_hh, reverse)
    return out, h_n[0]


def lstm(x, state0, w_ih, w_hh, b_ih=None, b_hh=None, *, reverse=False):
    """torch's LSTM for one layer and direction. x (T, B, I), state0 ((B, H), (B, H))."""
    hx = (state0[0].unsqueeze(0), state0[1].unsqueeze(0))
    out, (h_n, c_n) = _run(torch._VF.lstm, x, hx, w_ih, w_hh, b_ih, b_hh, reverse)
    return out, (h_n[0], c_n[0])


def rnn(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, *, reverse=False):
    """torch's tanh RNN for one layer and direction. x (T, B, I), h0 (B, H)."""
    out, (h_n,) = _run(torch._VF.rnn_tanh, x, h0.unsqueeze(0), w_ih, w_hh, b_ih, b_hh, reverse)
    return out, h_n[0]


for _cell, _fn in (("gru", gru), ("lstm", lstm), ("rnn", rnn)):
    register(_cell, "torch", priority=10, why_not=_why_not_torch)(_fn)
    register(_cell, "cudnn", priority=20, why_not=_why_not_cudnn)(_fn)
