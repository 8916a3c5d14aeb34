"""Reference recurrences: plain torch loops, the specification every fast path is tested against.

Legend:  T: time steps  B: batch  I: input features  H: hidden units

One function per cell, one layer, one direction. The input projection for all steps is one GEMM
before the loop; the loop holds only the recurrent product and the gate arithmetic. Gate orders and
conventions are PyTorch's (DESIGN.md): GRU rows (r, z, n) with z a *keep* gate,
``h_t = z * h_{t-1} + (1 - z) * n``; LSTM rows (i, f, g, o).

step_mask (T, B) bool, optional: where False, step t is skipped for that row: the state is carried
unchanged (``h_t = h_{t-1}``, LSTM's c too) and the output at t is the carried state (Keras's
masking). Post-padded sequences with ``step_mask[t, b] = t < length[b]`` give torch's PackedSequence
results at the valid steps, in both directions (the reverse walk starts at each row's last step).

reset_after=True  (PyTorch, cuDNN, Keras default):
    n = act(W_in x + b_in + r * (W_hn h + b_hn))
reset_after=False (the article; Keras reset_after=False):
    n = act(W_in x + b_in + W_hn (r * h) + b_hn)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from grunet.ops.activations import get_activation


def _steps(T: int, reverse: bool) -> range:
    return range(T - 1, -1, -1) if reverse else range(T)


def _keep(new: torch.Tensor, old: torch.Tensor, m: torch.Tensor | None) -> torch.Tensor:
    # m: (B, 1) bool or None. torch.where, not arithmetic: no gradient into skipped steps.
    return new if m is None else torch.where(m, new, old)


def _step_masks(step_mask: torch.Tensor | None, x: torch.Tensor) -> list:
    """Per-step (B, 1) masks, or Nones; checks step_mask's shape and dtype."""
    T, B = x.shape[0], x.shape[1]
    if step_mask is None:
        return [None] * T
    if step_mask.dtype != torch.bool or tuple(step_mask.shape) != (T, B):
        raise ValueError(
            f"step_mask must be a bool tensor of shape (T, B) = {(T, B)}, got "
            f"{step_mask.dtype} {tuple(step_mask.shape)}; build it as e.g. "
            "torch.arange(T)[:, None] < lengths[None, :]."
        )
    return list(step_mask.to(x.device).unsqueeze(-1).unbind(0))


