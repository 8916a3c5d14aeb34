"""The forecasting commands: ``grunet fit | forecast | backtest | compare``, thin over grunet.forecast.

``register(app)`` adds them to a typer app (the main one in grunet.cli). Every command validates
its outputs before any work, never replaces files without ``--force``, shows progress on stderr,
and prints errors a user can fix as one line (via grunet.cli._fail).
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from grunet.models.history import Callback


class CellName(str, Enum):
    gru = "gru"
    lstm = "lstm"
    rnn = "rnn"


class Strategy(str, Enum):
    direct = "direct"
    recursive = "recursive"


class ScalerName(str, Enum):
    standard = "standard"
    minmax = "minmax"
    robust = "robust"
    none = "none"


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


def _numbers(text: str | None, kind=float, what: str = "values") -> list:
    try:
        return [kind(t) for t in _split(text)]
    except ValueError:
        raise ValueError(
            f"{what} must be comma-separated numbers, e.g. 0.1,0.5,0.9; got {text!r}."
        ) from None


def _val_size(text: str | None):
    if text is None:
        return None
    value = float(text)
    return int(value) if value.is_integer() else value


def _targets(target: str):
    names = _split(target)
    return names[0] if len(names) == 1 else names


def _check_parents(path: Path) -> None:
    """Refuse an output whose folder cannot exist because a file sits on its path."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise FileExistsError(
                    f"{parent} is a file, so {path} cannot be created; choose another --out."
                )
            return


def _check_outputs(paths: list[Path], force: bool) -> None:
    for path in paths:
        _check_parents(path)
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise FileExistsError(
            f"{', '.join(existing)} already exist(s); pass --force to replace, or choose another --out."
        )


def _write_text(path: Path, text: str) -> None:
    from grunet.models.io import atomic_write

    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def _progress(quiet: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=Console(stderr=True),
        transient=True,
        disable=quiet,
    )


class _EpochBar(Callback):
    """Advances a rich progress task once per epoch and shows the latest losses."""

    def __init__(self, progress, description: str, epochs: int) -> None:
        self.progress, self.description, self.epochs = progress, description, epochs

    def on_train_begin(self, logs=None) -> None:
        self.task = self.progress.add_task(self.description, total=self.epochs, info="")

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        info = " ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items())
        self.progress.update(self.task, advance=1, info=info)

    def on_train_end(self, logs=None) -> None:
        self.progress.remove_task(self.task)


def _relative(relative: bool, season_relative: bool):
    return "season" if season_relative else relative


def _forecaster(
    *,
    cell,
    lookback,
    horizon,
    units,
    layers,
    dropout,
    scaler,
    quantiles,
    strategy,
    calendar,
    relative,
    season_relative,
    season_length,
    learning_rate,
    seed,
    log,
    n_models,
    calibrate,
    calibration_size,
):
    """The Forecaster the model options of fit and backtest describe."""
    from grunet.forecast import Forecaster

    quantile_levels = _numbers(quantiles, float, "--quantiles") or None
    if calibrate and not quantile_levels:
        calibrate = None  # the default: calibrate exactly when there are quantiles
    return Forecaster(
        cell=cell.value,
        lookback=lookback,
        horizon=horizon,
        units=units,
        layers=layers,
        dropout=dropout,
        scaler=None if scaler is ScalerName.none else scaler.value,
        quantiles=quantile_levels,
        strategy=strategy.value,
        calendar=calendar,
        relative=_relative(relative, season_relative),
        season_length=season_length,
        learning_rate=learning_rate,
        seed=seed,
        log=log,
        n_models=n_models,
        calibrate=calibrate,
        calibration_size=calibration_size,
    )


def _columns(target, date, id, covariates) -> dict[str, Any]:
    return {"target": _targets(target), "date": date, "id": id, "covariates": _split(covariates)}


