"""The Forecaster's configuration: its constructor arguments as one validated, JSON-able dataclass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grunet.errors import OptionError
from grunet.forecast.scalers import get_scaler
from grunet.layers import CELLS

STRATEGIES = ("direct", "recursive")
PIPELINES = ("auto", "plain")
# Options only the plain engine has, at their defaults: any other value selects pipeline="plain".
PLAIN_ONLY = {
    "layers": 1,
    "dropout": 0.0,
    "reset_after": True,
    "scaler": "standard",
    "strategy": "direct",
    "calendar": False,
    "relative": False,
    "calibrate": None,
    "calibration_size": None,
}
# Plain-engine values of the options the automatic pipeline chooses itself.
PLAIN_DEFAULTS = {"lookback": 24, "log": False, "n_models": 1, "learning_rate": 1e-3}


def quantile_column(q: float) -> str:
    """The forecast-frame column of quantile q: 0.1 -> "q0.1"."""
    return f"q{q:g}"


@dataclass
class ForecasterConfig:
    """The Forecaster's constructor arguments (JSON-able); see `Forecaster`."""

    cell: str = "gru"
    lookback: int | None = None
    horizon: int = 12
    units: int = 32
    layers: int = 1
    dropout: float = 0.0
    reset_after: bool = True
    scaler: str | None = "standard"
    quantiles: list[float] | None = None
    strategy: str = "direct"
    calendar: bool = False
    relative: bool | str = False
    season_length: int | None = None
    learning_rate: float | None = None
    seed: int | None = None
    log: bool | None = None
    n_models: int | None = None
    calibrate: bool | None = None
    calibration_size: int | None = None
    pipeline: str | None = None
    combine: bool | str | None = None
    train_steps: int | None = None

    def __post_init__(self) -> None:
        if self.pipeline is None:
            plain = self.lookback is not None or any(
                getattr(self, k) != v and not (k == "relative" and self.relative is None)
                for k, v in PLAIN_ONLY.items()
            )
            self.pipeline = "plain" if plain else "auto"
        if self.pipeline not in PIPELINES:
            raise OptionError(
                f"Unknown pipeline {self.pipeline!r}; use 'auto' (choices made from the data) or "
                "'plain' (the network exactly as configured)."
            )
        if self.pipeline == "plain":
            for k, v in PLAIN_DEFAULTS.items():
                if getattr(self, k) is None:
                    setattr(self, k, v)
        if self.pipeline == "auto" and self.learning_rate is None:
            self.learning_rate = 3e-3
        if self.combine not in (None, True, False, "validation"):
            raise OptionError(
                f"combine must be None or True (equal-weight combination), 'validation' (weights "
                f"from the validation folds) or False (the GRU alone), got {self.combine!r}."
            )
        if self.train_steps is not None and (
            not isinstance(self.train_steps, (int, np.integer)) or self.train_steps < 1
        ):
            raise OptionError(f"train_steps must be a positive integer, got {self.train_steps!r}.")
        if self.cell not in CELLS:
            raise OptionError(f"Unknown cell {self.cell!r}; use one of: {', '.join(CELLS)}.")
        if self.strategy not in STRATEGIES:
            raise OptionError(
                f"Unknown strategy {self.strategy!r}; use one of: {', '.join(STRATEGIES)}."
            )
        for name in ("lookback", "horizon", "units", "layers", "n_models"):
            value = getattr(self, name)
            if value is None and name in ("lookback", "n_models"):
                continue  # automatic
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise OptionError(f"{name} must be a positive integer, got {value!r}.")
            setattr(self, name, int(value))
        if self.season_length is not None and (
            not isinstance(self.season_length, int) or self.season_length < 1
        ):
            raise OptionError(
                f"season_length must be a positive integer, got {self.season_length!r}."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise OptionError(f"dropout must be in [0, 1), got {self.dropout!r}.")
        if self.learning_rate is None or not self.learning_rate > 0:
            raise OptionError(f"learning_rate must be positive, got {self.learning_rate!r}.")
        get_scaler(self.scaler)  # validates the name
        if self.quantiles is not None:
            qs = [float(q) for q in self.quantiles]
            if not qs or any(not 0.0 < q < 1.0 for q in qs) or len(set(qs)) != len(qs):
                raise OptionError(
                    f"quantiles must be distinct levels strictly between 0 and 1, e.g. [0.1, 0.5, 0.9]; "
                    f"got {self.quantiles!r}."
                )
            self.quantiles = sorted(qs)
            if self.strategy == "recursive":
                raise OptionError(
                    "quantiles need strategy='direct': a recursive model feeds back point forecasts, "
                    "so its one-step quantiles would understate multi-step uncertainty."
                )
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise OptionError(f"seed must be a non-negative integer, got {self.seed!r}.")
        if self.relative is True:
            self.relative = "last"
        if self.relative not in (False, None, "last", "season"):
            raise OptionError(
                f"relative must be False, True (= 'last') or 'season', got {self.relative!r}."
            )
        self.relative = self.relative or False
        if self.calibrate is None:
            self.calibrate = bool(self.quantiles)
        if self.calibrate and not self.quantiles:
            raise OptionError(
                "calibrate=True needs quantiles: there are no intervals to calibrate."
            )
        if self.calibration_size is not None and (
            not isinstance(self.calibration_size, (int, np.integer))
            or self.calibration_size < self.horizon
        ):
            raise OptionError(
                f"calibration_size must be an integer >= the horizon {self.horizon} (steps whose "
                f"forecasts calibrate the intervals), got {self.calibration_size!r}."
            )

    @property
    def plain_lookback(self) -> int:
        """The plain pipeline's lookback (always set there; the automatic one sizes its own)."""
        if self.lookback is None:
            raise RuntimeError("the automatic pipeline sizes its lookback per series.")
        return self.lookback

    @property
    def n_outputs(self) -> int:
        return 1 + len(self.quantiles or [])

    @property
    def model_horizon(self) -> int:
        """Steps the network outputs per window: H (direct) or 1 (recursive)."""
        return self.horizon if self.strategy == "direct" else 1

    @property
    def calibration_steps(self) -> int:
        """C: the last steps of each series whose forecasts calibrate the intervals (default 2 H)."""
        return self.calibration_size or 2 * self.horizon
