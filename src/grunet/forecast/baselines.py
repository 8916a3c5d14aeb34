"""Classical baselines, each ``f(history (N,), horizon, m) -> forecast (H,)``.

naive: ``f_{N+h} = y_N``; seasonal naive: ``f_{N+h} = y_{N+h-m*ceil(h/m)}``; drift:
``f_{N+h} = y_N + h * (y_N - y_1) / (N - 1)``; ets: Holt-Winters exponential smoothing
(statsmodels): additive trend, seasonal form from the data (see `ets_form`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from grunet.errors import DataError


def naive(history, horizon: int, m: int = 1) -> np.ndarray:
    """Repeat the last value: ``f_{N+h} = y_N``."""
    y = np.asarray(history, dtype=np.float64)
    return np.full(horizon, y[-1])


def seasonal_naive(history, horizon: int, m: int = 1) -> np.ndarray:
    """Repeat the last season: ``f_{N+h} = y_{N+h-m*ceil(h/m)}``; naive when N < m."""
    y = np.asarray(history, dtype=np.float64)
    if m <= 1 or len(y) < m:
        return naive(y, horizon)
    last = y[-m:]
    return np.array([last[h % m] for h in range(horizon)])


def drift(history, horizon: int, m: int = 1) -> np.ndarray:
    """The line through the first and last values: ``f_{N+h} = y_N + h (y_N - y_1) / (N - 1)``."""
    y = np.asarray(history, dtype=np.float64)
    slope = (y[-1] - y[0]) / (len(y) - 1) if len(y) > 1 else 0.0
    return y[-1] + slope * np.arange(1, horizon + 1)


def ets_form(history, m: int) -> dict:
    """The Holt-Winters form used for `history`: an additive trend; a seasonal component when
    there are two full seasons, multiplicative when the series is positive and the seasonal swing
    grows with the level (correlation of per-season mean and range > 0.5 over >= 3 seasons),
    additive otherwise."""
    y = np.asarray(history, dtype=np.float64)
    seasonal = None
    if m > 1 and len(y) >= 2 * m:
        seasonal = "add"
        k = len(y) // m
        if k >= 3 and np.all(y > 0):
            seasons = y[len(y) - k * m :].reshape(k, m)  # (k, m) full seasons, most recent last
            level, swing = seasons.mean(axis=1), np.ptp(seasons, axis=1)
            if np.std(level) > 0 and np.std(swing) > 0 and np.corrcoef(level, swing)[0, 1] > 0.5:
                seasonal = "mul"
    return {"trend": "add" if len(y) >= 4 else None, "seasonal": seasonal}


def ets(history, horizon: int, m: int = 1) -> np.ndarray:
    """Holt-Winters exponential smoothing (statsmodels ``ExponentialSmoothing``) in the form
    `ets_form` picks, parameters and initial states fit by maximum likelihood."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = np.asarray(history, dtype=np.float64)
    if len(y) < 4:
        return naive(y, horizon)
    form = ets_form(y, m)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # statsmodels' convergence chatter
            model = ExponentialSmoothing(
                y,
                seasonal_periods=m if form["seasonal"] else None,
                initialization_method="estimated",
                **form,
            )
            forecast = np.asarray(model.fit().forecast(horizon), dtype=np.float64)
    except (ValueError, np.linalg.LinAlgError, ZeroDivisionError) as e:
        raise DataError(
            f"ets: Holt-Winters {form} could not be fit to this series ({e})."
        ) from None
    return forecast


BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "naive": naive,
    "seasonal_naive": seasonal_naive,
    "drift": drift,
    "ets": ets,
}


def get_baseline(name: str) -> Callable[..., np.ndarray]:
    if name not in BASELINES:
        raise ValueError(f"Unknown baseline {name!r}; use any of: {', '.join(BASELINES)}.")
    return BASELINES[name]