# Options shared by fit, backtest and compare (typer reads each default as the option's spec).
DATA = typer.Argument(..., help="CSV or Parquet file.", show_default=False)
TARGET = typer.Option(
    "value", "--target", help="Column to forecast (A,B,...: wide layout, one series each)."
)
DATE = typer.Option(None, "--date", help="Date column (datetimes or integer steps).")
ID = typer.Option(None, "--id", help="Series-id column of a long table (one global model).")
COVARIATES = typer.Option(None, "--covariates", help="Past-covariate columns, comma-separated.")
LOOKBACK = typer.Option(24, "--lookback", min=1, help="Input steps per window.")
HORIZON = typer.Option(12, "--horizon", min=1, help="Steps to forecast.")
CELL = typer.Option(CellName.gru, "--cell", help="Recurrent cell.")
UNITS = typer.Option(32, "--units", min=1, help="Recurrent units.")
LAYERS = typer.Option(1, "--layers", min=1, help="Stacked recurrent layers.")
DROPOUT = typer.Option(
    0.0, "--dropout", min=0.0, max=0.99, help="Input dropout of each recurrent layer."
)
SCALER = typer.Option(
    ScalerName.standard, "--scaler", help="Scaler per series (fit on the training part)."
)
QUANTILES = typer.Option(None, "--quantiles", help="Quantile levels, e.g. 0.1,0.5,0.9.")
STRATEGY = typer.Option(
    Strategy.direct, "--strategy", help="direct (one head for H steps) or recursive."
)
CALENDAR = typer.Option(False, "--calendar/--no-calendar", help="Add sin/cos calendar features.")
RELATIVE = typer.Option(
    False, "--relative/--absolute", help="Windows relative to their last value (trends)."
)
SEASON_RELATIVE = typer.Option(
    False,
    "--season-relative",
    help="Forecast each step's change from one season "
    "earlier (the seasonal naive); inputs relative to their last value.",
)
LOG = typer.Option(
    False,
    "--log/--no-log",
    help="Model the log of the target (positive series whose seasonal swing grows with the level).",
)
N_MODELS = typer.Option(
    1, "--n-models", min=1, help="Networks in the ensemble (seeds seed, seed+1, ...)."
)
CALIBRATE = typer.Option(
    True,
    "--calibrate/--no-calibrate",
    help="Conformally calibrate the quantiles on "
    "the last --calibration-size steps before the forecast origin.",
)
CALIBRATION_SIZE = typer.Option(
    None,
    "--calibration-size",
    min=1,
    help="Steps held out to calibrate the quantiles (default: 2 x horizon).",
)
SEASON = typer.Option(
    None, "--season-length", min=1, help="Seasonal period m (default from the frequency)."
)
LR = typer.Option(1e-3, "--learning-rate", min=0.0, help="Adam learning rate.")
SEED = typer.Option(0, "--seed", min=0, help="Seed for weights and shuffling.")
EPOCHS = typer.Option(100, "--epochs", min=1, help="Training epochs.")
BATCH = typer.Option(32, "--batch-size", min=1, help="Windows per optimizer step.")
VAL = typer.Option(
    None, "--val-size", help="Last steps per series held out for validation (int or fraction)."
)
PATIENCE = typer.Option(
    None, "--patience", min=0, help="Early stopping patience (needs --val-size)."
)
FORCE = typer.Option(False, "--force", help="Replace existing outputs.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars.")


def fit(
    data: Path = DATA,
    target: str = TARGET,
    date: str | None = DATE,
    id: str | None = ID,
    covariates: str | None = COVARIATES,
    lookback: int = LOOKBACK,
    horizon: int = HORIZON,
    cell: CellName = CELL,
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
    out: Path = typer.Option(..., "--out", help="Folder for the model, plots and metrics.json."),
    checkpoint_every: int | None = typer.Option(
        None,
        "--checkpoint-every",
        min=1,
        help="Write a training checkpoint to OUT/checkpoint every N epochs.",
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the training checkpoint in OUT/checkpoint "
        "(an interrupted fit with the same arguments); starts afresh if there is none.",
    ),
    distributed: bool = typer.Option(
        False,
        "--distributed",
        help="Data-parallel training under torchrun "
        "(torchrun --nproc-per-node N -m grunet fit ...); rank 0 writes the files.",
    ),
    force: bool = FORCE,
    quiet: bool = QUIET,
) -> None:
    """Train a forecaster; write the model, history.png, fit.png and metrics.json into --out."""
    args = dict(locals())
    from grunet.cli import USER_ERRORS, _fail

    try:
        _run_fit(**args)
    except (*USER_ERRORS, OSError) as e:  # OSError: unwritable or odd paths, disk full
        _fail(e)


CHECKPOINT = "checkpoint"


