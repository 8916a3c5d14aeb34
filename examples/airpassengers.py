"""AirPassengers end to end: fit a GRU, forecast 1960, backtest against baselines, compare cells.

Run from the repository root:

    python examples/airpassengers.py --out airpassengers-out

Writes into --out: forecast.csv, forecast.png, fit.png, backtest.csv, backtest.png, compare.md,
compare.csv, compare.png and results.json (every number quoted in docs/forecast_results.md).

Settings (chosen on the validation years 1955-1956 only, before any test fold; see
docs/forecast_results.md): log=True (the series is positive and its seasonal swing grows with its
level: multiplicative seasonality becomes additive), relative="season" (each month is forecast as
a change from the same month a year earlier), quantiles 0.1/0.5/0.9 conformally calibrated on the
last 24 months before each forecast origin.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import pandas as pd
import torch

from grunet.forecast import Forecaster, load_panel
from grunet.forecast import metrics as M
from grunet.forecast.backtest import backtest
from grunet.forecast.baselines import BASELINES
from grunet.forecast.compare import compare_cells
from grunet.forecast.plots import plot_backtest, plot_compare, plot_fit, plot_forecast

DATA = Path(__file__).parent / "data" / "airpassengers.csv"
OUTPUTS = (
    "forecast.csv",
    "forecast.png",
    "fit.png",
    "backtest.csv",
    "backtest.png",
    "compare.md",
    "compare.csv",
    "compare.png",
    "results.json",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("airpassengers-out"))
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell in the comparison")
    parser.add_argument(
        "--n-models", type=int, default=1, help="networks per forecaster (ensemble)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (tiny models: 1 is fastest)"
    )
    parser.add_argument("--force", action="store_true", help="replace outputs of an earlier run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    existing = [n for n in OUTPUTS if (args.out / n).exists()]
    if existing and not args.force:
        raise SystemExit(
            f"{args.out} already holds {', '.join(existing)}; pass --force to replace them."
        )
    args.out.mkdir(parents=True, exist_ok=True)

    df = pd.read_csv(DATA)  # date,value: monthly passengers (thousands), 1949-01 .. 1960-12
    panel = load_panel(df, date="date")
    settings = {
        "lookback": 24,
        "horizon": 12,
        "units": args.units,
        "relative": "season",
        "log": True,
        "quantiles": [0.1, 0.5, 0.9],
        "calibrate": True,
        "n_models": args.n_models,
        "seed": 0,
    }
    fit_kw = {"epochs": args.epochs, "batch_size": 16}
    started = time.perf_counter()
    results: dict = {
        "settings": {**settings, **fit_kw},
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }

    # 1. Train on 1949-1959, forecast 1960, score against the truth and the baselines.
    train, test = df.iloc[:-12], df.iloc[-12:]
    train_panel = load_panel(
        train, date="date"
    )  # validated once, used by fit, plots and fitted values
    f = Forecaster(**settings).fit(train_panel, **fit_kw)
    fc = f.predict()
    fc.to_csv(args.out / "forecast.csv", index=False)
    y_train, y_test = train["value"].to_numpy(float), test["value"].to_numpy(float)
    holdout = {"grunet": fc["forecast"].to_numpy()}
    holdout.update({name: fn(y_train, 12, 12) for name, fn in BASELINES.items()})
    results["holdout_1960"] = {
        name: {
            "mae": M.mae(y_test, p),
            "rmse": M.rmse(y_test, p),
            "mape": M.mape(y_test, p),
            "mase": M.mase(y_test, p, y_train, 12),
        }
        for name, p in holdout.items()
    }
    results["holdout_1960"]["grunet"]["coverage_0.1-0.9"] = M.coverage(
        y_test, fc["q0.1"], fc["q0.9"]
    )
    results["fit"] = {
        "params": f.model.count_params(),
        "fit_seconds": f.fit_seconds,
        "final_loss": f.history["loss"][-1],
    }
    plot_forecast(
        fc,
        train_panel,
        args.out / "forecast.png",
        actual=panel,
        tail=72,
        title="AirPassengers: GRU forecast of 1960 (trained on 1949-1959)",
    )
    plot_fit(
        f.fitted_values(train_panel),
        args.out / "fit.png",
        title="AirPassengers: one-step-ahead in-sample fit (1949-1959)",
    )

    # 2. Rolling-origin backtest: one fold per year at the end, refit each time, same folds for all.
    start = time.perf_counter()
    bt = backtest(Forecaster(**settings), panel, folds=args.folds, **fit_kw)
    results["backtest_seconds"] = time.perf_counter() - start
    bt.scores.to_csv(args.out / "backtest.csv", index=False)
    results["backtest_folds"] = bt.scores.astype({"cutoff": str}).round(4).to_dict(orient="records")
    results["backtest"] = bt.overall.round(4).to_dict(orient="index")
    results["backtest_markdown"] = bt.to_markdown()
    plot_backtest(
        bt, panel, args.out / "backtest.png", title="AirPassengers: GRU vs the best baseline"
    )

    # 3. GRU vs LSTM vs SimpleRNN under the same budget and seeds (test year 1960).
    cmp = compare_cells(
        df,
        date="date",
        seeds=range(args.seeds),
        epochs=args.epochs,
        units=args.units,
        lookback=24,
        horizon=12,
        batch_size=16,
        relative="season",
        log=True,
    )
    (args.out / "compare.md").write_text(cmp.to_markdown() + "\n")
    cmp.runs.to_csv(args.out / "compare.csv", index=False)
    plot_compare(
        cmp.runs, args.out / "compare.png", title="AirPassengers: GRU vs LSTM vs SimpleRNN"
    )
    results["compare_markdown"] = cmp.to_markdown()

    results["total_seconds"] = time.perf_counter() - started
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(
        "1960 hold-out (MASE, m=12):",
        {k: round(v["mase"], 3) for k, v in results["holdout_1960"].items()},
    )
    print(bt.to_markdown())
    print(cmp.to_markdown())
    print(f"wrote {', '.join(str(args.out / n) for n in OUTPUTS)}")


if __name__ == "__main__":
    main()
