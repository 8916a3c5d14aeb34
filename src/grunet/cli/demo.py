"""``grunet demo``: the article, end to end."""

from __future__ import annotations

from pathlib import Path

import typer

from grunet.article import run_article
from grunet.article import warmup as warmup_kernels
from grunet.cli.app import Cell, user_errors


def demo(
    out: Path = typer.Option(
        Path("grunet-demo"), "--out", help="Folder for plots, model, metrics."
    ),
    epochs: int = typer.Option(100, min=1, help="Training epochs."),
    batch_size: int = typer.Option(1, "--batch-size", min=1, help="Samples per optimizer step."),
    units: int = typer.Option(50, min=1, help="Recurrent units."),
    cell: Cell = typer.Option("gru", help="Recurrent cell."),
    reset_after: bool = typer.Option(
        True,
        "--reset-after/--no-reset-after",
        help="GRU variant: reset after the recurrent product (Keras/cuDNN) or before (the article).",
    ),
    seed: int = typer.Option(42, min=0, help="Seed for weights, shuffling and synthetic data."),
    synthetic: bool = typer.Option(
        False, help="Use a fresh numpy noisy sine, not the article's R series."
    ),
    force: bool = typer.Option(False, help="Replace outputs of an earlier run in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-epoch progress."),
) -> None:
    """Run the article: noisy sine, GRU(50) + Dense(1), fit, predict, plot, save."""
    with user_errors():
        run_article(
            out,
            epochs=epochs,
            batch_size=batch_size,
            units=units,
            cell=Cell(cell).value,
            reset_after=reset_after,
            seed=seed,
            synthetic=synthetic,
            force=force,
            verbose=0 if quiet else 1,
        )


def warmup(
    all_paths: bool = typer.Option(
        False, "--all", help="Also the one-step inference paths (nn.GRU calls, Stepper)."
    ),
) -> None:
    """Compile the CPU kernels `grunet demo` uses now (20-40 s once; numba caches them on disk)."""
    with user_errors():
        warmup_kernels(("fit", "call", "stepper") if all_paths else ("fit",), print_fn=typer.echo)


COMMANDS = [demo, warmup]
