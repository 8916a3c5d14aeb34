"""The article's figures: loss per epoch, and true series vs one-step-ahead predictions.

Headless-safe: figures are drawn on the Agg canvas and never need a display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def _save(fig: Figure, path) -> None:
    if path is not None:
        from grunet.models.io import atomic_write

        fmt = Path(path).suffix.lstrip(".") or "png"
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight", format=fmt))


def plot_history(history, path=None, *, title: str | None = None) -> Figure:
    """Loss (and validation loss, metrics) per epoch, on a log scale when it spans > 10x."""
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    epochs = np.asarray(history.epoch) + 1
    for key, values in history.history.items():
        ax.plot(epochs, values, label=key, linestyle="--" if key.startswith("val_") else "-")
    values = (
        np.concatenate([np.asarray(v) for v in history.history.values()]) if history.history else []
    )
    if len(values) and np.min(values) > 0 and np.max(values) / np.min(values) > 10:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title or "Training history")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)
    return fig


def plot_predictions(
    y_true,
    y_pred,
    path=None,
    *,
    x=None,
    split: int | None = None,
    title: str = "GRU one-step-ahead predictions",
    ylabel: str = "value",
) -> Figure:
    """The article's plot: the true series and the predictions, with a legend.

    Args:
        y_true, y_pred: (N,) values. x: (N,) positions (default 1..N).
        split: index where validation samples start, shaded when given.
    """
    y_true, y_pred = np.ravel(y_true), np.ravel(y_pred)
    x = np.arange(1, len(y_true) + 1) if x is None else np.asarray(x)
    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    ax.plot(x, y_true, color="tab:blue", label="True", linewidth=1.5)
    ax.plot(x, y_pred, color="tab:red", label="Predicted", linewidth=1.5, linestyle="--")
    if split is not None and 0 < split < len(x):
        ax.axvspan(x[split], x[-1], color="grey", alpha=0.15, label="validation")
    ax.set_xlabel("time")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)
    return fig
