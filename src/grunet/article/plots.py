"""The article's figure: the true series and the one-step-ahead predictions.

Headless-safe: figures are drawn on the Agg canvas and never need a display.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from grunet._files import save_figure


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
    save_figure(fig, path)
    return fig
