"""GRU vs LSTM vs SimpleRNN through the same forecasting pipeline, beside reference forecasts.

Every cell runs through the same Forecaster (by default the default pipeline: the same data
handling, lookback choice, normalisation, ensemble), and only ``cell`` differs; each seed is one
run. Each series' last `horizon` steps are the test set (never seen in training or scaling).
Seasonal naive and AutoETS (statsforecast), fit on the same training part, are reference rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypedDict

import numpy as np
import pandas as pd

from grunet.forecast import metrics as M
from grunet.forecast.backtest import markdown_table
from grunet.forecast.baselines import LABELS, forecast_baseline
from grunet.forecast.forecaster import Forecaster
from grunet.forecast.frame import Series, load_panel, season_length

CELL_GATES = {"gru": 3, "lstm": 4, "rnn": 1}
CELL_NAMES = {"gru": "GRU", "lstm": "LSTM", "rnn": "SimpleRNN"}
REFERENCES = ("seasonal_naive", "ets")


@dataclass
class CompareResult:
    """runs: one row per (cell, seed). table: one row per cell and per reference (means, and
    std over seeds). settings: what every run shared."""

    runs: pd.DataFrame
    table: pd.DataFrame
    settings: dict[str, Any]

    def to_markdown(self) -> str:
        t = self.table

        def num(v, fmt: str) -> str:
            return "–" if pd.isna(v) else format(v, fmt)

        show = pd.DataFrame(
            {
                "gates": [num(v, ".0f") for v in t["gates"]],
                "parameters": [num(v, ",.0f") for v in t["params"]],
                "fit s": [num(v, ".2f") for v in t["fit_seconds"]],
                "test MASE": [
                    f"{m:.3f} ± {s:.3f}" if s > 0 else f"{m:.3f}"
                    for m, s in zip(t["test_mase"], t["test_mase_std"], strict=False)
                ],
                "test sMAPE": [num(v, ".2f") for v in t["test_smape"]],
            },
            index=pd.Index([CELL_NAMES.get(c, c) for c in t.index], name="cell"),
        )
        return markdown_table(show)


def _score(panel, horizon: int, m: int, forecast: Callable[[Any, np.ndarray], np.ndarray]):
    """Mean MASE and sMAPE over series of `forecast(series, history) -> (horizon,)`."""
    mases, smapes = [], []
    for s in panel.series:
        history, actual = s.target[:-horizon], s.target[-horizon:]
        f = forecast(s, history)
        mases.append(M.mase(actual, f, history, m if len(history) > m else 1))
        smapes.append(M.smape(actual, f))
    return float(np.mean(mases)), float(np.mean(smapes))


def _forecast_of(pred: pd.DataFrame, s, history=None) -> np.ndarray:
    """Series `s`'s point forecast from a prediction frame (all rows when there are no ids)."""
    return (pred if s.id is None else pred[pred["id"] == s.id])["forecast"].to_numpy()


class _FitOptions(TypedDict, total=False):
    """The `Forecaster.fit` arguments `compare_cells` passes on when given."""

    epochs: int
    batch_size: int
    val_size: float


def _baseline_mean(name: str, horizon: int, m: int, s: Series, history: np.ndarray) -> np.ndarray:
    """Baseline `name`'s point forecast (horizon,) from `history` (series `s` is not used)."""
    return forecast_baseline(name, history, horizon, m).mean


def compare_cells(
    data,
    cells: Sequence[str] = ("gru", "lstm", "rnn"),
    seeds: Sequence[int] = (0, 1, 2),
    horizon: int = 12,
    epochs: int | None = None,
    units: int | None = None,
    lookback: int | None = None,
    batch_size: int | None = None,
    val_size: int | None = None,
    target: str | Sequence[str] = "value",
    date: str | None = None,
    id: str | None = None,
    covariates: Sequence[str] | None = None,
    references: Sequence[str] = REFERENCES,
    on_run: Callable[[str, int], None] | None = None,
    **forecaster_kwargs: Any,
) -> CompareResult:
    """Forecast the test part with each cell and seed, and with the reference baselines.

    Args:
        data: DataFrame or CSV/Parquet path. cells: any of "gru", "lstm", "rnn". seeds: one run each.
        horizon: test steps per series (the forecast horizon).
        epochs, units, lookback, batch_size, val_size: given, they are passed to every run
            (Forecaster / fit arguments); None keeps the Forecaster's own default or choice.
        target, date, id, covariates: columns, as in Forecaster.fit.
        references: baselines (names in grunet.forecast.baselines.MODELS) reported as rows.
        on_run: called with (cell, seed) after each run (progress).
        **forecaster_kwargs: further Forecaster arguments, the same for every cell.

    Returns:
        CompareResult. Columns per run: gates, params (of the first network), fit_seconds,
        test_mase and test_smape (means over series).
    """
    panel = load_panel(data, target=target, date=date, id=id, covariates=covariates)
    train = panel.map(lambda s: s.head(len(s) - horizon))
    shared = {"units": units, "lookback": lookback, **forecaster_kwargs}
    shared = {k: v for k, v in shared.items() if v is not None}
    fit_kw: _FitOptions = {}
    if epochs is not None:
        fit_kw["epochs"] = epochs
    if batch_size is not None:
        fit_kw["batch_size"] = batch_size
    if val_size is not None:
        fit_kw["val_size"] = val_size
    warmup: _FitOptions = {**fit_kw, "epochs": 1}
    m = forecaster_kwargs.get("season_length") or season_length(panel.freq)
    rows = []
    for cell in cells:
        # An untimed one-epoch fit first, so no cell's timing includes one-off JIT compilation.
        Forecaster(cell=cell, horizon=horizon, **shared).fit(train, **warmup)
        for seed in seeds:
            f = Forecaster(cell=cell, horizon=horizon, seed=int(seed), **shared)
            f.fit(train, **fit_kw)
            pred = f.predict()
            mase, smape = _score(panel, horizon, m, partial(_forecast_of, pred))
            rows.append(
                {
                    "cell": cell,
                    "seed": int(seed),
                    "gates": CELL_GATES[cell],
                    "params": f.model.count_params() if f.model is not None else np.nan,
                    "fit_seconds": f.fit_seconds,
                    "test_mase": mase,
                    "test_smape": smape,
                }
            )
            if on_run is not None:
                on_run(cell, int(seed))
    runs = pd.DataFrame(rows)
    g = runs.groupby("cell", sort=False)
    table = g[["gates", "params", "fit_seconds", "test_mase", "test_smape"]].mean()
    table["test_mase_std"] = g["test_mase"].std(ddof=0)
    for name in references:
        t0 = time.perf_counter()
        mase, smape = _score(panel, horizon, m, partial(_baseline_mean, name, horizon, m))
        table.loc[LABELS[name]] = {
            "gates": np.nan,
            "params": np.nan,
            "fit_seconds": (time.perf_counter() - t0) / len(panel.series),
            "test_mase": mase,
            "test_smape": smape,
            "test_mase_std": 0.0,
        }
    table.index.name = "cell"
    settings = {"cells": list(cells), "seeds": [int(s) for s in seeds], "horizon": horizon}
    settings.update({**shared, **fit_kw, "references": [LABELS[r] for r in references]})
    return CompareResult(runs, table, settings)
