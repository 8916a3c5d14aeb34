"""Forecaster: a recurrent network (GRU, LSTM or SimpleRNN) that forecasts tables of series.

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
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grunet.errors import DataError
from grunet.forecast import pipeline, saving
from grunet.forecast.config import CELLS, STRATEGIES, ForecasterConfig, quantile_column
from grunet.forecast.conformal import conformal_offsets
from grunet.forecast.ensemble import Ensemble
from grunet.forecast.frame import (
    Panel,
    Schema,
    Series,
    calendar_features,
    calendar_names,
    future_index,
    load_panel,
)
from grunet.forecast.network import PinballLoss, build_network
from grunet.forecast.scalers import get_scaler
from grunet.forecast.seasonality import season_length_for
from grunet.forecast.state import AutoSeriesState, FittedState, SeriesState
from grunet.forecast.windows import make_windows, split_point, window_origins
from grunet.models import EarlyStopping, Sequential
from grunet.seeding import set_seed

__all__ = [
    "CELLS",
    "STRATEGIES",
    "Forecaster",
    "ForecasterConfig",
    "PinballLoss",
    "load",
    "quantile_column",
]


class Forecaster:
    """Forecast one or many series with a GRU (or LSTM, SimpleRNN) trained on sliding windows.

    Args:
        cell: "gru", "lstm" or "rnn". lookback: L input steps. horizon: H steps to forecast.
        units: recurrent units per layer. layers: stacked recurrent layers.
        dropout: input dropout rate of each recurrent layer. reset_after: GRU variant.
        scaler: "standard", "minmax", "robust" or None; one per series, fit on its training part.
        quantiles: levels in (0, 1) for quantile columns (direct strategy only).
        strategy: "direct" (one head for all H steps) or "recursive" (one step, fed back).
        calendar: add sin/cos calendar features of each step's date (month, day of week, ...).
        relative: False; True or "last": feed each window's scaled target relative to its last
            value and forecast the change from it, so levels outside the training range (trends)
            carry over; "season": inputs as for "last", but forecast each step's change from
            the same step one season earlier (the seasonal naive forecast; needs lookback >= m).
        season_length: seasonal period m for MASE and baselines (default from the frequency).
        learning_rate: Adam's learning rate. seed: seeds weights and shuffling when given.
        log: model the logarithm of the target (strictly positive series): multiplicative
            seasonality and growth become additive. Forecasts and quantiles are transformed back.
        n_models: train this many networks (seeds seed, seed + 1, ...) and average them.
        calibrate: conformally calibrate the quantiles on the last `calibration_size` steps before
            the forecast origin (see the module docstring; default: on when quantiles are given).
        calibration_size: C, steps held out for calibration (default 2 * horizon, giving
            horizon + 1 calibration windows per series).

    Examples:
        >>> import numpy as np, pandas as pd
        >>> df = pd.DataFrame({"value": np.sin(np.arange(60) / 3)})
        >>> f = Forecaster(lookback=12, horizon=3, units=4, seed=0).fit(df, epochs=2)
        >>> list(f.predict().columns), len(f.predict())
        (['date', 'forecast'], 3)
    """

    def __init__(
        self,
        cell: str = "gru",
        lookback: int | None = None,
        horizon: int = 12,
        units: int = 32,
        layers: int = 1,
        dropout: float = 0.0,
        reset_after: bool = True,
        scaler: str | None = "standard",
        quantiles: Sequence[float] | None = None,
        strategy: str = "direct",
        calendar: bool = False,
        relative: bool = False,
        season_length: int | None = None,
        learning_rate: float | None = None,
        seed: int | None = None,
        log: bool | None = None,
        n_models: int | None = None,
        calibrate: bool | None = None,
        calibration_size: int | None = None,
        pipeline: str | None = None,
        combine: bool | None = None,
        train_steps: int | None = None,
    ) -> None:
        self.config = ForecasterConfig(
            cell=cell,
            lookback=lookback,
            horizon=horizon,
            units=units,
            layers=layers,
            dropout=dropout,
            reset_after=reset_after,
            scaler=scaler,
            quantiles=None if quantiles is None else list(quantiles),
            strategy=strategy,
            calendar=calendar,
            relative=relative,
            season_length=season_length,
            learning_rate=learning_rate,
            seed=seed,
            log=log,
            n_models=n_models,
            calibrate=calibrate,
            calibration_size=calibration_size,
            pipeline=pipeline,
            combine=combine,
            train_steps=train_steps,
        )
        self.auto_states: list[AutoSeriesState] = []  # pipeline="auto": per-series fitted state
        self.ensembles: list[Ensemble] = []  # pipeline="auto": per-series networks
        self.models: list[Sequential] = []
        self.offsets: np.ndarray | None = None  # (Q, H) conformal offsets in model units
        self.rank = 0
        self.schema: Schema | None = None
        self.freq: str | None = None
        self.step = 1
        self.states: list[SeriesState] = []
        self.history: dict[str, list[float]] = {}
        self.fit_seconds = 0.0
        self.fit_kwargs: dict[str, Any] = {}

    # -- config -----------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return asdict(self.config)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Forecaster:
        return cls(**config)

    def __repr__(self) -> str:
        c = self.config
        return (
            f"Forecaster(cell={c.cell!r}, lookback={c.lookback}, horizon={c.horizon}, "
            f"units={c.units}, strategy={c.strategy!r}, fitted={self.fitted})"
        )

    @property
    def model(self) -> Sequential | None:
        """The (first) network; `models` holds all of an ensemble."""
        return self.models[0] if self.models else None

    @property
    def fitted(self) -> bool:
        return bool(self.models or self.ensembles)

    @property
    def season_length(self) -> int:
        """Seasonal period m used by MASE and the seasonal baselines (`season_length_for`)."""
        return self.config.season_length or season_length_for(self.freq)

    def describe(self) -> str:
        """What was chosen (pipeline, season length, log, deseasonalising, lookbacks, ensemble,
        validation scores, combination weights) and why, as text."""
        c = self.config
        if c.pipeline == "auto":
            if not self.auto_states:
                return "Forecaster: automatic pipeline, not fitted (choices are made by fit)."
            return pipeline.describe(self.auto_states, c, self.freq)
        return (
            f"Forecaster: plain pipeline (options given: the network as configured): {c.cell} "
            f"{c.units} units x {c.layers} layer(s), lookback {c.lookback}, horizon {c.horizon}, "
            f"scaler {c.scaler}, log {c.log}, relative {c.relative}, {c.n_models} network(s)."
        )

    @property
    def feature_names(self) -> list[str]:
        """Input columns per step: the scaled target, scaled covariates, calendar sin/cos."""
        covs = list(self.schema.covariates) if self.schema else []
        cal = (
            [f"{n}_{t}" for n in calendar_names(self.freq) for t in ("sin", "cos")]
            if self.config.calendar
            else []
        )
        return ["target", *covs, *cal]

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
        return (v - state.target_scaler.center_[0]) / state.target_scaler.scale_[0]

    def _decode(self, values, state: SeriesState) -> np.ndarray:
        """The network's units -> original units, any shape (monotone: quantile order survives)."""
        v = state.target_scaler.inverse_transform(values)
        return np.exp(v) if self.config.log else v

    def _features(self, s: Series, state: SeriesState) -> np.ndarray:
        """(N, F) model inputs of series `s` with `state`'s scalers."""
        cols = [state.target_scaler.transform(self._log(s.target, s))[:, None]]
        if s.covariates.shape[1]:
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
        return SeriesState(s.id, target_scaler, cov_scaler, s.tail(self.config.lookback), n_train)

    # -- network inputs and outputs -------------------------------------------------------
    def _base(self, X: np.ndarray) -> np.ndarray | float:
        """What the targets of windows X (M, L, F) are relative to: 0 (absolute), the last input
        (M, 1) ("last"), or the input one season before each target step (M, model_horizon)."""
        c = self.config
        if not c.relative:
            return 0.0
        if c.relative == "season":
            m = self.season_length
            idx = c.lookback - m + np.arange(c.model_horizon) % m  # the last season, repeated
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
    def fit(
        self,
        data: pd.DataFrame | Panel | str | os.PathLike,
        target: str | Sequence[str] = "value",
        date: str | None = None,
        id: str | None = None,
        covariates: Sequence[str] | None = None,
        val_size: float | None = None,
        epochs: int = 100,
        batch_size: int = 32,
        early_stopping: int | None = None,
        verbose: int = 0,
        callbacks: Sequence[Any] | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int = 1,
        resume: bool = False,
        distributed: bool = False,
    ) -> Forecaster:
        """Train on `data`: a DataFrame, a path to a CSV/Parquet file, or a validated Panel
        (`load_panel`; its columns are used and `target` ... `covariates` are ignored).

        Args:
            target: column to forecast (a list of columns = wide layout, one series per column).
            date: time column (datetimes, or integer steps); the automatic pipeline uses a
                column named "date" or "ds" when not given. id: series-id column (long layout).
            covariates: numeric columns fed to the network as past covariates (direct only).
            val_size: last steps of each series held out for validation (an int, or a fraction);
                the scalers never see them. Needed for early stopping.
            epochs, batch_size: training budget. early_stopping: patience in epochs (restores the
                best weights), or None.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch. callbacks: grunet callbacks.
            checkpoint_dir: folder for training checkpoints (one sub-folder per network trained:
                ``calibration/model_<k>`` and ``model_<k>``); see `Sequential.fit`.
            checkpoint_every: epochs between checkpoints. resume: continue from the checkpoints in
                `checkpoint_dir`; ends with the same networks as an uninterrupted fit.
            distributed: train each network data-parallel under torchrun (`Sequential.fit`); every
                process ends with the same forecaster, and ``rank`` says which process this is.

        Returns:
            self, fitted.
        """
        if date is None and self.config.pipeline == "auto" and isinstance(data, pd.DataFrame):
            # the automatic pipeline takes a "date" or "ds" column as the time column
            date = next((c for c in ("date", "ds") if c in data.columns), None)
        panel = load_panel(data, target=target, date=date, id=id, covariates=covariates)
        if self.config.pipeline == "auto":
            start = time.perf_counter()
            self.schema, self.freq, self.step = panel.schema, panel.freq, panel.step
            self.auto_states, self.ensembles = pipeline.fit_panel(panel, self.config)
            self.fit_seconds = time.perf_counter() - start
            return self
        self.fit_kwargs = {
            "val_size": val_size,
            "epochs": epochs,
            "batch_size": batch_size,
            "early_stopping": early_stopping,
        }
        return self._fit_panel(
            panel,
            val_size=val_size,
            epochs=epochs,
            batch_size=batch_size,
            early_stopping=early_stopping,
            verbose=verbose,
            callbacks=callbacks,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every,
            resume=resume,
            distributed=distributed,
        )

    def _windows(self, panel: Panel, val_size) -> tuple[list[SeriesState], tuple, tuple | None]:
        c = self.config
        L, H = c.lookback, c.model_horizon
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
    ) -> Forecaster:
        c = self.config
        if c.strategy == "recursive" and panel.schema.covariates:
            raise ValueError(
                "covariates need strategy='direct': a recursive model would need their future values. "
                "Drop the covariates or use strategy='direct'."
            )
        self.schema, self.freq, self.step = panel.schema, panel.freq, panel.step
        if c.calendar:
            calendar_names(self.freq)  # raises for integer steps
        if c.relative == "season" and not 1 < self.season_length <= c.lookback:
            raise ValueError(
                f"relative='season' needs a seasonal period m > 1 within the lookback, got m="
                f"{self.season_length} and lookback {c.lookback}; set season_length or use relative=True."
            )
        if early_stopping is not None and val_size in (None, 0):
            raise ValueError(
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
        for k in range(c.n_models):
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
        C, L, H = c.calibration_steps, c.lookback, c.horizon
        early = panel.map(lambda s: s.head(len(s) - C))
        probe = Forecaster.from_config({**self.get_config(), "calibrate": False})
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
        return conformal_offsets(y, q, c.quantiles), len(y)

    def _window_forecasts(self, s: Series, state: SeriesState, origins: np.ndarray) -> np.ndarray:
        """Forecasts (M, n_outputs, H) in original units of the windows of `s` at `origins`
        (direct strategy; uncalibrated, quantiles sorted)."""
        feats = self._features(s, state)
        X, _ = make_windows(
            feats, feats[:, 0], self.config.lookback, self.config.model_horizon, origins
        )
        out = self._net(X)
        out[:, 1:] = np.sort(out[:, 1:], axis=1)
        return self._decode(out, state)

    # -- predict ----------------------------------------------------------------------------
    def _require_fitted(self, what: str) -> None:
        if not self.fitted:
            raise RuntimeError(f"{what}: the forecaster is not fitted; call fit(data) first.")

    def _states_for(self, data) -> list[tuple[Series, SeriesState]]:
        """(history, state) per series to forecast from: the fit's tails, or `data`'s series."""
        if data is None:
            return [(st.tail, st) for st in self.states]
        panel = load_panel(data, **self.schema.to_dict())
        if panel.freq != self.freq:
            raise DataError(
                f"the data's frequency ({panel.freq or 'integer steps'}) differs from the training "
                f"data's ({self.freq or 'integer steps'})."
            )
        known = {st.id: st for st in self.states}
        pairs = []
        for s in panel.series:
            if len(s) < self.config.lookback:
                raise DataError(
                    f"series {s.id!r} has {len(s)} steps; forecasting needs the last lookback="
                    f"{self.config.lookback} steps."
                )
            # A series unseen in training gets scalers fit on its own history (all of it is past).
            pairs.append((s, known.get(s.id) or self._new_state(s, len(s))))
        return pairs

    def _raw_predict(self, pairs, horizon: int) -> np.ndarray:
        """Forecasts in original units: (S, n_outputs, horizon), quantile blocks sorted."""
        c = self.config
        L = c.lookback
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

    def predict(self, horizon: int | None = None, data=None) -> pd.DataFrame:
        """Forecast the next `horizon` steps of every series.

        Args:
            horizon: steps ahead (default: the fitted horizon; at most it for direct models).
            data: forecast from the end of this table instead of the training data's end (same
                columns as in fit).

        Returns:
            A tidy DataFrame: ``id`` (when the data has series ids), ``date`` (continuing each
            series' frequency, or integer steps), ``forecast``, and ``q<level>`` per quantile.
        """
        self._require_fitted("predict")
        c = self.config
        horizon = c.horizon if horizon is None else horizon
        if not isinstance(horizon, (int, np.integer)) or isinstance(horizon, bool) or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon!r}.")
        if c.pipeline == "auto":
            if data is not None:
                raise ValueError(
                    "the automatic pipeline forecasts from the end of the data it was fit on; "
                    "fit it on the new data (seconds) or use pipeline='plain' to pass data=."
                )
            if horizon > c.horizon:
                raise ValueError(
                    f"this forecaster forecasts at most {c.horizon} steps, asked for {horizon}; "
                    "refit with a longer horizon."
                )
            return pipeline.predict_frame(
                self.auto_states, self.ensembles, c, int(horizon), self.freq, self.step
            )
        if c.strategy == "direct" and horizon > c.horizon:
            raise ValueError(
                f"this direct model forecasts at most {c.horizon} steps, asked for {horizon}; refit "
                "with a longer horizon or use strategy='recursive'."
            )
        pairs = self._states_for(data)
        return self._frame(pairs, self._raw_predict(pairs, int(horizon)), int(horizon))

    def fitted_values(self, data) -> pd.DataFrame:
        """One-step-ahead in-sample predictions over `data` (the first step of every window).

        Returns:
            DataFrame with ``id`` (when present), ``date``, ``actual``, ``fitted``, ``part``
            ("train" or "validation", per the fit's split).
        """
        self._require_fitted("fitted_values")
        L, parts = self.config.lookback, []
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

    def backtest(
        self,
        data,
        folds: int | None = None,
        start=None,
        stride: int | None = None,
        horizon: int | None = None,
        refit: bool = True,
        **kwargs,
    ):
        """Rolling-origin backtest against the baselines; see `grunet.forecast.backtest.backtest`."""
        from grunet.forecast.backtest import backtest

        return backtest(
            self,
            data,
            folds=folds,
            start=start,
            stride=stride,
            horizon=horizon,
            refit=refit,
            **kwargs,
        )

    # -- files ------------------------------------------------------------------------------
    def save(
        self, path: str | os.PathLike, overwrite: bool = False, keep: Sequence[str] = ()
    ) -> Path:
        """Write the folder `path`: forecaster.json (config, columns, scalers, series tails,
        calibration offsets) and model.grunet (weights, safetensors; model_<k>.grunet for further
        networks of an ensemble). The folder appears complete or not at all.

        Args:
            overwrite: replace an existing folder. keep: names of entries of the existing folder
                to carry over into the new one (e.g. a training checkpoint).

        Raises:
            FileExistsError: `path` exists and overwrite is False.
        """
        self._require_fitted("save")
        return saving.save(
            self.fitted_state(), self.models, self.ensembles, path, overwrite=overwrite, keep=keep
        )

    def fitted_state(self) -> FittedState:
        """Everything fit learned except network weights, as one JSON-able `FittedState`."""
        self._require_fitted("fitted_state")
        return FittedState(
            config=self.get_config(),
            schema=self.schema,
            freq=self.freq,
            step=self.step,
            series=self.states,
            auto_series=self.auto_states,
            offsets=self.offsets,
            history=self.history,
            fit_seconds=self.fit_seconds,
            fit_kwargs=self.fit_kwargs,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Forecaster:
        """A Forecaster saved with `save`, fitted and ready to predict.

        Raises:
            ModelFileError: the folder is missing, incomplete, or not a grunet forecaster.
        """
        state, config, models, ensembles = saving.read(path)
        f = cls.from_config(asdict(config))
        f.schema, f.freq, f.step = state.schema, state.freq, state.step
        f.states, f.auto_states, f.offsets = state.series, state.auto_series, state.offsets
        f.history, f.fit_seconds, f.fit_kwargs = state.history, state.fit_seconds, state.fit_kwargs
        f.models, f.ensembles = models, ensembles
        return f


def load(path: str | os.PathLike) -> Forecaster:
    """Load a Forecaster saved with ``Forecaster.save`` (same as `Forecaster.load`)."""
    return Forecaster.load(path)
