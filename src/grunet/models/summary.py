"""Keras-like model summary, rendered to text with rich."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table


def readable_size(n_bytes: float) -> str:
    """Keras's memory format: 1024-based units, two decimals (31.25 KB)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def render_summary(model, line_length: int = 88) -> str:
    """The summary table of a built Sequential as text (what ``Sequential.summary`` prints)."""
    table = Table(box=box.HEAVY_HEAD, show_lines=True, expand=True)
    table.add_column("Layer (type)", ratio=40)
    table.add_column("Output Shape", ratio=30)
    table.add_column("Param #", justify="right", ratio=18)
    shape = model.build_input_shape
    for layer in model.layers:
        shape = layer.compute_output_shape(shape)
        dims = ", ".join(str(d) for d in ("None", *shape))
        table.add_row(
            f"{layer.name} ({type(layer).__name__})", f"({dims})", f"{layer.count_params():,}"
        )
    buffer = io.StringIO()
    console = Console(file=buffer, width=line_length, color_system=None, highlight=False)
    console.print(f'Model: "{model.name}"')
    console.print(table)
    params = list(model.parameters())
    trainable = sum(p.numel() for p in params if p.requires_grad)
    total = sum(p.numel() for p in params)
    size = {p: p.element_size() for p in params}
    for label, count, nbytes in (
        ("Total", total, sum(p.numel() * size[p] for p in params)),
        ("Trainable", trainable, sum(p.numel() * size[p] for p in params if p.requires_grad)),
        (
            "Non-trainable",
            total - trainable,
            sum(p.numel() * size[p] for p in params if not p.requires_grad),
        ),
    ):
        console.print(f" {label} params: {count:,} ({readable_size(nbytes)})")
    return buffer.getvalue()
