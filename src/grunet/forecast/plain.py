"""The plain pipeline's engine: one global network over scaled sliding windows of every series
(``pipeline="plain"``). `Forecaster` inherits `PlainEngine` (fit) and `PlainPredict` (forecast).

``fit(data)`` validates the table, fits one scaler per series on its TRAINING part only, cuts
windows ``X (M, L, F)`` and targets ``y (M, H)``, and trains one global grunet.Sequential over all
series. ``predict(horizon)`` continues every series from its end, on the series' own dates.

Strategies:
    direct: the network outputs all H steps at once through a Dense(H * n_outputs) head.
    recursive: a one-step network whose forecast is fed back as the next input, H times (any horizon).

Quantiles: with ``quantiles=[q1, ...]`` the direct head has ``n_outputs = 1 + Q`` blocks of H:
block 0 is the point forecast, trained with squared error (so ``forecast`` is a conditional mean,
with or without quantiles), and block 1 + j is quantile q_j, trained with the pinball loss
``max(q e, (q - 1) e)``, e = y - f_q. Predicted quantiles are sorted per step, so they never cross.

Calibration (``calibrate=True``, the default with quantiles): quantile heads fit on training
windows learn the in-sample spread, which is narrower than the out-of-sample one. So the same
forecaster is first fit as it would have been ``C = calibration_size`` steps earlier (on each
series without its last C steps), it forecasts the windows whose targets lie in those last C
steps, and split-conformal offsets (CQR, `grunet.forecast.conformal`) computed from those errors
widen the final model's intervals. Everything happens before the forecast origin.

Ensembles: ``n_models = K`` trains K networks from seeds seed, seed + 1, ... and averages their
outputs (point forecast and each quantile).

Legend:  S: series  M: windows  L: lookback  H: horizon  F: input features  Q: quantiles
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from grunet.errors import DataError, NotFittedError, OptionError
from grunet.forecast.config import ForecasterConfig
from grunet.forecast.conformal import conformal_offsets
from grunet.forecast.frame import (
    Panel,
    Schema,
    Series,
    calendar_features,
    calendar_names,
)
from grunet.forecast.network import build_network
from grunet.forecast.scalers import get_scaler
from grunet.forecast.seasonality import season_length_for
from grunet.forecast.state import SeriesState
from grunet.forecast.windows import make_windows, split_point, window_origins
from grunet.models import EarlyStopping, Sequential
from grunet.seeding import set_seed


class PlainEngine:
    """The plain pipeline's methods; mixed into `Forecaster`, which sets the attributes declared
    here."""

    config: ForecasterConfig
    models: list[Sequential]
    ensembles: list[Any]  # the automatic pipeline's networks (forecast.ensemble.Ensemble)
    states: list[SeriesState]
    offsets: np.ndarray | None
    schema: Schema | None
    freq: str | None
    step: int
    history: dict[str, list[float]]
    fit_seconds: float
    n_windows: dict[str, int]
    rank: int

    @property
    def season_length(self) -> int:
        """Seasonal period m used by MASE and the seasonal baselines (`season_length_for`)."""
        return self.config.season_length or season_length_for(self.freq)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-able (`Forecaster.from_config` rebuilds it)."""
        return asdict(self.config)

    @property
    def fitted(self) -> bool:
        """Whether fit has run (either pipeline)."""
        return bool(self.models or self.ensembles)

    def _require_fitted(self, what: str) -> None:
        if not self.fitted:
            raise NotFittedError(f"{what}: the forecaster is not fitted; call fit(data) first.")

    def _fitted_schema(self, what: str) -> Schema:
        """The training data's column roles; raises when the forecaster is not fitted."""
        if self.schema is None:
            raise NotFittedError(f"{what}: the forecaster is not fitted; call fit(data) first.")
        return self.schema

    # -- features ---------------------------------------------------------------------------
    def _log(self, values: np.ndarray, s: Series) -> np.ndarray:
        """The target as the network models it: log(values) with ``log``, else unchanged."""
        if not self.config.log:
            return values
        if not np.all(values > 0):
            name = f"series {s.id!r}" if s.id is not None else "the series"
            raise DataError(
                f"log=True needs strictly positive target values, but {name} has a minimum of "
                f"{np.min(values):g}; use log=False (--no-log) or shift the series."
            )
        return np.log(values)

    def _encode(self, values, state: SeriesState) -> np.ndarray:
        """Original units -> the network's units (log, then the scaler), any shape."""
        v = np.asarray(values, dtype=np.float64)
        v = np.log(v) if self.config.log else v
        center, scale = state.target_scaler.fitted_params()  # (1,) each
        return (v - center[0]) / scale[0]

    def _decode(self, values, state: SeriesState) -> np.ndarray:
        """The network's units -> original units, any shape (monotone: quantile order survives)."""
        v = state.target_scaler.inverse_transform(values)
        return np.exp(v) if self.config.log else v

    def _features(self, s: Series, state: SeriesState) -> np.ndarray:
        """(N, F) model inputs of series `s` with `state`'s scalers."""
        cols = [state.target_scaler.transform(self._log(s.target, s))[:, None]]
        if s.covariates.shape[1]:
            if state.covariate_scaler is None:
                name = f"series {s.id!r}" if s.id is not None else "the series"
                raise DataError(
                    f"{name} has {s.covariates.shape[1]} covariate column(s), but the "
                    "model was fit without covariates; pass the columns used in fit()."
                )
            cols.append(state.covariate_scaler.transform(s.covariates))
        if self.config.calendar:
            cols.append(calendar_features(s.index, self.freq))
        feats = np.concatenate(cols, axis=1)
        if not np.all(np.abs(feats) < np.finfo(np.float32).max):
            name = f"series {s.id!r}" if s.id is not None else "the series"
            raise DataError(
                f"{name}: after scaling, values reach {np.max(np.abs(feats)):g}, beyond float32's range "
                "(values far too large, or far from those the scalers were fit on); use a scaler, or "
                "divide the columns by a large constant first."
            )
        return feats

    def _new_state(self, s: Series, n_train: int) -> SeriesState:
        """Scalers fit on the first `n_train` steps of `s` only."""
        target_scaler = get_scaler(self.config.scaler).fit(self._log(s.target[:n_train], s))
        cov_scaler = (
            get_scaler(self.config.scaler).fit(s.covariates[:n_train])
            if s.covariates.shape[1]
            else None
        )
        return SeriesState(
            s.id, target_scaler, cov_scaler, s.tail(self.config.plain_lookback), n_train
        )

    # -- network inputs and outputs -------------------------------------------------------
    def _base(self, X: np.ndarray) -> np.ndarray | float:
        """What the targets of windows X (M, L, F) are relative to: 0 (absolute), the last input
        (M, 1) ("last"), or the input one season before each target step (M, model_horizon)."""
        c = self.config
        if not c.relative:
            return 0.0
        if c.relative == "season":
            m = self.season_length
            idx = c.plain_lookback - m + np.arange(c.model_horizon) % m  # the last season, repeated
            return X[:, idx, 0]
        return X[:, -1:, 0]

    def _relative(
        self, X: np.ndarray, Y: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """With ``relative``, shift each window's target input by its last value and its targets
        by `_base`."""
        if not self.config.relative:
            return X, Y
        Y = None if Y is None else Y - self._base(X)
        X = X.copy()
        X[:, :, 0] -= X[:, -1:, 0]
        return X, Y

    def _net(self, X: np.ndarray) -> np.ndarray:
        """Network forecasts in scaled units, (S, n_outputs, model_horizon), for windows X (S, L, F):
        the mean over the ensemble's networks."""
        c = self.config
        base = np.asarray(self._base(X), dtype=np.float64)
        base = base[:, None, :] if base.ndim else base  # (S, 1, H) or a scalar
        X, _ = self._relative(X, None)
        out = np.mean([m.predict(X, batch_size=256) for m in self.models], axis=0)
        return out.reshape(len(X), c.n_outputs, c.model_horizon).astype(np.float64) + base

    # -- fit --------------------------------------------------------------------------------

    def _windows(self, panel: Panel, val_size) -> tuple[list[SeriesState], tuple, tuple | None]:
        c = self.config
        L, H = c.plain_lookback, c.model_horizon
        states, train, val = [], [], []
        for s in panel.series:
            n_train = split_point(len(s), val_size)
            name = f"series {s.id!r}" if s.id is not None else "the series"
            if n_train < L + H:
                held = f" ({len(s) - n_train} held out for validation)" if n_train < len(s) else ""
                raise DataError(
                    f"{name} is too short: {n_train} training steps{held}, but lookback {L} + "
                    f"horizon {H} needs at least {L + H}. Use a shorter lookback or horizon, a "
                    "smaller val_size, or more data."
                )
            if n_train < len(s) and len(s) - n_train < H:
                raise DataError(
                    f"val_size holds out {len(s) - n_train} step(s) of {name}, fewer than the "
                    f"horizon {H}: no validation window fits. Use val_size >= {H}."
                )
            state = self._new_state(s, n_train)
            feats = self._features(s, state)  # (N, F)
            y = feats[:, 0]  # the scaled target
            train.append(
                self._relative(
                    *make_windows(feats, y, L, H, window_origins(len(s), L, H, stop=n_train))
                )
            )
            if n_train < len(s):
                val.append(
                    self._relative(
                        *make_windows(feats, y, L, H, window_origins(len(s), L, H, first=n_train))
                    )
                )
            states.append(state)

        def stack(parts):
            return (
                np.concatenate([p[0] for p in parts]),
                np.concatenate([p[1] for p in parts]),
            )

        return states, stack(train), (stack(val) if val else None)

    def _fit_panel(
        self,
        panel: Panel,
        *,
        val_size=None,
        epochs: int = 100,
        batch_size: int = 32,
        early_stopping: int | None = None,
        verbose: int = 0,
        callbacks=None,
        checkpoint_dir=None,
        checkpoint_every: int = 1,
        resume: bool = False,
        distributed: bool = False,
    ):
        c = self.config
        if c.strategy == "recursive" and panel.schema.covariates:
            raise OptionError(
                "covariates need strategy='direct': a recursive model would need their future values. "
                "Drop the covariates or use strategy='direct'."
            )
        self.schema, self.freq, self.step = panel.schema, panel.freq, panel.step
        if c.calendar:
            calendar_names(self.freq)  # raises for integer steps
        if c.relative == "season" and not 1 < self.season_length <= c.plain_lookback:
            raise OptionError(
                f"relative='season' needs a seasonal period m > 1 within the lookback, got m="
                f"{self.season_length} and lookback {c.plain_lookback}; set season_length or use relative=True."
            )
        if early_stopping is not None and val_size in (None, 0):
            raise OptionError(
                "early_stopping needs validation data: pass val_size (e.g. the horizon)."
            )
        fit_kw = {
            "val_size": val_size,
            "epochs": epochs,
            "batch_size": batch_size,
            "early_stopping": early_stopping,
            "verbose": verbose,
            "callbacks": callbacks,
            "checkpoint_every": checkpoint_every,
            "resume": resume,
            "distributed": distributed,
        }
        folder = None if checkpoint_dir is None else Path(checkpoint_dir)
        start = time.perf_counter()
        states, (X, Y), val = self._windows(panel, val_size)
        offsets, n_cal = None, 0
        if c.calibrate:
            offsets, n_cal = self._calibration(panel, states, len(X), fit_kw, folder)

        def tile(y):
            return np.tile(y, (1, c.n_outputs))

        models, histories = [], []
        for k in range(c.n_models or 1):
            cbs = list(callbacks or [])
            if early_stopping is not None:
                cbs.append(EarlyStopping(patience=int(early_stopping), restore_best_weights=True))
            if c.seed is not None:
                set_seed(c.seed + k)
            model = build_network(c, X.shape[2])
            history = model.fit(
                X,
                tile(Y),
                epochs=epochs,
                batch_size=batch_size,
                validation_data=None if val is None else (val[0], tile(val[1])),
                shuffle=True,
                verbose=verbose,
                callbacks=cbs,
                checkpoint_dir=None if folder is None else folder / f"model_{k}",
                checkpoint_every=checkpoint_every,
                resume=resume,
                distributed=distributed,
            )
            models.append(model)
            histories.append(history.history)
        self.fit_seconds = time.perf_counter() - start
        self.models, self.states, self.history, self.offsets = models, states, histories[0], offsets
        self.rank = models[0].rank
        self.n_windows = {
            "train": len(X),
            "val": 0 if val is None else len(val[0]),
            "calibration": n_cal,
        }
        return self

    def _calibration(
        self,
        panel: Panel,
        states: list[SeriesState],
        n_windows: int,
        fit_kw: dict,
        folder: Path | None,
    ) -> tuple[np.ndarray, int]:
        """Conformal offsets (Q, H) in model units, and the number of calibration windows.

        The same forecaster, uncalibrated, is fit on every series without its last C steps (for
        as many optimizer steps as the final fit of `n_windows` windows), then
        forecasts each window whose H targets lie in those C steps; `conformal_offsets` turns
        its errors there (in the final model's units, `states`) into offsets.
        """
        c = self.config
        C, L, H = c.calibration_steps, c.plain_lookback, c.horizon
        early = panel.map(lambda s: s.head(len(s) - C))
        forecaster: Any = type(self)  # the mixin always runs as a Forecaster
        probe = forecaster(**{**self.get_config(), "calibrate": False})
        kw = {**fit_kw, "checkpoint_dir": None if folder is None else folder / "calibration"}
        try:
            # The same number of optimizer steps as the final fit (not of epochs over fewer
            # windows), so the probe is as converged as the model it calibrates. Too short a
            # series leaves no window; the probe's fit then says why.
            n_probe = sum(
                len(window_origins(split_point(len(s), fit_kw["val_size"]), L, c.model_horizon))
                for s in early.series
            )

            def steps(m):
                return max(math.ceil(m / fit_kw["batch_size"]), 1)

            kw["epochs"] = math.ceil(fit_kw["epochs"] * steps(n_windows) / steps(n_probe))
            probe._fit_panel(early, **kw)
        except DataError as e:
            raise DataError(
                f"calibration fits the forecaster on each series without its last {C} steps, and "
                f"that failed: {e} Use calibrate=False (--no-calibrate) or a smaller calibration_size."
            ) from None
        ys, qs = [], []
        for s, probe_state, state in zip(panel.series, probe.states, states, strict=False):
            origins = window_origins(len(s), L, H, first=len(s) - C)
            pred = probe._window_forecasts(s, probe_state, origins)  # (M, 1 + Q, H) original units
            ys.append(
                self._encode(np.lib.stride_tricks.sliding_window_view(s.target, H)[origins], state)
            )
            qs.append(self._encode(pred[:, 1:], state))
        y, q = np.concatenate(ys), np.concatenate(qs)
        return conformal_offsets(y, q, c.quantiles or []), len(y)

    def _window_forecasts(self, s: Series, state: SeriesState, origins: np.ndarray) -> np.ndarray:
        """Forecasts (M, n_outputs, H) in original units of the windows of `s` at `origins`
        (direct strategy; uncalibrated, quantiles sorted)."""
        feats = self._features(s, state)
        X, _ = make_windows(
            feats, feats[:, 0], self.config.plain_lookback, self.config.model_horizon, origins
        )
        out = self._net(X)
        out[:, 1:] = np.sort(out[:, 1:], axis=1)
        return self._decode(out, state)
