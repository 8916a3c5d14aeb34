"""``grunet backtest`` and ``grunet compare``: the network against baselines on rolling-origin
folds, and GRU vs LSTM vs SimpleRNN under one budget."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from grunet._files import write_text
from grunet.cli.app import Cell, user_errors
from grunet.cli.options import (
    BATCH,
    CALENDAR,
    CALIBRATE,
    CALIBRATION_SIZE,
    CELL,
    COVARIATES,
    DATA,
    DATE,
    DROPOUT,
    EPOCHS,
    FORCE,
    HORIZON,
    ID,
    LAYERS,
    LOG,
    LOOKBACK,
    LR,
    N_MODELS,
    PATIENCE,
    QUANTILES,
    QUIET,
    RELATIVE,
    SCALER,
    SEASON,
    SEASON_RELATIVE,
    SEED,
    STRATEGY,
    TARGET,
    UNITS,
    VAL,
    EpochBar,
    ScalerName,
    Strategy,
    check_outputs,
    columns,
    make_forecaster,
    numbers,
    progress_bars,
    relative_arg,
    split_list,
    val_size_arg,
)
from grunet.forecast import load_panel
from grunet.forecast.backtest import backtest as run_backtest
from grunet.forecast.compare import compare_cells
from grunet.forecast.plots import plot_backtest, plot_compare


def backtest(
    data: Path = DATA,
    target: str = TARGET,
    date: str | None = DATE,
    id: str | None = ID,
    covariates: str | None = COVARIATES,
    lookback: int = LOOKBACK,
    horizon: int = HORIZON,
    cell: Cell = CELL,
    units: int = UNITS,
    layers: int = LAYERS,
    dropout: float = DROPOUT,
    scaler: ScalerName = SCALER,
    quantiles: str | None = QUANTILES,
    strategy: Strategy = STRATEGY,
    calendar: bool = CALENDAR,
    relative: bool = RELATIVE,
    season_length: int | None = SEASON,
    learning_rate: float = LR,
    seed: int = SEED,
    epochs: int = EPOCHS,
    batch_size: int = BATCH,
    val_size: str | None = VAL,
    patience: int | None = PATIENCE,
    season_relative: bool = SEASON_RELATIVE,
    log: bool = LOG,
    n_models: int = N_MODELS,
    calibrate: bool = CALIBRATE,
    calibration_size: int | None = CALIBRATION_SIZE,
    folds: int = typer.Option(
        3, "--folds", min=1, help="Rolling-origin folds ending at the series' end."
    ),
    stride: int | None = typer.Option(
        None, "--stride", min=1, help="Steps between folds (default: horizon)."
    ),
    refit: bool = typer.Option(True, "--refit/--no-refit", help="Retrain for every fold."),
    baselines: str = typer.Option(
        "naive,seasonal_naive,drift,ets", "--baselines", help="Baselines to compare."
    ),
    out: Path = typer.Option(
        Path("grunet-backtest"),
        "--out",
        help="Folder for backtest.csv, forecasts.csv, backtest.png.",
    ),
    force: bool = FORCE,
    quiet: bool = QUIET,
) -> None:
    """Rolling-origin backtest of the network against baselines on the same folds."""
    args = dict(locals())
    with user_errors():
        _run_backtest(**args)


def _run_backtest(
    *,
    data,
    target,
    date,
    id,
    covariates,
    epochs,
    batch_size,
    val_size,
    patience,
    folds,
    stride,
    refit,
    baselines,
    out,
    force,
    quiet,
    **model,
) -> None:
    names = ("backtest.csv", "forecasts.csv", "backtest.png", "summary.md")
    check_outputs([out / n for n in names], force)
    f = make_forecaster(**model)
    cell = f.config.cell
    panel = load_panel(data, **columns(target, date, id, covariates))
    with progress_bars(quiet) as progress:
        task = progress.add_task("backtest folds", total=folds, info="")
        result = run_backtest(
            f,
            panel,
            folds=folds,
            stride=stride,
            refit=refit,
            baselines=split_list(baselines),
            on_fold=lambda k, n: progress.update(task, completed=k + 1, total=n),
            val_size=val_size_arg(val_size),
            epochs=epochs,
            batch_size=batch_size,
            early_stopping=patience,
            callbacks=[EpochBar(progress, f"training {cell}", epochs)],
        )
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "backtest.csv", result.scores.to_csv(index=False))
    write_text(out / "forecasts.csv", result.forecasts.to_csv(index=False))
    write_text(out / "summary.md", result.to_markdown() + "\n")
    plot_backtest(result, panel, out / "backtest.png", title=f"Backtest: {cell} vs baselines")
    Console().print(_rich_table(result))
    typer.echo(f"wrote {', '.join(str(out / n) for n in names)}")


def _rich_table(result):
    """Metrics as rows, models as columns; the best value per row in bold."""
    table = Table(
        title=f"Backtest: mean over {result.scores['fold'].nunique()} fold(s), horizon "
        f"{result.horizon}, MASE m={result.season_length}"
    )
    table.add_column("metric")
    for model in result.overall.index:
        table.add_column(str(model), justify="right")
    for metric in result.overall.columns:
        values = result.overall[metric]
        best = None if metric.startswith("coverage") or values.count() < 2 else values.idxmin()
        cells = [
            "–" if pd.isna(v) else (f"[bold]{v:.3f}[/bold]" if m == best else f"{v:.3f}")
            for m, v in values.items()
        ]
        table.add_row(metric, *cells)
    return table


def compare(
    data: Path = DATA,
    target: str = TARGET,
    date: str | None = DATE,
    id: str | None = ID,
    covariates: str | None = COVARIATES,
    lookback: int = LOOKBACK,
    horizon: int = HORIZON,
    units: int = UNITS,
    calendar: bool = CALENDAR,
    relative: bool = RELATIVE,
    season_relative: bool = SEASON_RELATIVE,
    log: bool = LOG,
    season_length: int | None = SEASON,
    learning_rate: float = LR,
    epochs: int = EPOCHS,
    batch_size: int = BATCH,
    val_size: int | None = typer.Option(
        None, "--val-size", min=1, help="Validation steps (default: horizon)."
    ),
    cells: str = typer.Option("gru,lstm,rnn", "--cells", help="Cells to compare."),
    seeds: str = typer.Option("0,1,2", "--seeds", help="Seeds, one run each per cell."),
    out: Path = typer.Option(
        Path("grunet-compare"), "--out", help="Folder for compare.md, compare.csv, compare.png."
    ),
    force: bool = FORCE,
    quiet: bool = QUIET,
) -> None:
    """GRU vs LSTM vs SimpleRNN under the same budget: markdown table and bar chart."""
    with user_errors():
        names = ("compare.md", "compare.csv", "compare.png")
        check_outputs([out / n for n in names], force)
        cell_list, seed_list = split_list(cells), numbers(seeds, int, "--seeds")
        with progress_bars(quiet) as progress:
            task = progress.add_task("runs", total=len(cell_list) * len(seed_list), info="")
            result = compare_cells(
                data,
                cells=cell_list,
                seeds=seed_list,
                epochs=epochs,
                units=units,
                lookback=lookback,
                horizon=horizon,
                batch_size=batch_size,
                val_size=val_size,
                calendar=calendar,
                relative=relative_arg(relative, season_relative),
                log=log,
                season_length=season_length,
                learning_rate=learning_rate,
                on_run=lambda c, s: progress.update(task, advance=1, info=f"{c} seed {s}"),
                **columns(target, date, id, covariates),
            )
        out.mkdir(parents=True, exist_ok=True)
        table = result.to_markdown()
        write_text(out / "compare.md", table + "\n")
        write_text(out / "compare.csv", result.runs.to_csv(index=False))
        plot_compare(result.runs, out / "compare.png")
        typer.echo(table)
        typer.echo(f"wrote {', '.join(str(out / n) for n in names)}")


COMMANDS = [backtest, compare]
