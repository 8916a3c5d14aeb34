"""``grunet evaluate``: the corpus benchmark, thin over `grunet.forecast.evaluate`."""

from __future__ import annotations

from pathlib import Path

import typer

from grunet.cli.app import user_errors
from grunet.cli.options import FORCE, QUIET, check_outputs, split_list
from grunet.forecast.evaluation import BASELINES, TIME_LIMIT
from grunet.forecast.evaluation import evaluate as run_evaluate

OUTPUTS = ("leaderboard.csv", "summary.csv", "forecasts.csv", "leaderboard.md", "leaderboard.png")


def evaluate(
    paths: list[Path] = typer.Argument(..., help="CSV/Parquet files, or folders of them."),
    horizon: str = typer.Option(
        "auto",
        "--horizon",
        help="Held-out steps per series, or auto: yearly 6, quarterly 8, monthly 18, weekly 13, "
        "daily 14, hourly and finer 48, undated 8.",
    ),
    out: Path = typer.Option(
        Path("grunet-evaluate"),
        "--out",
        help="Folder for leaderboard.csv, summary.csv, forecasts.csv, leaderboard.md and .png.",
    ),
    gru_alone: bool = typer.Option(
        False,
        "--gru-alone",
        help="Also score the GRU pipeline without its statistical members (combine=False).",
    ),
    baselines: str = typer.Option(
        ",".join(BASELINES), "--baselines", help="Baselines to run (statsforecast)."
    ),
    epochs: int | None = typer.Option(
        None, "--epochs", min=1, help="Override grunet's training epochs (quick runs)."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="grunet's seed (repeatable runs)."),
    time_limit: float = typer.Option(
        TIME_LIMIT,
        "--time-limit",
        min=0,
        help="Seconds each baseline may take per series (0: no limit); past it the baseline "
        "counts as timed out and is scored with seasonal naive.",
    ),
    force: bool = FORCE,
    quiet: bool = QUIET,
) -> None:
    """Hold out each series' last H points; rank grunet's defaults against the baselines."""
    variants: dict[str, dict] = {"grunet": {}}
    if gru_alone:
        variants["grunet (GRU alone)"] = {"combine": False}
    with user_errors():
        check_outputs([out / name for name in OUTPUTS], force)
        board = run_evaluate(
            paths,
            horizon=horizon,
            out=out,
            variants=variants,
            baselines=split_list(baselines),
            fit_options={} if epochs is None else {"epochs": epochs},
            seed=seed,
            progress=not quiet,
            time_limit=time_limit,
        )
        typer.echo(board.to_markdown())
        typer.echo(f"wrote {', '.join(str(out / name) for name in OUTPUTS)}")


COMMANDS = [evaluate]
