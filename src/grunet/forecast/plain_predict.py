"""The plain pipeline's forecasts: from the fit's tails or new data, direct or recursive, with
calibrated quantiles; and in-sample fitted values. Mixed into `Forecaster` with `PlainEngine`.

Legend:  S: series  M: windows  L: lookback  H: horizon  F: input features  Q: quantiles
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from grunet.errors import DataError
from grunet.forecast.config import quantile_column
from grunet.forecast.frame import Series, calendar_features, future_index, load_panel
from grunet.forecast.plain import PlainEngine
from grunet.forecast.state import SeriesState
from grunet.forecast.windows import make_windows, window_origins


class PlainPredict(PlainEngine):
    """The plain pipeline's forecasting methods (see `PlainEngine`)."""

    def _states_for(self, data) -> list[tuple[Series, SeriesState]]:
        """(history, state) per series to forecast from: the fit's tails, or `data`'s series."""
        if data is None:
            return [(st.tail, st) for st in self.states]
        panel = load_panel(data, **self._fitted_schema("forecast").to_dict())
        if panel.freq != self.freq:
            raise DataError(
                f"the data's frequency ({panel.freq or 'integer steps'}) differs from the training "
                f"data's ({self.freq or 'integer steps'})."
            )
        known = {st.id: st for st in self.states}
        pairs = []
        for s in panel.series:
            if len(s) < self.config.plain_lookback:
                raise DataError(
                    f"series {s.id!r} has {len(s)} steps; forecasting needs the last lookback="
                    f"{self.config.plain_lookback} steps."
                )
            # A series unseen in training gets scalers fit on its own history (all of it is past).
            pairs.append((s, known.get(s.id) or self._new_state(s, len(s))))
        return pairs

    def _raw_predict(self, pairs, horizon: int) -> np.ndarray:
        """Forecasts in original units: (S, n_outputs, horizon), quantile blocks sorted."""
        c = self.config
        L = c.plain_lookback
        X = np.stack([self._features(s.tail(L), st) for s, st in pairs]).astype(
            np.float32
        )  # (S, L, F)
        if c.strategy == "direct":
            out = self._net(X)[:, :, :horizon]
        else:
            out = np.zeros((len(pairs), 1, horizon))
            if c.calendar:  # (S, horizon, K) features of the dates to forecast
                future = np.stack(
                    [
                        calendar_features(
                            future_index(s.index, horizon, self.freq, self.step), self.freq
                        )
                        for s, _ in pairs
                    ]
                )
            for h in range(horizon):
                step = self._net(X)[:, 0, 0]  # (S,) scaled
                out[:, 0, h] = step
                new = np.zeros((len(pairs), 1, X.shape[2]), np.float32)
                new[:, 0, 0] = step
                if c.calendar:
                    new[:, 0, 1:] = future[:, h]
                X = np.concatenate([X[:, 1:], new], axis=1)  # slide the window by one step
        if c.quantiles:
            if self.offsets is not None:
                out[:, 1:] = (
                    np.sort(out[:, 1:], axis=1) + self.offsets[None, :, :horizon]
                )  # conformal
            out[:, 1:] = np.sort(out[:, 1:], axis=1)  # monotone rearrangement: no crossing
        return np.stack([self._decode(o, st) for o, (_, st) in zip(out, pairs, strict=False)])

    def _frame(self, pairs, values: np.ndarray, horizon: int) -> pd.DataFrame:
        c = self.config
        parts = []
        for (s, _), v in zip(pairs, values, strict=False):
            part: dict[str, Any] = {}
            if s.id is not None:
                part["id"] = [s.id] * horizon
            part["date"] = future_index(s.index, horizon, self.freq, self.step)
            part["forecast"] = v[0]
            for j, q in enumerate(c.quantiles or []):
                part[quantile_column(q)] = v[1 + j]
            parts.append(pd.DataFrame(part))
        return pd.concat(parts, ignore_index=True)

    def fitted_values(self, data) -> pd.DataFrame:
        """One-step-ahead in-sample predictions over `data` (the first step of every window).

        Returns:
            DataFrame with ``id`` (when present), ``date``, ``actual``, ``fitted``, ``part``
            ("train" or "validation", per the fit's split).
        """
        self._require_fitted("fitted_values")
        L, parts = self.config.plain_lookback, []
        for s, st in self._states_for(data):
            origins = window_origins(len(s), L, 1)
            feats = self._features(s, st)
            X, _ = make_windows(feats, feats[:, 0], L, 1, origins)
            pred = self._net(X)[:, 0, 0]  # first step of the point block
            part = {} if s.id is None else {"id": s.id}
            parts.append(
                pd.DataFrame(
                    {
                        **part,
                        "date": s.index[origins],
                        "actual": s.target[origins],
                        "fitted": self._decode(pred, st),
                        "part": np.where(origins < st.n_train, "train", "validation"),
                    }
                )
            )
        return pd.concat(parts, ignore_index=True)
