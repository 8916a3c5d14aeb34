"""Forecast accuracy metrics: pure numpy, each with its formula. y: actuals, f: forecasts, n values.

All functions take array-likes of the same shape and return a float (mean over every element).
"""

from __future__ import annotations

import numpy as np

from grunet.errors import DataError


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64)
    f = np.asarray(y_pred, dtype=np.float64)
    if y.shape != f.shape:
        raise DataError(f"actuals and forecasts differ in shape: {y.shape} vs {f.shape}.")
    if y.size == 0:
        raise DataError("no values to score: actuals and forecasts are empty.")
    return y, f


def mae(y_true, y_pred) -> float:
    """Mean absolute error: ``MAE = mean(|y - f|)``."""
    y, f = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y - f)))


def rmse(y_true, y_pred) -> float:
    """Root mean squared error: ``RMSE = sqrt(mean((y - f)^2))``."""
    y, f = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y - f) ** 2)))


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error, in percent: ``MAPE = 100 * mean(|y - f| / |y|)``.

    Undefined where y = 0: returns nan if any actual is 0.
    """
    y, f = _pair(y_true, y_pred)
    if np.any(y == 0):
        return float("nan")
    return float(100.0 * np.mean(np.abs(y - f) / np.abs(y)))


def smape(y_true, y_pred) -> float:
    """Symmetric MAPE, in percent (0..200): ``sMAPE = 100 * mean(2 |y - f| / (|y| + |f|))``.

    Terms where y = f = 0 count as 0.
    """
    y, f = _pair(y_true, y_pred)
    denom = np.abs(y) + np.abs(f)
    terms = np.divide(2.0 * np.abs(y - f), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(100.0 * np.mean(terms))


def mase(y_true, y_pred, y_train, m: int = 1) -> float:
    """Mean absolute scaled error (Hyndman & Koehler 2006) with seasonal period `m`:

    ``MASE = mean(|y - f|) / mean_{t>m}(|x_t - x_{t-m}|)`` where x is the training series, so the
    denominator is the in-sample MAE of the seasonal naive forecast. MASE < 1 beats it.

    Args:
        y_true, y_pred: actuals and forecasts over the test period.
        y_train: the training series (N,), N > m.
        m: seasonal period (1 = non-seasonal naive).
    """
    y, f = _pair(y_true, y_pred)
    x = np.asarray(y_train, dtype=np.float64).ravel()
    if not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"mase: m must be a positive integer, got {m!r}.")
    if len(x) <= m:
        raise DataError(f"mase: the training series has {len(x)} values; it needs more than m={m}.")
    scale = np.mean(np.abs(x[m:] - x[:-m]))
    if scale == 0:
        return float("nan")
    return float(np.mean(np.abs(y - f)) / scale)


def pinball_loss(y_true, y_quantile, q: float) -> float:
    """Pinball (quantile) loss at level q in (0, 1), with e = y - f_q:

    ``L_q = mean(max(q * e, (q - 1) * e))``. At q = 0.5 it is half the MAE.
    """
    y, f = _pair(y_true, y_quantile)
    if not 0.0 < q < 1.0:
        raise ValueError(f"pinball_loss: q must be in (0, 1), got {q!r}.")
    e = y - f
    return float(np.mean(np.maximum(q * e, (q - 1.0) * e)))


def coverage(y_true, lower, upper) -> float:
    """Empirical coverage of an interval: ``mean(lower <= y <= upper)``, a fraction in [0, 1]."""
    y, lo = _pair(y_true, lower)
    _, hi = _pair(y_true, upper)
    return float(np.mean((lo <= y) & (y <= hi)))


def interval_pairs(levels) -> list[tuple[float, float]]:
    """Symmetric (lower, upper) pairs among quantile levels, widest first: ``lo + hi = 1``,
    e.g. (0.1, 0.9), whose interval has nominal `coverage` ``hi - lo``."""
    qs = sorted(float(q) for q in levels)
    return [(lo, hi) for lo in qs for hi in qs if lo < 0.5 and abs(lo + hi - 1.0) < 1e-9]


POINT_METRICS = ("mae", "rmse", "mape", "smape", "mase")
