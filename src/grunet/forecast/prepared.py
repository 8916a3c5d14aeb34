"""A series in the automatic pipeline's model units: log (or not), less its seasonal indices.

Legend:  N: time steps  H: horizon  m: seasonal period (of the indices)
"""

from __future__ import annotations

import numpy as np

from grunet.forecast.ensemble import Ensemble
from grunet.forecast.seasonality import seasonal_indices
from grunet.forecast.state import AutoSeriesState


class Prepared:
    """A series in model units: z = log(y) (or y) minus the seasonal index of each position
    (indices of period m from `y` itself when `deseasonalise`, or the given `seasonal`)."""

    def __init__(
        self,
        y: np.ndarray,
        m: int,
        log: bool,
        deseasonalise: bool,
        seasonal: np.ndarray | None = None,
    ) -> None:
        self.log = log
        z0 = np.log(y) if log else np.asarray(y, dtype=np.float64)
        if seasonal is None:
            seasonal = seasonal_indices(z0, m) if deseasonalise else np.zeros(max(m, 1))
        self.seasonal = seasonal  # given: a fitted state's stored indices, not recomputed
        self.z = z0 - self.season(np.arange(len(y)))
        d = np.abs(np.diff(self.z))
        self.scale = float(d.mean()) if len(d) and d.mean() > 0 else 1.0

    def season(self, positions: np.ndarray) -> np.ndarray:
        return self.seasonal[np.asarray(positions) % len(self.seasonal)]

    def restore(self, z: np.ndarray, positions: np.ndarray) -> np.ndarray:
        v = np.asarray(z) + self.season(positions)
        return np.exp(v) if self.log else v

    def damp(self, zf: np.ndarray, factor: float) -> np.ndarray:
        """The forecast `zf` (H,) in model units with its change from the last value times
        `factor` (1: unchanged; 0: the last value, i.e. no change)."""
        return self.z[-1] + factor * (zf - self.z[-1])


def gru_forecast(
    prep: Prepared, ens: Ensemble, horizon: int, damping: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """The ensemble's forecast from the end of `prep`, its change from the last value (model
    units) times `damping` (1: as the networks say; 0: the last value, i.e. no change):
    (values (H,), model units (H,))."""
    n = len(prep.z)
    zf = prep.damp(ens.predict(prep.z, prep.scale), damping)
    return prep.restore(zf, np.arange(n, n + horizon)), zf


def prepared_of(state: AutoSeriesState) -> Prepared:
    """The state's series in model units, rebuilt from its stored choices (no refitting)."""
    seasonal = np.asarray(state.seasonal, dtype=np.float64) if state.deseasonalise else None
    return Prepared(
        np.asarray(state.history, dtype=np.float64), state.season_length, state.log, False, seasonal
    )
