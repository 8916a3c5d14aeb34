"""The Forecaster's network: a stack of recurrent layers under a Dense head, and its loss.

Legend:  B: batch  Q: quantiles  H: steps the network outputs (model_horizon)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from grunet import layers
from grunet.forecast.config import CELLS, ForecasterConfig
from grunet.models import Sequential


class PinballLoss:
    """Squared error on the point block plus the mean pinball loss of each quantile block.

    ``y_pred`` (B, (1 + Q) * H) holds blocks [point, q_1, ..., q_Q] of H steps each; ``y_true``
    is the target tiled into the same layout (only its first block is read).
    """

    __name__ = "mse_plus_pinball"

    def __init__(self, quantiles: Sequence[float], horizon: int) -> None:
        self.q = torch.tensor(list(quantiles)).view(1, -1, 1)  # (1, Q, 1)
        self.horizon = horizon

    def __call__(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        B, Q, H = y_pred.shape[0], self.q.shape[1], self.horizon
        pred = y_pred.reshape(B, 1 + Q, H)
        y = y_true.reshape(B, 1 + Q, H)[:, :1]  # (B, 1, H)
        point = torch.mean((pred[:, 0] - y[:, 0]) ** 2)
        e = y - pred[:, 1:]  # (B, Q, H)
        q = self.q.to(dtype=e.dtype, device=e.device)
        return point + torch.mean(torch.maximum(q * e, (q - 1.0) * e))


def build_network(config: ForecasterConfig, n_features: int) -> Sequential:
    """``layers`` recurrent layers of ``units`` over windows (B, L, n_features), then
    Dense(model_horizon * n_outputs); compiled (see `compile_network`)."""
    c = config
    cell = CELLS[c.cell]
    extra: dict[str, Any] = {"reset_after": c.reset_after} if c.cell == "gru" else {}
    stack: list[layers.Layer] = []
    for i in range(c.layers):
        shape: dict[str, Any] = {"input_shape": (c.plain_lookback, n_features)} if i == 0 else {}
        stack.append(
            cell(c.units, return_sequences=i < c.layers - 1, dropout=c.dropout, **shape, **extra)
        )
    stack.append(layers.Dense(c.model_horizon * c.n_outputs))
    model = Sequential(stack, name=f"forecaster_{c.cell}")
    compile_network(model, config)
    return model


def compile_network(model: Sequential, config: ForecasterConfig) -> None:
    """Adam at ``learning_rate``; squared error, plus the pinball loss with quantiles."""
    c = config
    loss = PinballLoss(c.quantiles, c.model_horizon) if c.quantiles else "mean_squared_error"
    model.compile(
        loss=loss,
        optimizer=torch.optim.Adam(model.parameters(), lr=c.learning_rate or 1e-3, eps=1e-7),
    )
