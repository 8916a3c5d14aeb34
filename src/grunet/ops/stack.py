"""Stacked and bidirectional recurrences over any backend: the one entry point for every cell.

Legend:  T: time  B: batch  I: input features  H: hidden units  L: layers  D: directions (1 or 2)

Weights come as one tuple ``(w_ih, w_hh, b_ih, b_hh)`` per layer and direction, ordered like
``torch.nn.GRU``'s ``_flat_weights``: layer 0 forward, layer 0 reverse, layer 1 forward, ...
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from grunet.ops.registry import Call, resolve

Weights = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]
_DEFAULT_ACTIVATIONS = {"activation": "tanh", "recurrent_activation": "sigmoid"}


def _run(
    cell: str,
    x: torch.Tensor,
    states: list,
    weights: Sequence[Weights],
    *,
    num_layers: int,
    bidirectional: bool,
    dropout: float,
    training: bool,
    backend: str,
    reset_after: bool | None,
    activations: dict[str, str],
    recurrent_mask: torch.Tensor | None,
    step_mask: torch.Tensor | None,
) -> tuple[torch.Tensor, list]:
    # An LSTM with proj_size has a 5th weight per layer and direction: w_hr (P, H).
    projection = any(len(w) == 5 for w in weights)
    D = 2 if bidirectional else 1
    if len(weights) != num_layers * D:
        raise ValueError(f"expected {num_layers * D} weight tuples, got {len(weights)}")
    default = all(activations.get(k, v) == v for k, v in _DEFAULT_ACTIVATIONS.items())
    call = Call.of(
        cell,
        x,
        reset_after=True if reset_after is None else reset_after,
        default_activations=default,
        recurrent_mask=recurrent_mask is not None,
        step_mask=step_mask is not None,
        projection=projection,
    )
    fn = resolve(call, backend).fn
    kwargs: dict = {} if reset_after is None else {"reset_after": reset_after}
    if not default:
        kwargs.update(activations)
    if recurrent_mask is not None:
        kwargs["recurrent_mask"] = recurrent_mask
    if step_mask is not None:
        if step_mask.dtype != torch.bool or tuple(step_mask.shape) != tuple(x.shape[:2]):
            raise ValueError(
                f"step_mask must be a bool tensor of shape (T, B) = {tuple(x.shape[:2])}, got "
                f"{step_mask.dtype} {tuple(step_mask.shape)}."
            )
        kwargs["step_mask"] = step_mask.to(x.device)
    finals = []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            extra = {"w_hr": weights[k][4]} if projection else {}
            out, final = fn(x, states[k], *weights[k][:4], reverse=d == 1, **kwargs, **extra)
            outs.append(out)  # (T, B, H)
            finals.append(final)
        x = outs[0] if D == 1 else torch.cat(outs, dim=-1)  # (T, B, D*H)
        if dropout > 0.0 and training and layer < num_layers - 1:
            x = F.dropout(x, dropout, training=True)
    return x, finals


def gru(
    x: torch.Tensor,
    h0: torch.Tensor,
    weights: Sequence[Weights],
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    training: bool = False,
    reset_after: bool = True,
    backend: str = "auto",
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    recurrent_mask: torch.Tensor | None = None,
    step_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-layer, optionally bidirectional GRU.

    Args:
        x: (T, B, I) inputs, time-major.
        h0: (L*D, B, H) initial states.
        weights: L*D tuples ``(w_ih (3H, I_l), w_hh (3H, H), b_ih (3H,) | None, b_hh (3H,) | None)``.
        num_layers: L. bidirectional: D = 2 when True.
        dropout: dropout on each layer's output except the last, when `training`.
        reset_after: True for torch/cuDNN/Keras-default GRU, False for the article's equations.
        backend: "auto" or a registered name (`grunet.ops.backends("gru")`).
        activation, recurrent_activation: Keras names; non-defaults run on the reference backend.
        recurrent_mask: (B, H) Keras recurrent-dropout mask, reference backend only.
        step_mask: (T, B) bool or None. Where False the row's state is carried over the step and
            the output there is the carried state (Keras masking); every layer and direction uses
            it (the reverse direction reads step_mask[t] at step t). Post-padded sequences with
            ``step_mask[t, b] = t < length[b]`` give torch's PackedSequence results at valid steps.
            Only backends registered with ``supports={"step_mask"}`` run it.

    Returns:
        out (T, B, D*H) and h_n (L*D, B, H).
    """
    out, finals = _run(
        "gru",
        x,
        list(h0.unbind(0)),
        weights,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout,
        training=training,
        backend=backend,
        reset_after=reset_after,
        activations={"activation": activation, "recurrent_activation": recurrent_activation},
        recurrent_mask=recurrent_mask,
        step_mask=step_mask,
    )
    return out, _stack(finals)


def _stack(finals: list[torch.Tensor]) -> torch.Tensor:
    return finals[0].unsqueeze(0) if len(finals) == 1 else torch.stack(finals)  # a view for one


def lstm(
    x: torch.Tensor,
    state0: tuple[torch.Tensor, torch.Tensor],
    weights: Sequence[Weights],
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    training: bool = False,
    backend: str = "auto",
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    recurrent_mask: torch.Tensor | None = None,
    step_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Multi-layer LSTM. state0: ((L*D, B, H), (L*D, B, H)); weights rows (i, f, g, o), 4H each.

    With a projection (torch's proj_size P), each weight tuple has a 5th entry w_hr (P, H), the
    h state and w_hh's columns have P features, and out is (T, B, D*P).

    Other arguments (step_mask too) as in `gru`.

    Returns:
        out (T, B, D*H) and (h_n, c_n), each (L*D, B, H).
    """
    states = list(zip(state0[0].unbind(0), state0[1].unbind(0), strict=False))
    out, finals = _run(
        "lstm",
        x,
        states,
        weights,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout,
        training=training,
        backend=backend,
        reset_after=None,
        activations={"activation": activation, "recurrent_activation": recurrent_activation},
        recurrent_mask=recurrent_mask,
        step_mask=step_mask,
    )
    return out, (_stack([h for h, _ in finals]), _stack([c for _, c in finals]))


def rnn(
    x: torch.Tensor,
    h0: torch.Tensor,
    weights: Sequence[Weights],
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    training: bool = False,
    backend: str = "auto",
    activation: str = "tanh",
    recurrent_mask: torch.Tensor | None = None,
    step_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-layer Elman RNN. h0: (L*D, B, H); weights (H, I_l), (H, H), (H,), (H,).

    Other arguments (step_mask too) as in `gru`.

    Returns:
        out (T, B, D*H) and h_n (L*D, B, H).
    """
    out, finals = _run(
        "rnn",
        x,
        list(h0.unbind(0)),
        weights,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout,
        training=training,
        backend=backend,
        reset_after=None,
        activations={"activation": activation},
        recurrent_mask=recurrent_mask,
        step_mask=step_mask,
    )
    return out, _stack(finals)
