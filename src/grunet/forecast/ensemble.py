"""The automatic pipeline's recurrent ensemble: small grunet GRU (or LSTM, RNN) networks over
per-window normalised inputs, averaged over seeds and lookbacks (N-BEATS style).

Each member reads a window of L steps of the prepared series z (log and deseasonalised by the
pipeline) and forecasts the next H steps. The window is normalised by its own last value and by
the series' scale (ES-RNN / RevIN / DeepAR style): inputs ``(z[o-L:o] - z[o-1]) / scale``,
targets ``(z[o:o+H] - z[o-1]) / scale``, and forecasts are restored the same way. So a level the
network never saw in training (a trend) costs it nothing, and every series looks alike to it.

Legend:  N: time steps  M: windows  B: batch  L: lookback  H: horizon  U: units
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from grunet import nn as gnn

CELLS = {"gru": gnn.GRU, "lstm": gnn.LSTM, "rnn": gnn.RNN}


def normalised_windows(
    z: np.ndarray, lookback: int, horizon: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """All windows of `z` (N,): X (M, L, 1) inputs and Y (M, H) targets, each relative to the
    window's last input and divided by `scale`; oldest first. M = N - L - H + 1 (may be 0)."""
    z = np.asarray(z, dtype=np.float64)
    m = len(z) - lookback - horizon + 1
    if m < 1:
        return np.zeros((0, lookback, 1), np.float32), np.zeros((0, horizon), np.float32)
    win = np.lib.stride_tricks.sliding_window_view(z, lookback + horizon)[:m]  # (M, L + H)
    last = win[:, lookback - 1 : lookback]  # (M, 1)
    rel = (win - last) / scale
    return rel[:, :lookback, None].astype(np.float32), rel[:, lookback:].astype(np.float32)


class Member(torch.nn.Module):
    """One network: a recurrent layer of `units` over (B, L, 1), then Linear(units -> H) on the
    last step's output."""

    def __init__(self, cell: str, units: int, horizon: int) -> None:
        super().__init__()
        self.rnn = CELLS[cell](1, units, batch_first=True)
        self.head = torch.nn.Linear(units, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, 1) -> (B, H)
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def train(
    member: Member,
    X: np.ndarray,
    Y: np.ndarray,
    steps: int,
    learning_rate: float,
    seed: int,
    batch_size: int = 128,
) -> Member:
    """`steps` Adam steps of the mean absolute error on minibatches drawn from (X, Y); in place."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: extra threads only wait on each other
    try:
        return _train(member, X, Y, steps, learning_rate, seed, batch_size)
    finally:
        torch.set_num_threads(threads)


def _train(member, X, Y, steps, learning_rate, seed, batch_size) -> Member:
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    opt = torch.optim.Adam(member.parameters(), lr=learning_rate)
    b = min(batch_size, len(x))
    member.train()
    for _ in range(steps):
        idx = torch.randint(len(x), (b,), generator=gen)
        loss = torch.mean(torch.abs(member(x[idx]) - y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    member.eval()
    return member


class Ensemble:
    """Members at (lookback, seed) pairs, trained on one prepared series, averaged at predict.

    Args:
        specs: (lookback, seed) of each member. horizon: H. cell, units, learning_rate: as in
            `Forecaster`.
    """

    def __init__(
        self,
        specs: Sequence[tuple[int, int]],
        horizon: int,
        cell: str = "gru",
        units: int = 32,
        learning_rate: float = 3e-3,
    ) -> None:
        self.specs = [(int(L), int(s)) for L, s in specs]
        self.horizon, self.cell, self.units, self.learning_rate = (
            horizon,
            cell,
            units,
            learning_rate,
        )
        self.members: list[Member] = []
        for _, seed in self.specs:
            torch.manual_seed(seed)
            self.members.append(Member(cell, units, horizon))

    def fit(self, z: np.ndarray, scale: float, steps: int) -> Ensemble:
        """Train every member `steps` steps on the windows of `z` (continuing from its current
        weights, so a second call fine-tunes)."""
        for (L, seed), member in zip(self.specs, self.members, strict=True):
            X, Y = normalised_windows(z, L, self.horizon, scale)
            train(member, X, Y, steps, self.learning_rate, seed)
        return self

    def predict(self, z: np.ndarray, scale: float) -> np.ndarray:
        """Forecast (H,) in z's units from the end of `z`: the mean over members."""
        z = np.asarray(z, dtype=np.float64)
        out = []
        with torch.no_grad():
            for (L, _), member in zip(self.specs, self.members, strict=True):
                x = ((z[-L:] - z[-1]) / scale).astype(np.float32)[None, :, None]  # (1, L, 1)
                out.append(member(torch.from_numpy(x))[0].double().numpy())
        return z[-1] + scale * np.mean(out, axis=0)

    def tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        """Every member's weights, flat, named ``{prefix}{k}.{param}`` (for safetensors)."""
        return {
            f"{prefix}{k}.{name}": t.detach().contiguous()
            for k, m in enumerate(self.members)
            for name, t in m.state_dict().items()
        }

    def load_tensors(self, tensors: dict[str, torch.Tensor], prefix: str) -> Ensemble:
        """Load weights written by `tensors` (same specs, cell, units and horizon)."""
        for k, m in enumerate(self.members):
            head = f"{prefix}{k}."
            m.load_state_dict({n[len(head) :]: t for n, t in tensors.items() if n.startswith(head)})
            m.eval()
        return self
