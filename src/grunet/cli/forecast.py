"""``grunet fit`` and ``grunet forecast``: train a forecaster into a folder, forecast from one."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import typer

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
    check_parents,
    columns,
    make_forecaster,
    progress_bars,
    val_size_arg,
)
from grunet.errors import OptionError
from grunet.forecast import Panel, load, load_panel
from grunet.forecast.metrics import mae, rmse
from grunet.forecast.plots import plot_fit, plot_forecast
from grunet.models import History
from grunet.models.plots import plot_history


def fit(
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
    with user_errors():
        _run_fit(**args)


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
    check_parents(out)
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
        raise OptionError(
            "--resume cannot be combined with --patience: the early-stopping state is not part "
            "of the checkpoint, so a resumed run could stop at another epoch."
        )
    f = make_forecaster(**model)
    cell, units, n_models = f.config.cell, f.config.units, f.config.n_models
    panel = load_panel(data, **columns(target, date, id, covariates))
    kw = {
        "val_size": val_size_arg(val_size),
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
    with progress_bars(quiet or rank != 0) as progress:
        f.fit(
            panel,
            **kw,
            **train_kw,
            distributed=distributed,
            callbacks=[EpochBar(progress, f"training {cell}", epochs)],
        )
    if f.rank != 0:  # every process holds the same model; only rank 0 writes it
        return
    f.save(out, overwrite=True, keep=(CHECKPOINT,) if checkpoint is not None else ())
    plot_history(
        History.from_dict(f.history),
        out / "history.png",
        title=f"{cell.upper()} {units}: loss per epoch",
    )
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
    write_text(
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
    with user_errors():
        check_outputs([out] + ([plot] if plot else []), force)
        f = load(model)
        # Read the table once: predict and the plot share the validated panel.
        history = None if data is None else load_panel(data, **f.schema.to_dict())
        frame = f.predict(horizon=horizon, data=history)
        write_text(out, frame.to_csv(index=False))
        if plot is not None:
            if history is None:
                history = Panel([st.tail for st in f.states], f.freq, f.step, f.schema)
            plot_forecast(frame, history, plot, tail=max(4 * f.config.horizon, f.config.lookback))
        typer.echo(f"wrote {len(frame)} forecast rows to {out}" + (f" and {plot}" if plot else ""))


COMMANDS = [fit, forecast]
