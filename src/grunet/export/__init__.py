"""grunet.export: write models for other runtimes (ONNX).

Examples:
    >>> from grunet.export import export
    >>> export(model, "model.onnx", format="onnx")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grunet.export.onnx import DEFAULT_OPSET, build_onnx, to_onnx

FORMATS: dict[str, Callable[..., Path]] = {"onnx": to_onnx}
SUFFIXES = {"onnx": ".onnx"}


def export(
    model, path: str | os.PathLike, format: str = "onnx", *, overwrite: bool = False, **options: Any
) -> Path:
    """Write `model` (a built Sequential) in `format` to `path`; options go to the exporter.

    Raises:
        ValueError: unknown format (the message lists the known ones).
        FileExistsError: `path` exists and overwrite is False.
    """
    if format not in FORMATS:
        raise ValueError(f"Unknown export format {format!r}; use one of: {', '.join(FORMATS)}.")
    return FORMATS[format](model, path, overwrite=overwrite, **options)


def export_command(
    model_path: str | os.PathLike,
    format: str = "onnx",
    out: str | os.PathLike | None = None,
    force: bool = False,
) -> str:
    """``grunet export MODEL --format onnx --out FILE [--force]``: load, export, describe.

    Args:
        model_path: a grunet model file or a Keras ``.keras`` file.
        format: export format ("onnx").
        out: output file; default: `model_path` with the format's suffix.
        force: replace an existing output file.

    Returns:
        One line for the CLI to print, naming the file written.
    """
    from grunet.models.io import load_model

    if format not in FORMATS:
        raise ValueError(f"Unknown export format {format!r}; use one of: {', '.join(FORMATS)}.")
    model = load_model(model_path, compile=False)
    out = Path(out) if out is not None else Path(model_path).with_suffix(SUFFIXES[format])
    if out.exists() and not force:
        raise FileExistsError(f"{out} already exists; pass --force to replace it.")
    written = export(model, out, format, overwrite=force)
    features = model.build_input_shape[-1]
    return (
        f"wrote {written} ({format}: input x (batch, time, {features}) float32, "
        f"output y (batch, {', '.join(str(d) for d in model.output_shape)}))"
    )


__all__ = ["DEFAULT_OPSET", "FORMATS", "build_onnx", "export", "export_command", "to_onnx"]
