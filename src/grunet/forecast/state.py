"""What a fitted Forecaster keeps per series, and its JSON form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from grunet.forecast.frame import Schema, Series
from grunet.forecast.scalers import Scaler


@dataclass
class SeriesState:
    """What a fitted Forecaster keeps per series: its scalers and the tail it forecasts from."""

    id: str | None
    target_scaler: Scaler
    covariate_scaler: Scaler | None
    tail: Series
    n_train: int

    def to_dict(self) -> dict[str, Any]:
        index = self.tail.index
        stamps = (
            [t.isoformat() for t in index]
            if isinstance(index, pd.DatetimeIndex)
            else [int(i) for i in index]
        )
        return {
            "id": self.id,
            "n_train": self.n_train,
            "target_scaler": self.target_scaler.get_config(),
            "covariate_scaler": None
            if self.covariate_scaler is None
            else self.covariate_scaler.get_config(),
            "tail": {
                "target": self.tail.target.tolist(),
                "covariates": self.tail.covariates.tolist(),
                "index": stamps,
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], n_covariates: int, dated: bool) -> SeriesState:
        tail = d["tail"]
        index = (
            pd.DatetimeIndex(pd.to_datetime(tail["index"]))
            if dated
            else np.asarray(tail["index"], dtype=np.int64)
        )
        cov = np.asarray(tail["covariates"], dtype=np.float64).reshape(
            len(tail["target"]), n_covariates
        )
        return cls(
            d["id"],
            Scaler.from_config(d["target_scaler"]),
            None if d["covariate_scaler"] is None else Scaler.from_config(d["covariate_scaler"]),
            Series(d["id"], np.asarray(tail["target"], dtype=np.float64), cov, index),
            int(d["n_train"]),
        )


@dataclass
class AutoSeriesState:
    """What the automatic pipeline fitted for one series, all JSON-able (the networks' weights
    live in the model file): every choice, the values it was made from, and the series' tail.

    Positions p count steps from the series' first training step; the seasonal index of step p
    is ``seasonal[p % season_length]``.
    """

    id: str | None
    n_train: int  # training steps
    season_length: int  # m used by the seasonal test, the members and MASE
    deseasonalise: bool
    seasonal: list[float]  # (m,) additive indices in model units, or [] when not deseasonalised
    log: bool
    scale: float  # mean absolute one-step change of the prepared series (model units)
    lookbacks: list[int]  # per ensemble member
    seeds: list[int]  # per ensemble member
    weights: dict[str, float]  # combination weights: "gru", "ets", "theta"
    val_errors: dict[str, float]  # validation MASE per member (empty without validation)
    sigma: float  # GRU forecast error per sqrt(step), in units of `scale`
    width_factor: float  # the combination's intervals are widened by this (validation errors)
    reasons: list[str]  # one sentence per choice
    history: list[float]  # the training values (original units), forecast from their end
    last_index: Any  # the index value (ISO date or int step) of the last training step
    stat_forecasts: dict[str, list[list[float]]]  # member -> [mean, lo80, hi80], each (H,)
    damping: float = 1.0  # the GRU's forecast change from the last value is multiplied by this

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AutoSeriesState:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class FittedState:
    """Everything a fitted Forecaster learned except network weights, in one JSON-able object:
    its config, columns, frequency, per-series states (plain: scalers and tails; auto: every
    choice), calibration offsets and training record. `grunet.forecast.saving` writes and reads
    it without knowing the Forecaster."""

    config: dict[str, Any]
    schema: Schema
    freq: str | None
    step: int
    series: list[SeriesState]  # pipeline="plain"
    auto_series: list[AutoSeriesState]  # pipeline="auto"
    offsets: np.ndarray | None  # (Q, H) conformal offsets in model units (plain)
    history: dict[str, list[float]]
    fit_seconds: float
    fit_kwargs: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "schema": self.schema.to_dict(),
            "freq": self.freq,
            "step": self.step,
            "series": [st.to_dict() for st in self.series],
            "auto_series": [st.to_dict() for st in self.auto_series],
            "calibration_offsets": None if self.offsets is None else self.offsets.tolist(),
            "history": self.history,
            "fit_seconds": self.fit_seconds,
            "fit_kwargs": self.fit_kwargs,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FittedState:
        schema = Schema(**d["schema"])
        n_cov, dated = len(schema.covariates), d["freq"] is not None
        offsets = d.get("calibration_offsets")
        config = d["config"]
        return cls(
            config=config,
            schema=schema,
            freq=d["freq"],
            step=int(d["step"]),
            series=[SeriesState.from_dict(s, n_cov, dated) for s in d["series"]],
            auto_series=[AutoSeriesState.from_dict(s) for s in d.get("auto_series", [])],
            offsets=None
            if offsets is None
            else np.asarray(offsets, dtype=np.float64).reshape(
                len(config["quantiles"]), config["horizon"]
            ),
            history=d.get("history", {}),
            fit_seconds=float(d.get("fit_seconds", 0.0)),
            fit_kwargs=d.get("fit_kwargs", {}),
        )
