"""GRU vs LSTM vs SimpleRNN under one budget: the article's comparison table, measured.

Every cell gets the same data split, lookback, horizon, units, epochs, batch size and learning
rate, over the same seeds. Each series' last `horizon` steps are the test set (never seen in
training or scaling); the `val_size` steps before them are the validation set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from grunet.forecast import metrics as M
from grunet.forecast.backtest import markdown_table
from grunet.forecast.frame import load_panel

CELL_GATES = {"gru": 3, "lstm": 4, "rnn": 1}
CELL_NAMES = {"gru": "GRU", "lstm": "LSTM", "rnn": "SimpleRNN"}


@dataclass
class CompareResult:
    """runs: one row per (cell, seed); table: one row per cell (means, and std over seeds)."""

    runs: pd.DataFrame
    table: pd.DataFrame
    settings: dict[str, Any]

    def to_markdown(self) -> str:
        t = self.table
        show = pd.DataFrame(
            {
                "gates": [str(int(v)) for v in t["gates"]],
                "parameters": [f"{int(v):,}" for v in t["params"]],
                "train s/epoch": [f"{v:.4f}" for v in t["sec_per_epoch"]],
                "val loss": [
                    f"{m:.4f} ± {s:.4f}"
                    for m, s in zip(t["val_loss"], t["val_loss_std"], strict=False)
                ],
                "test MASE": [
                    f"{m:.3f} ± {s:.3f}"
                    for m, s in zip(t["test_mase"], t["test_mase_std"], strict=False)
                ],
            },
            index=pd.Index([CELL_NAMES.get(c, c) for c in t.index], name="cell"),
        )
        return markdown_table(show)


def compare_cells(
    data,
    cells: Sequence[str] = ("gru", "lstm", "rnn"),
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 100,
    units: int = 32,
    lookback: int = 24,
    horizon: int = 12,
    batch_size: int = 32,
    val_size: int | None = None,
    target: str | Sequence[str] = "value",
    date: str | None = None,
    id: str | None = None,
    covariates: Sequence[str] | None = None,
    on_run: Callable[[str, int], None] | None = None,
    **forecaster_kwargs: Any,
) -> CompareResult:
    """Train each cell with each seed on the same split and budget, and measure it.

    Args:
        data: DataFrame or CSV/Parquet path. cells: any of "gru", "lstm", "rnn". seeds: one run each.
        epochs, units, lookback, horizon, batch_size: the shared budget.
        val_size: validation steps before the test set (default: the horizon).
        target, date, id, covariates: columns, as in Forecaster.fit.
        on_run: called with (cell, seed) after each run (progress).
        **forecaster_kwargs: further Forecaster arguments, the same for every cell.

    Returns:
        CompareResult. Columns per run: gates, params, sec_per_epoch (fit seconds / epochs, the
        per-epoch validation pass included), val_loss (last epoch, scaled units), test_mase.
    """
    from grunet.forecast.forecaster import Forecaster

    panel = load_panel(data, target=target, date=date, id=id, covariates=covariates)
    val_size = horizon if val_size is None else val_size
    train = panel.map(lambda s: s.head(len(s) - horizon))
    rows = []
    for cell in cells:
        # An untimed one-epoch fit first, so no cell's timing includes one-off JIT compilation.
        Forecaster(
            cell=cell, lookback=lookback, horizon=horizon, units=units, **forecaster_kwargs
        ).fit(train, val_size=val_size, epochs=1, batch_size=batch_size)
        for seed in seeds:
            f = Forecaster(
                cell=cell,
                lookback=lookback,
                horizon=horizon,
                units=units,
                seed=int(seed),
                **forecaster_kwargs,
            )
            f.fit(train, val_size=val_size, epochs=epochs, batch_size=batch_size)
            pred = f.predict()
            m = f.season_length
            mases = []
            for s in panel.series:
                fc = pred if s.id is None else pred[pred["id"] == s.id]
                history, actual = s.target[:-horizon], s.target[-horizon:]
                mases.append(
                    M.mase(actual, fc["forecast"].to_numpy(), history, m if len(history) > m else 1)
                )
            rows.append(
                {
                    "cell": cell,
                    "seed": int(seed),
                    "gates": CELL_GATES[cell],
                    "params": f.model.count_params(),
                    "epochs": len(f.history["loss"]),
                    "sec_per_epoch": f.fit_seconds / len(f.history["loss"]),
                    "val_loss": f.history["val_loss"][-1],
                    "test_mase": float(np.mean(mases)),
                }
            )
            if on_run is not None:
                on_run(cell, int(seed))
    runs = pd.DataFrame(rows)
    g = runs.groupby("cell", sort=False)
    table = g[["gates", "params", "sec_per_epoch", "val_loss", "test_mase"]].mean()
    table["val_loss_std"] = g["val_loss"].std(ddof=0)
    table["test_mase_std"] = g["test_mase"].std(ddof=0)
    settings = {
        "cells": list(cells),
        "seeds": [int(s) for s in seeds],
        "epochs": epochs,
        "units": units,
        "lookback": lookback,
        "horizon": horizon,
        "batch_size": batch_size,
        "val_size": val_size,
        **forecaster_kwargs,
    }
    return CompareResult(runs, table, settings)
