"""``grunet export``: a saved model for another runtime."""

from __future__ import annotations

from pathlib import Path

import typer

from grunet.cli.app import fail, user_errors
from grunet.models import load_model
from grunet.saving import EXPORT_FORMATS, EXPORT_SUFFIXES


def export(
    model: Path = typer.Argument(..., help="A saved model (.grunet or .keras)."),
    format: str = typer.Option("onnx", "--format", help="Target format (onnx)."),
    out: Path | None = typer.Option(
        None, "--out", help="Output file (default: MODEL with the format's suffix)."
    ),
    force: bool = typer.Option(False, help="Replace an existing output file."),
) -> None:
    """Export a saved model for another runtime (ONNX keeps the GRU variant exactly)."""
    if format not in EXPORT_FORMATS:
        fail(f"Unknown export format {format!r}; use one of: {', '.join(EXPORT_FORMATS)}.")
    with user_errors():
        loaded = load_model(model, compile=False)
        target = out if out is not None else model.with_suffix(EXPORT_SUFFIXES[format])
        if target.exists() and not force:
            raise FileExistsError(f"{target} already exists; pass --force to replace it.")
        written = loaded.export(target, format, overwrite=force)
        features = loaded.input_features
        outputs = ", ".join(str(d) for d in loaded.output_shape)
        typer.echo(
            f"wrote {written} ({format}: input x (batch, time, {features}) float32, "
            f"output y (batch, {outputs}))"
        )


COMMANDS = [export]