def _recurrent_input(h: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    # Keras applies recurrent dropout to the state entering the recurrent products only.
    return h if mask is None else h * mask


def gru(
    x: torch.Tensor,
    h0: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None = None,
    b_hh: torch.Tensor | None = None,
    *,
    reset_after: bool = True,
    reverse: bool = False,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    recurrent_mask: torch.Tensor | None = None,
    step_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One GRU layer in one direction.

    Args:
        x: (T, B, I) inputs, time-major.
        h0: (B, H) initial state.
        w_ih: (3H, I) input weights, rows (r, z, n).
        w_hh: (3H, H) recurrent weights, rows (r, z, n).
        b_ih: (3H,) input bias or None.
        b_hh: (3H,) recurrent bias or None.
        reset_after: where the reset gate applies (module docstring).
        reverse: run from t = T-1 down to 0; outputs stay in input time order.
        activation: name of the candidate activation (Keras names).
        recurrent_activation: name of the gate activation.
        recurrent_mask: (B, H) recurrent-dropout mask or None.
        step_mask: (T, B) bool or None: steps to run (module docstring); False carries the state.

    Returns:
        out (T, B, H): the state after every step; h_n (B, H): the final state.
    """
    act, gate = get_activation(activation), get_activation(recurrent_activation)
    H = h0.shape[-1]
    gi = F.linear(x, w_ih, b_ih)  # (T, B, 3H): every step's input projection, one GEMM
    gi_r, gi_z, gi_n = gi.chunk(3, dim=-1)  # each (T, B, H)
    w_rz, w_n = w_hh[: 2 * H], w_hh[2 * H :]  # (2H, H), (H, H)
    b_rz = None if b_hh is None else b_hh[: 2 * H]
    b_n = None if b_hh is None else b_hh[2 * H :]
    keep = _step_masks(step_mask, x)
    h = h0
    out: list[torch.Tensor] = [h0] * x.shape[0]
    for t in _steps(x.shape[0], reverse):
        hm = _recurrent_input(h, recurrent_mask)  # (B, H)
        gh_r, gh_z = F.linear(hm, w_rz, b_rz).chunk(2, dim=-1)  # (B, H) each
        r = gate(gi_r[t] + gh_r)
        z = gate(gi_z[t] + gh_z)
        if reset_after:
            n = act(gi_n[t] + r * F.linear(hm, w_n, b_n))
        else:
            n = act(gi_n[t] + F.linear(r * hm, w_n, b_n))
        h = _keep(z * h + (1.0 - z) * n, h, keep[t])
        out[t] = h
    return torch.stack(out), h


def lstm(
    x: torch.Tensor,
    state0: tuple[torch.Tensor, torch.Tensor],
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None = None,
    b_hh: torch.Tensor | None = None,
    *,
    reverse: bool = False,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    recurrent_mask: torch.Tensor | None = None,
    step_mask: torch.Tensor | None = None,
    w_hr: torch.Tensor | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One LSTM layer in one direction.

    Args:
        x: (T, B, I) inputs. state0: ((B, H), (B, H)) initial (h, c).
        w_ih: (4H, I), w_hh: (4H, H), b_ih, b_hh: (4H,) or None; rows (i, f, g, o).
        w_hr: (P, H) projection or None (torch's proj_size): ``h = W_hr (o * tanh(c))``, so h,
            state0's h and w_hh's columns have P features.
        Other arguments (step_mask too: c is carried with h) as in `gru`.

    Returns:
        out (T, B, H) ((T, B, P) with w_hr); (h_n (B, H or P), c_n (B, H)).
    """
    act, gate = get_activation(activation), get_activation(recurrent_activation)
    h, c = state0
    gi = F.linear(x, w_ih, b_ih)  # (T, B, 4H)
    keep = _step_masks(step_mask, x)
    out: list[torch.Tensor] = [h] * x.shape[0]
    for t in _steps(x.shape[0], reverse):
        g_all = gi[t] + F.linear(_recurrent_input(h, recurrent_mask), w_hh, b_hh)  # (B, 4H)
        i, f, g, o = g_all.chunk(4, dim=-1)
        c_new = gate(f) * c + gate(i) * act(g)
        h_new = gate(o) * act(c_new)
        h = _keep(h_new if w_hr is None else F.linear(h_new, w_hr), h, keep[t])
        c = _keep(c_new, c, keep[t])
        out[t] = h
    return torch.stack(out), (h, c)


def rnn(
    x: torch.Tensor,
    h0: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None = None,
    b_hh: torch.Tensor | None = None,
    *,
    reverse: bool = False,
    activation: str = "tanh",
    recurrent_mask: torch.Tensor | None = None,
    step_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One Elman (simple) RNN layer in one direction: ``h_t = act(W_ih x_t + b_ih + W_hh h + b_hh)``.

    Args:
        x: (T, B, I); h0: (B, H); w_ih: (H, I); w_hh: (H, H); b_ih, b_hh: (H,) or None.
        step_mask: (T, B) bool or None, as in `gru`.

    Returns:
        out (T, B, H); h_n (B, H).
    """
    act = get_activation(activation)
    gi = F.linear(x, w_ih, b_ih)  # (T, B, H)
    keep = _step_masks(step_mask, x)
    h = h0
    out: list[torch.Tensor] = [h0] * x.shape[0]
    for t in _steps(x.shape[0], reverse):
        h = _keep(
            act(gi[t] + F.linear(_recurrent_input(h, recurrent_mask), w_hh, b_hh)), h, keep[t]
        )
        out[t] = h
    return torch.stack(out), h
