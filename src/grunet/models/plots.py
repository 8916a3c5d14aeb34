"""The training-history figure: loss (and validation loss, metrics) per epoch.

Headless-safe: figures are drawn on the Agg canvas and never need a display.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from grunet._files import save_figure


def plot_history(history, path=None, *, title: str | None = None) -> Figure:
    """Loss (and validation loss, metrics) per epoch, on a log scale when it spans > 10x.

    Args:
        history: a ``History`` (or anything with ``.history`` {name: [values]} and ``.epoch``).
        path: save the figure here (PNG, SVG, PDF by suffix) when given.
        title: the figure's title.

    Returns:
        The matplotlib Figure.
    """
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
    save_figure(fig, path)
    return fig
