"""What the forecasting commands share: typed options, parsing of comma lists, output checks,
progress bars, and the Forecaster the model options describe."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from grunet.cli.app import Cell
from grunet.errors import OptionError
from grunet.forecast import Forecaster
from grunet.models import Callback


class Strategy(str, Enum):
    direct = "direct"
    recursive = "recursive"


class ScalerName(str, Enum):
    standard = "standard"
    minmax = "minmax"
    robust = "robust"
    none = "none"


def split_list(text: str | None) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


def numbers(text: str | None, kind=float, what: str = "values") -> list:
    try:
        return [kind(t) for t in split_list(text)]
    except ValueError:
        raise OptionError(
            f"{what} must be comma-separated numbers, e.g. 0.1,0.5,0.9; got {text!r}."
        ) from None


def val_size_arg(text: str | None):
    if text is None:
        return None
    value = float(text)
    return int(value) if value.is_integer() else value


def targets(target: str):
    names = split_list(target)
    return names[0] if len(names) == 1 else names


def check_parents(path: Path) -> None:
    """Refuse an output whose folder cannot exist because a file sits on its path."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise FileExistsError(
                    f"{parent} is a file, so {path} cannot be created; choose another --out."
                )
            return


def check_outputs(paths: list[Path], force: bool) -> None:
    for path in paths:
        check_parents(path)
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise FileExistsError(
            f"{', '.join(existing)} already exist(s); pass --force to replace, or choose another --out."
        )


def progress_bars(quiet: bool) -> Progress:
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


class EpochBar(Callback):
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


def relative_arg(relative: bool, season_relative: bool):
    return "season" if season_relative else relative


def make_forecaster(
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
    quantile_levels = numbers(quantiles, float, "--quantiles") or None
    if calibrate and not quantile_levels:
        calibrate = None  # the default: calibrate exactly when there are quantiles
    return Forecaster(
        cell=Cell(cell).value,
        lookback=lookback,
        horizon=horizon,
        units=units,
        layers=layers,
        dropout=dropout,
        scaler=None if scaler is ScalerName.none else scaler.value,
        quantiles=quantile_levels,
        strategy=strategy.value,
        calendar=calendar,
        relative=relative_arg(relative, season_relative),
        season_length=season_length,
        learning_rate=learning_rate,
        seed=seed,
        log=log,
        n_models=n_models,
        calibrate=calibrate,
        calibration_size=calibration_size,
    )


def columns(target, date, id, covariates) -> dict[str, Any]:
    return {"target": targets(target), "date": date, "id": id, "covariates": split_list(covariates)}


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
CELL = typer.Option("gru", "--cell", help="Recurrent cell.")
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
