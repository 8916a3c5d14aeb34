"""What a fitted Forecaster keeps per series, and its JSON form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from grunet.forecast.frame import Series
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