def _run_fit(
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
    out,
    checkpoint_every,
    resume,
    distributed,
    force,
    quiet,
    **model,
) -> None:
    import os
    import shutil

    import numpy as np

    from grunet.forecast import load_panel
    from grunet.forecast.metrics import mae, rmse
    from grunet.forecast.plots import plot_fit
    from grunet.plot import plot_history

    _check_parents(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; choose another --out.")
    if (
        out.exists()
        and any(out.iterdir())
        and not (force or (resume and (out / CHECKPOINT).is_dir()))
    ):
        raise FileExistsError(
            f"{out} already exists; pass --force to replace it (or --resume to continue "
            "its training checkpoint), or choose another --out."
        )
    if resume and patience is not None:
        raise ValueError(
            "--resume cannot be combined with --patience: the early-stopping state is not part "
            "of the checkpoint, so a resumed run could stop at another epoch."
        )
    f = _forecaster(**model)
    cell, units, n_models = f.config.cell, f.config.units, f.config.n_models
    panel = load_panel(data, **_columns(target, date, id, covariates))
    kw = {
        "val_size": _val_size(val_size),
        "epochs": epochs,
        "batch_size": batch_size,
        "early_stopping": patience,
    }
    rank = int(os.environ.get("RANK", "0")) if distributed else 0
    checkpoint = out / CHECKPOINT if (checkpoint_every or resume) else None
    if checkpoint is not None and checkpoint.exists() and not resume and rank == 0:
        shutil.rmtree(checkpoint)  # --force without --resume: start afresh
    train_kw = (
        {}
        if checkpoint is None
        else {
            "checkpoint_dir": checkpoint,
            "checkpoint_every": checkpoint_every or 1,
            "resume": resume,
        }
    )
    with _progress(quiet or rank != 0) as progress:
        f.fit(
            panel,
            **kw,
            **train_kw,
            distributed=distributed,
            callbacks=[_EpochBar(progress, f"training {cell}", epochs)],
        )
    if f.rank != 0:  # every process holds the same model; only rank 0 writes it
        return
    f.save(out, overwrite=True, keep=(CHECKPOINT,) if checkpoint is not None else ())
    history = type("H", (), {"history": f.history, "epoch": list(range(len(f.history["loss"])))})()
    plot_history(history, out / "history.png", title=f"{cell.upper()} {units}: loss per epoch")
    fitted = f.fitted_values(panel)
    plot_fit(fitted, out / "fit.png")
    parts = {p: fitted[fitted["part"] == p] for p in ("train", "validation")}
    metrics = {
        "cell": cell,
        "params": f.model.count_params(),
        "n_models": len(f.models),
        "calibration_offsets": None if f.offsets is None else f.offsets.tolist(),
        "epochs_run": len(f.history["loss"]),
        "fit_seconds": round(f.fit_seconds, 3),
        "final_loss": f.history["loss"][-1],
        "final_val_loss": f.history.get("val_loss", [None])[-1],
        "best_val_loss": min(f.history["val_loss"]) if "val_loss" in f.history else None,
        "windows": f.n_windows,
        "series": len(panel.series),
        "freq": f.freq,
        "season_length": f.season_length,
        "one_step_ahead": {
            p: {"mae": mae(d["actual"], d["fitted"]), "rmse": rmse(d["actual"], d["fitted"])}
            for p, d in parts.items()
            if len(d)
        },
        "config": f.get_config(),
        "columns": f.schema.to_dict(),
    }
    _write_text(
        out / "metrics.json",
        json.dumps(metrics, indent=2, default=lambda v: float(np.asarray(v))) + "\n",
    )
    typer.echo(
        f"trained {f'{n_models} x ' if n_models > 1 else ''}{cell} ({metrics['params']:,} parameters"
        f"{' each' if n_models > 1 else ''}) for {metrics['epochs_run']} epochs in "
        f"{f.fit_seconds:.1f} s; final loss {metrics['final_loss']:.4f}"
        + (
            f", val_loss {metrics['final_val_loss']:.4f}"
            if metrics["final_val_loss"] is not None
            else ""
        )
    )
    typer.echo(
        f"wrote {out}/ (forecaster.json, model.grunet, history.png, fit.png, metrics.json"
        + (f", {CHECKPOINT}/)" if checkpoint is not None else ")")
    )


def forecast(
    model: Path = typer.Argument(..., help="Folder written by `grunet fit`.", show_default=False),
    data: Path | None = typer.Option(
        None, "--data", help="Forecast from the end of this table instead."
    ),
    horizon: int | None = typer.Option(
        None, "--horizon", min=1, help="Steps ahead (default: the model's)."
    ),
    out: Path = typer.Option(..., "--out", help="CSV file for the forecast."),
    plot: Path | None = typer.Option(None, "--plot", help="Also draw the forecast to this PNG."),
    force: bool = FORCE,
) -> None:
    """Forecast with a saved model; write a tidy CSV (id, date, forecast, q<level>...)."""
    from grunet.cli import USER_ERRORS, _fail

    try:
        from grunet.forecast import Panel, load, load_panel
        from grunet.forecast.plots import plot_forecast

        _check_outputs([out] + ([plot] if plot else []), force)
        f = load(model)
        # Read the table once: predict and the plot share the validated panel.
        history = None if data is None else load_panel(data, **f.schema.to_dict())
        frame = f.predict(horizon=horizon, data=history)
        _write_text(out, frame.to_csv(index=False))
        if plot is not None:
            if history is None:
                history = Panel([st.tail for st in f.states], f.freq, f.step, f.schema)
            plot_forecast(frame, history, plot, tail=max(4 * f.config.horizon, f.config.lookback))
        typer.echo(f"wrote {len(frame)} forecast rows to {out}" + (f" and {plot}" if plot else ""))
    except (*USER_ERRORS, OSError) as e:  # OSError: unwritable or odd paths, disk full
        _fail(e)


def backtest(
    data: Path = DATA,
    target: str = TARGET,
    date: str | None = DATE,
    id: str | None = ID,
    covariates: str | None = COVARIATES,
    lookback: int = LOOKBACK,
    horizon: int = HORIZON,
    cell: CellName = CELL,
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
    from grunet.cli import USER_ERRORS, _fail

    try:
        _run_backtest(**args)
    except (*USER_ERRORS, OSError) as e:  # OSError: unwritable or odd paths, disk full
        _fail(e)


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
    from rich.console import Console

    from grunet.forecast import load_panel
    from grunet.forecast.backtest import backtest as run
    from grunet.forecast.plots import plot_backtest

    names = ("backtest.csv", "forecasts.csv", "backtest.png", "summary.md")
    _check_outputs([out / n for n in names], force)
    f = _forecaster(**model)
    cell = f.config.cell
    panel = load_panel(data, **_columns(target, date, id, covariates))
    with _progress(quiet) as progress:
        task = progress.add_task("backtest folds", total=folds, info="")
        result = run(
            f,
            panel,
            folds=folds,
            stride=stride,
            refit=refit,
            baselines=_split(baselines),
            on_fold=lambda k, n: progress.update(task, completed=k + 1, total=n),
            val_size=_val_size(val_size),
            epochs=epochs,
            batch_size=batch_size,
            early_stopping=patience,
            callbacks=[_EpochBar(progress, f"training {cell}", epochs)],
        )
    out.mkdir(parents=True, exist_ok=True)
    _write_text(out / "backtest.csv", result.scores.to_csv(index=False))
    _write_text(out / "forecasts.csv", result.forecasts.to_csv(index=False))
    _write_text(out / "summary.md", result.to_markdown() + "\n")
    plot_backtest(result, panel, out / "backtest.png", title=f"Backtest: {cell} vs baselines")
    Console().print(_rich_table(result))
    typer.echo(f"wrote {', '.join(str(out / n) for n in names)}")


def _rich_table(result):
    """Metrics as rows, models as columns; the best value per row in bold."""
    import pandas as pd
    from rich.table import Table

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
    from grunet.cli import USER_ERRORS, _fail

    try:
        from grunet.forecast.compare import compare_cells
        from grunet.forecast.plots import plot_compare

        names = ("compare.md", "compare.csv", "compare.png")
        _check_outputs([out / n for n in names], force)
        cell_list, seed_list = _split(cells), _numbers(seeds, int, "--seeds")
        with _progress(quiet) as progress:
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
                relative=_relative(relative, season_relative),
                log=log,
                season_length=season_length,
                learning_rate=learning_rate,
                on_run=lambda c, s: progress.update(task, advance=1, info=f"{c} seed {s}"),
                **_columns(target, date, id, covariates),
            )
        out.mkdir(parents=True, exist_ok=True)
        table = result.to_markdown()
        _write_text(out / "compare.md", table + "\n")
        _write_text(out / "compare.csv", result.runs.to_csv(index=False))
        plot_compare(result.runs, out / "compare.png")
        typer.echo(table)
        typer.echo(f"wrote {', '.join(str(out / n) for n in names)}")
    except (*USER_ERRORS, OSError) as e:  # OSError: unwritable or odd paths, disk full
        _fail(e)


def register(app: typer.Typer) -> None:
    """Add fit, forecast, backtest and compare to `app`."""
    for command in (fit, forecast, backtest, compare):
        app.command(name=command.__name__)(command)
