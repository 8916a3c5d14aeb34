"""grunet.forecast: forecast real series with GRU networks, and check them against baselines.

``Forecaster(...).fit(table)`` -> ``predict(horizon)`` -> ``backtest(table, folds=K)``; metrics,
baselines, scalers and plots are usable on their own; ``evaluate(paths)`` benchmarks the defaults
against the statsforecast baselines on a corpus of series.
"""

from grunet.forecast import baselines, metrics
from grunet.forecast.config import ForecasterConfig
from grunet.forecast.forecaster import Forecaster, load
from grunet.forecast.frame import Panel, Schema, Series, load_panel, read_table
from grunet.forecast.scalers import (
    MinMaxScaler,
    RobustScaler,
    StandardScaler,
    get_scaler,
)

__all__ = [
    "Forecaster",
    "ForecasterConfig",
    "MinMaxScaler",
    "Panel",
    "RobustScaler",
    "Schema",
    "Series",
    "StandardScaler",
    "baselines",
    "get_scaler",
    "load",
    "load_panel",
    "metrics",
    "read_table",
]


def __getattr__(name: str):
    # backtest/compare/plots load on first use (statsforecast compiles with numba).
    if name in ("backtest", "compare", "plots"):
        import importlib

        return importlib.import_module(f"grunet.forecast.{name}")
    if name in ("evaluate", "Leaderboard"):  # the corpus benchmark (matplotlib, statsforecast)
        import importlib

        return getattr(importlib.import_module("grunet.forecast.evaluation"), name)
    raise AttributeError(f"module 'grunet.forecast' has no attribute {name!r}")
