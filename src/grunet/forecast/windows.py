"""Windows and time-ordered splits. Nothing here ever looks at a value after its cut-off.

A window with origin ``o`` reads inputs from steps ``[o - L, o)`` and targets from ``[o, o + H)``.
A split at ``cut`` puts steps ``[0, cut)`` in the training part; training windows have every
target before ``cut``, so no value at or after ``cut`` reaches training or scaling.

Legend:  N: time steps  L: lookback  H: horizon  F: input features  M: windows
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from grunet.errors import DataError, OptionError


def _positive_int(value, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise OptionError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def window_origins(
    n: int, lookback: int, horizon: int, first: int | None = None, stop: int | None = None
) -> np.ndarray:
    """Origins o of every window whose inputs start at or after 0, whose first target is at or
    after `first` (default L), and whose last target is before `stop` (default n).

    Returns:
        (M,) int64 origins in increasing (time) order; empty when none fit.
    """
    first = lookback if first is None else max(first, lookback)
    stop = n if stop is None else min(stop, n)
    return np.arange(first, stop - horizon + 1, dtype=np.int64)


def make_windows(
    features: np.ndarray,
    target: np.ndarray,
    lookback: int,
    horizon: int,
    origins: Sequence[int] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut (inputs, targets) windows at `origins`.

    Args:
        features: (N, F) model inputs per step (the target itself is usually column 0).
        target: (N,) values to predict.
        lookback, horizon: L and H.
        origins: (M,) first target step of each window, each in [L, N - H].

    Returns:
        X (M, L, F) float32 and Y (M, H) float32.
    """
    starts = np.asarray(origins, dtype=np.int64)  # (M,)
    n, f = features.shape
    if len(starts) and (starts.min() < lookback or starts.max() > n - horizon):
        raise DataError(f"window origins must lie in [{lookback}, {n - horizon}] for N={n}.")
    if not len(starts):
        return np.zeros((0, lookback, f), np.float32), np.zeros((0, horizon), np.float32)
    x_all = np.lib.stride_tricks.sliding_window_view(features, lookback, axis=0)  # (N-L+1, F, L)
    y_all = np.lib.stride_tricks.sliding_window_view(target, horizon)  # (N-H+1, H)
    X = x_all[starts - lookback].transpose(0, 2, 1)  # (M, L, F)
    Y = y_all[starts]  # (M, H)
    return X.astype(np.float32), Y.astype(np.float32)


def split_point(n: int, val_size: float | None) -> int:
    """Steps in the training part when the last `val_size` steps (an int, or a fraction of n in
    (0, 1)) are held out. None or 0 keeps everything for training."""
    if val_size is None or val_size == 0:
        return n
    if isinstance(val_size, bool) or not isinstance(
        val_size, (int, float, np.integer, np.floating)
    ):
        raise OptionError(f"val_size must be a number of steps or a fraction, got {val_size!r}.")
    if isinstance(val_size, (float, np.floating)) and not float(val_size).is_integer():
        if not 0.0 < val_size < 1.0:
            raise OptionError(f"val_size as a fraction must be in (0, 1), got {val_size!r}.")
        held = math.ceil(n * val_size)
    else:
        held = int(val_size)
        if held < 0:
            raise OptionError(f"val_size must not be negative, got {val_size!r}.")
    if held >= n:
        raise DataError(
            f"val_size={val_size} holds out {held} of {n} steps, leaving nothing to train on."
        )
    return n - held


def rolling_origins(
    n: int,
    horizon: int,
    folds: int | None = None,
    start: int | None = None,
    stride: int | None = None,
    min_train: int = 1,
) -> list[int]:
    """Cut-offs of a rolling-origin backtest, oldest first. Fold k trains on ``[0, cut_k)`` and
    is scored on ``[cut_k, cut_k + H)``.

    Args:
        n: series length. horizon: H.
        folds: K folds ending at the series' end (the last fold scores the last H steps).
        start: first cut-off (a step; negative counts from the end); with `folds`, take K from it.
        stride: steps between cut-offs (default H: test windows tile without overlap).
        min_train: the fewest training steps a fold may have.

    Raises:
        DataError: the series is too short for the folds asked for.
    """
    horizon = _positive_int(horizon, "horizon")
    stride = horizon if stride is None else _positive_int(stride, "stride")
    if folds is None and start is None:
        raise OptionError("backtest needs folds=K or start=<first cut-off>.")
    if start is not None:
        first = int(start) + n if int(start) < 0 else int(start)
        cuts = list(range(first, n - horizon + 1, stride))
        if folds is not None:
            cuts = cuts[: _positive_int(folds, "folds")]
    else:
        folds = _positive_int(folds, "folds")
        cuts = [n - horizon - (folds - 1 - k) * stride for k in range(folds)]
    if not cuts or cuts[0] < min_train:
        need = min_train + horizon + (0 if folds is None else (folds - 1) * stride)
        raise DataError(
            f"a series of {n} steps is too short for this backtest (horizon {horizon}, stride "
            f"{stride}, {folds or len(cuts)} fold(s), at least {min_train} training steps): it needs "
            f"about {need}. Use fewer folds, a smaller horizon or lookback, or a later start."
        )
    return cuts
