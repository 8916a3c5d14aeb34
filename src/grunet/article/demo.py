"""The article, end to end: data, model, fit, predictions, plots, saved model and metrics.

``run_article`` is what ``grunet demo`` calls; everything it does is public API a user can call.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grunet import data, layers
from grunet._files import write_text
from grunet._version import __version__
from grunet.article.plots import plot_predictions
from grunet.errors import OptionError
from grunet.layers import CELLS
from grunet.models import Sequential
from grunet.seeding import set_seed

OUTPUTS = ("history.png", "predictions.png", "model.grunet", "metrics.json")


def build_article_model(units: int = 50, cell: str = "gru", reset_after: bool = True) -> Sequential:
    """The article's model: one recurrent layer on (1 step, 1 feature), then Dense(1), compiled
    with mean squared error and Adam."""
    if cell not in CELLS:
        raise OptionError(f"Unknown cell {cell!r}; use one of: {', '.join(CELLS)}.")
    kwargs: dict[str, Any] = {"reset_after": reset_after} if cell == "gru" else {}
    model = Sequential([CELLS[cell](units, input_shape=(1, 1), **kwargs), layers.Dense(1)])
    model.compile(loss="mean_squared_error", optimizer="adam")
    return model


def run_article(
    out: str | Path = "grunet-demo",
    *,
    epochs: int = 100,
    batch_size: int = 1,
    units: int = 50,
    cell: str = "gru",
    reset_after: bool = True,
    seed: int = 42,
    synthetic: bool = False,
    force: bool = False,
    verbose: int = 1,
    print_fn: Callable[[str], None] = print,
) -> dict:
    """Run the article's workflow and write its outputs into `out`.

    Writes ``history.png``, ``predictions.png``, ``model.grunet`` and ``metrics.json``.

    Args:
        out: output folder (created if missing).
        epochs, batch_size, units: the article's 100, 1, 50 by default.
        cell: "gru", "lstm" or "rnn". reset_after: GRU variant (False = the article's equations).
        seed: seeds weights and shuffling (and the synthetic series).
        synthetic: draw a fresh noisy sine with numpy instead of the article's R series.
        force: replace outputs of an earlier run in `out`.

    Returns:
        The metrics written to metrics.json.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; choose another --out.")
    existing = [name for name in OUTPUTS if (out / name).exists()]
    if existing and not force:
        raise FileExistsError(
            f"{out} already holds {', '.join(existing)} from an earlier run; pass --force to "
            "replace them, or choose another --out."
        )
    if not isinstance(epochs, int) or epochs < 1:
        raise OptionError(f"epochs must be a positive integer, got {epochs!r}.")
    out.mkdir(parents=True, exist_ok=True)

    set_seed(seed)
    series = data.sine_wave(100, seed=seed) if synthetic else data.load_article_sine()
    scaled = data.scale(series)
    x, y = data.lag_pairs(scaled)  # (99, 1, 1), (99, 1)
    model = build_article_model(units, cell, reset_after)
    model.summary(print_fn=print_fn)

    start = time.perf_counter()
    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_split=0.2,
        verbose=verbose,
        print_fn=print_fn if verbose else None,
    )
    fit_seconds = time.perf_counter() - start
    pred = model.predict(x, batch_size=len(x))  # (99, 1), scaled units

    split = int(np.floor(len(x) * 0.8))
    history.plot(out / "history.png", title=f"{cell.upper()} {units}: loss per epoch")
    plot_predictions(
        scaled.inverse(y),
        scaled.inverse(pred),
        out / "predictions.png",
        x=np.arange(2, len(series) + 1),
        split=split,
        title=f"{cell.upper()} one-step-ahead predictions ({'synthetic' if synthetic else 'article'} series)",
    )
    model.save(out / "model.grunet", overwrite=True)
    val_err = scaled.inverse(pred[split:]) - scaled.inverse(y[split:])
    metrics = {
        "final_loss": history.history["loss"][-1],
        "final_val_loss": history.history["val_loss"][-1],
        "val_rmse_original_units": float(np.sqrt(np.mean(val_err**2))),
        "total_params": model.count_params(),
        "epochs": len(history.epoch),
        "batch_size": batch_size,
        "optimizer_steps": len(history.epoch) * history.params["steps"],
        "fit_seconds": round(fit_seconds, 3),
        "cell": cell,
        "units": units,
        "reset_after": reset_after if cell == "gru" else None,
        "seed": seed,
        "data": "synthetic" if synthetic else "article (R set.seed(42))",
        "grunet_version": __version__,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }
    write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    print_fn(
        f"final loss {metrics['final_loss']:.5f}, val_loss {metrics['final_val_loss']:.5f} "
        f"(the article: 0.05499, 0.04849); fit took {fit_seconds:.2f} s for "
        f"{metrics['optimizer_steps']:,} optimizer steps."
    )
    print_fn(f"wrote {', '.join(str(out / n) for n in OUTPUTS)}")
    return metrics
