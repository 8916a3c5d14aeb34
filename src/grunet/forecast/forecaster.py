"""Forecaster: forecast tables of series with recurrent networks (GRU, LSTM or SimpleRNN).

Two pipelines:
    auto (the default, ``Forecaster(horizon=H)``): every choice made per series from its
        training part: season length, log, deseasonalising, lookback, a GRU ensemble over
        per-window normalised inputs, a validation-weighted combination with AutoETS, AutoTheta
        and seasonal naive (`grunet.forecast.auto`). `describe()` says what was chosen and why.
    plain (``pipeline="plain"``, or any of lookback, layers, dropout, scaler, strategy,
        calendar, relative, calibrate given): one global network over scaled windows of every
        series, exactly as configured (`grunet.forecast.plain`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grunet.errors import OptionError
from grunet.forecast import pipeline, saving
from grunet.forecast.backtest import backtest as run_backtest
from grunet.forecast.config import CELLS, STRATEGIES, ForecasterConfig, quantile_column
from grunet.forecast.ensemble import Ensemble
from grunet.forecast.frame import Panel, Schema, calendar_names, load_panel
from grunet.forecast.network import PinballLoss
from grunet.forecast.plain_predict import PlainPredict
from grunet.forecast.state import AutoSeriesState, FittedState, SeriesState
from grunet.models import Sequential

__all__ = [
    "CELLS",
    "STRATEGIES",
    "Forecaster",
    "ForecasterConfig",
    "PinballLoss",
    "load",
    "quantile_column",
]


class Forecaster(PlainPredict):
    """Forecast one or many series with a GRU (or LSTM, SimpleRNN) trained on sliding windows.

    ``Forecaster(horizon=H)`` runs the automatic pipeline; None below means "chosen from the
    data" there, and lookback 24, learning rate 1e-3, no log, one network with pipeline="plain".

    Args:
        cell: "gru", "lstm" or "rnn". lookback: L input steps (auto: sized from the length).
        horizon: H steps to forecast.
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
        pipeline: "auto", "plain", or None: "plain" when lookback or an option only the plain
            pipeline has (layers, dropout, scaler, strategy, calendar, relative, calibrate,
            calibration_size, reset_after) is given, else "auto".
        combine: auto only: None or True (equal-weight mean of the GRU ensemble, AutoETS,
            AutoTheta and seasonal naive), "validation" (members within 2x the best validation
            MASE, equal weights), False (the GRU ensemble alone).
        train_steps: auto only: Adam steps per network (default from the number of windows).

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
        combine: bool | str | None = None,
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
            date: time column (datetimes, or integer steps); when not given, a column named
                "date" or "ds" (`load_panel`). id: series-id column (long layout).
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

        With the automatic pipeline only `data`, `target`, `date` and `id` apply (its training
        budget is ``train_steps``; it uses no covariates); the rest is for ``pipeline="plain"``.

        Returns:
            self, fitted.
        """
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

    # -- predict ----------------------------------------------------------------------------
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
            raise OptionError(f"horizon must be a positive integer, got {horizon!r}.")
        if c.pipeline == "auto":
            states, ensembles = self.auto_states, self.ensembles
            if data is not None:
                panel = load_panel(data, **self._fitted_schema("predict").to_dict())
                states, ensembles = pipeline.members_for(panel, states, ensembles)
            if horizon > c.horizon:
                raise OptionError(
                    f"this forecaster forecasts at most {c.horizon} steps, asked for {horizon}; "
                    "refit with a longer horizon."
                )
            return pipeline.predict_frame(states, ensembles, c, int(horizon), self.freq, self.step)
        if c.strategy == "direct" and horizon > c.horizon:
            raise OptionError(
                f"this direct model forecasts at most {c.horizon} steps, asked for {horizon}; refit "
                "with a longer horizon or use strategy='recursive'."
            )
        pairs = self._states_for(data)
        return self._frame(pairs, self._raw_predict(pairs, int(horizon)), int(horizon))

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
        return run_backtest(
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
            schema=self._fitted_schema("fitted_state"),
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
