"""Forecasting figures: forecast with intervals, in-sample fit, backtest folds, cell comparison.

Headless-safe (Agg canvas via matplotlib.figure.Figure); each function returns the Figure and saves
it atomically when given a path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from grunet._files import save_figure
from grunet.forecast.metrics import interval_pairs

MAX_PANELS = 4


def _series_ids(frame: pd.DataFrame) -> list:
    return list(dict.fromkeys(frame["id"])) if "id" in frame.columns else [None]


def _rows(frame: pd.DataFrame, sid) -> pd.DataFrame:
    return frame if sid is None else frame[frame["id"] == sid]


def _axes(n: int, height: float = 3.2) -> tuple[Figure, list]:
    n = min(n, MAX_PANELS)
    fig = Figure(figsize=(9, height * n))
    return fig, [fig.add_subplot(n, 1, i + 1) for i in range(n)]


def _quantile_pairs(frame: pd.DataFrame, prefix: str = "q") -> list[tuple[str, str, float]]:
    """(lower column, upper column, nominal coverage) for symmetric quantile pairs, widest first."""
    levels = [
        float(c[len(prefix) :])
        for c in frame.columns
        if c.startswith(prefix) and c[len(prefix) :].replace(".", "", 1).isdigit()
    ]
    return [(f"{prefix}{lo:g}", f"{prefix}{hi:g}", hi - lo) for lo, hi in interval_pairs(levels)]


def _label(ax, title: str, sid) -> None:
    """Title (with the series id), grid and legend of one series' panel."""
    ax.set_title(title if sid is None else f"{title}: {sid}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)


def _finish(fig: Figure, path) -> Figure:
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_forecast(
    forecast: pd.DataFrame,
    history=None,
    path=None,
    *,
    actual=None,
    tail: int | None = None,
    title: str = "Forecast",
) -> Figure:
    """History, forecast and its intervals (shaded between symmetric quantiles), one panel per
    series (at most 4).

    Args:
        forecast: Forecaster.predict's frame. history: the Panel forecast from (optional).
        actual: a Panel holding the true future values, drawn for comparison (optional).
        tail: show only the last `tail` steps of history.
    """
    ids = _series_ids(forecast)
    fig, axes = _axes(len(ids))

    def lookup(panel):
        return {s.id: s for s in panel.series} if panel is not None else {}

    hist, truth = lookup(history), lookup(actual)
    for ax, sid in zip(axes, ids, strict=False):
        f = _rows(forecast, sid)
        if sid in hist:
            s = hist[sid] if tail is None else hist[sid].tail(tail)
            ax.plot(s.index, s.target, color="tab:blue", label="history")
        if sid in truth:
            s = truth[sid]
            keep = np.isin(np.asarray(s.index), np.asarray(f["date"]))
            ax.plot(s.index[keep], s.target[keep], color="black", marker=".", label="actual")
        for lo, hi, cov in _quantile_pairs(f):
            ax.fill_between(
                f["date"],
                f[lo],
                f[hi],
                color="tab:red",
                alpha=0.15 + 0.1 * (cov < 0.5),
                label=f"{cov:.0%} interval ({lo}–{hi})",
            )
        ax.plot(f["date"], f["forecast"], color="tab:red", linestyle="--", label="forecast")
        _label(ax, title, sid)
    return _finish(fig, path)


def plot_fit(
    fitted: pd.DataFrame, path=None, *, title: str = "In-sample one-step-ahead fit"
) -> Figure:
    """Actual vs fitted (Forecaster.fitted_values), the validation part shaded."""
    ids = _series_ids(fitted)
    fig, axes = _axes(len(ids))
    for ax, sid in zip(axes, ids, strict=False):
        f = _rows(fitted, sid)
        ax.plot(f["date"], f["actual"], color="tab:blue", label="actual")
        ax.plot(
            f["date"], f["fitted"], color="tab:red", linestyle="--", label="fitted (1 step ahead)"
        )
        val = f[f["part"] == "validation"]
        if len(val):
            ax.axvspan(
                val["date"].iloc[0],
                val["date"].iloc[-1],
                color="grey",
                alpha=0.15,
                label="validation",
            )
        _label(ax, title, sid)
    return _finish(fig, path)


def plot_backtest(
    result, history=None, path=None, *, title: str = "Rolling-origin backtest"
) -> Figure:
    """Top: the first series with each fold's grunet forecast and the best baseline's (by MASE).
    Bottom: mean MASE per model (below 1 beats the in-sample seasonal naive)."""
    from grunet.forecast.backtest import MODEL

    fc = result.forecasts
    sid = _series_ids(fc)[0]
    f = _rows(fc, sid)
    baselines = [m for m in result.overall.index if m != MODEL]
    best = result.overall.loc[baselines, "mase"].idxmin() if baselines else None
    fig = Figure(figsize=(9, 7))
    top, bottom = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    if history is not None:
        s = next(x for x in history.series if x.id == sid)
        top.plot(s.index, s.target, color="tab:blue", label="actual", linewidth=1)
    else:
        top.plot(f["date"], f["actual"], color="tab:blue", label="actual", linewidth=1)
    for k, fold in f.groupby("fold"):
        labels = k == f["fold"].min()
        top.plot(fold["date"], fold[MODEL], color="tab:red", label=MODEL if labels else None)
        pairs = _quantile_pairs(fold, prefix=f"{MODEL}_q")
        if pairs:
            lo, hi, cov = pairs[0]
            top.fill_between(
                fold["date"],
                fold[lo],
                fold[hi],
                color="tab:red",
                alpha=0.15,
                label=f"{MODEL} {cov:.0%} interval" if labels else None,
            )
        if best is not None:
            top.plot(
                fold["date"],
                fold[best],
                color="tab:green",
                linestyle="--",
                label=best if labels else None,
            )
        top.axvline(fold["date"].iloc[0], color="grey", linewidth=0.8, linestyle=":")
    _label(top, title, sid)
    mase = result.overall["mase"]
    colors = ["tab:red" if m == MODEL else "tab:grey" for m in mase.index]
    bottom.bar(mase.index.astype(str), mase.to_numpy(), color=colors)
    for x, v in enumerate(mase.to_numpy()):
        bottom.text(x, v, f"{v:.2f}", ha="center", va="bottom", fontsize=9)
    bottom.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    bottom.set_ylabel(f"MASE (m={result.season_length}), lower is better")
    bottom.set_title(f"Mean over {result.scores['fold'].nunique()} folds, horizon {result.horizon}")
    bottom.grid(alpha=0.3, axis="y")
    return _finish(fig, path)


def plot_compare(
    runs: pd.DataFrame, path=None, *, title: str = "GRU vs LSTM vs SimpleRNN"
) -> Figure:
    """Bars (mean over seeds, with each seed's value as a dot) of seconds per epoch, final
    validation loss and test MASE per cell."""
    metrics = [
        ("sec_per_epoch", "train seconds / epoch"),
        ("val_loss", "validation loss (scaled)"),
        ("test_mase", "test MASE"),
    ]
    cells = list(dict.fromkeys(runs["cell"]))
    fig = Figure(figsize=(11, 3.8))
    for i, (col, label) in enumerate(metrics):
        ax = fig.add_subplot(1, 3, i + 1)
        means = [runs.loc[runs["cell"] == c, col].mean() for c in cells]
        stds = [runs.loc[runs["cell"] == c, col].std(ddof=0) for c in cells]
        ax.bar(
            cells,
            means,
            yerr=stds,
            color=["tab:red", "tab:blue", "tab:grey"][: len(cells)],
            alpha=0.8,
            capsize=4,
        )
        for x, c in enumerate(cells):
            vals = runs.loc[runs["cell"] == c, col].to_numpy()
            ax.scatter(np.full(len(vals), x), vals, color="black", s=10, zorder=3)
        ax.set_title(label)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"{title} ({runs['seed'].nunique()} seeds)")
    return _finish(fig, path)
