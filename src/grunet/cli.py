"""The grunet command line: thin typed commands over the public API.

Errors a user can fix are printed as one line (``error: ...``) with exit status 1; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer

from grunet.errors import GrunetError

app = typer.Typer(
    name="grunet",
    help="GRU networks for sequences and time series.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_state = {"debug": False}
# OSError covers the file-system errors a user can fix (missing, exists, not a folder, permission).
USER_ERRORS = (GrunetError, ValueError, OSError, RuntimeError, ImportError)


class Cell(str, Enum):
    gru = "gru"
    lstm = "lstm"
    rnn = "rnn"


def _fail(e: BaseException) -> None:
    if _state["debug"]:
        raise e
    msg = str(e) if not isinstance(e, KeyError) else str(e.args[0])
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(1)


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")):
    _state["debug"] = debug


@app.command()
def demo(
    out: Path = typer.Option(
        Path("grunet-demo"), "--out", help="Folder for plots, model, metrics."
    ),
    epochs: int = typer.Option(100, min=1, help="Training epochs."),
    batch_size: int = typer.Option(1, "--batch-size", min=1, help="Samples per optimizer step."),
    units: int = typer.Option(50, min=1, help="Recurrent units."),
    cell: Cell = typer.Option(Cell.gru, help="Recurrent cell."),
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
    from grunet.article import run_article

    try:
        run_article(
            out,
            epochs=epochs,
            batch_size=batch_size,
            units=units,
            cell=cell.value,
            reset_after=reset_after,
            seed=seed,
            synthetic=synthetic,
            force=force,
            verbose=0 if quiet else 1,
        )
    except USER_ERRORS as e:
        _fail(e)


@app.command()
def bench(
    device: str = typer.Option("cpu", help="cpu or cuda."),
    quick: bool = typer.Option(False, help="A small subset of the grid."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write results as JSON."),
) -> None:
    """Time grunet's GRU backends against torch.nn.GRU, side by side in one run."""
    if device not in ("cpu", "cuda"):
        _fail(ValueError(f"--device must be cpu or cuda, got {device!r}."))
    try:
        if device == "cuda":
            from grunet.bench.cuda import run_cuda_bench

            run_cuda_bench(quick=quick, json_path=json_path)
        else:
            from grunet.bench.cpu import run_bench

            run_bench(device=device, quick=quick, json_path=json_path)
    except USER_ERRORS as e:
        _fail(e)


@app.command()
def export(
    model: Path = typer.Argument(..., help="A saved model (.grunet or .keras)."),
    format: str = typer.Option("onnx", "--format", help="Target format (onnx)."),
    out: Path | None = typer.Option(
        None, "--out", help="Output file (default: MODEL with the format's suffix)."
    ),
    force: bool = typer.Option(False, help="Replace an existing output file."),
) -> None:
    """Export a saved model for another runtime (ONNX keeps the GRU variant exactly)."""
    from grunet.export import export_command

    try:
        typer.echo(export_command(model, format, out, force))
    except USER_ERRORS as e:
        _fail(e)


def _register_forecasting() -> None:
    from grunet.cli_forecast import register

    register(app)


_register_forecasting()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
