"""Seasonal period, log decision and seasonal indices of a series, from its training part only.

Every function here reads only the values it is given: the automatic pipeline passes the training
part of each series, so nothing after the forecast origin (or after a validation cut) can reach a
choice made here.

Legend:  N: time steps  m: seasonal period
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

# Seasonal period by pandas frequency alias (the alias's letters, without its anchor "-DEC").
SEASON_BY_ALIAS = {
    "MS": 12,
    "ME": 12,
    "M": 12,
    "BMS": 12,
    "BME": 12,
    "BM": 12,
    "SMS": 24,
    "SME": 24,
    "QS": 4,
    "QE": 4,
    "Q": 4,
    "BQS": 4,
    "BQE": 4,
    "BQ": 4,
    "W": 52,
    "D": 7,
    "B": 5,
    "C": 5,
}
DAY = pd.Timedelta(days=1)


def season_length_for(freq: str | None) -> int:
    """The seasonal period m of a frequency; 1 (no season) for annual data and integer steps.

    Monthly 12, quarterly 4, weekly 52, daily 7, business-daily 5; below a day, the steps per day
    (hourly 24, half-hourly 48, 15-minute 96, ...). A multiple of a calendar period ("2MS") and
    annual data get 1.

    Args:
        freq: a pandas frequency alias (``Panel.freq``), or None for undated series.
    """
    if freq is None:
        return 1
    m = re.fullmatch(r"(\d*)([A-Za-z]+)(?:-\w+)?", freq)
    if m is None:
        return 1
    mult, base = int(m.group(1) or 1), m.group(2)
    if base in SEASON_BY_ALIAS:
        return SEASON_BY_ALIAS[base] if mult == 1 else 1
    return _steps_per_day(freq) or 1  # annual and other non-fixed offsets: no season


def long_season_for(freq: str | None) -> int:
    """A second, longer season to test for: the week (7 x steps per day) of sub-daily data
    (hourly 168, half-hourly 336); 0 for every other frequency."""
    m = season_length_for(freq)
    return 7 * m if m > 1 and freq is not None and m == _steps_per_day(freq) else 0


def _steps_per_day(freq: str) -> int:
    """The steps per day of a fixed frequency that divides a day ("h" 24, "30min" 48); 0 for
    any other (a day or longer, not a divisor of a day, or not fixed: months, years)."""
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq).nanos, unit="ns")
    except (ValueError, TypeError):
        return 0
    return int(DAY // step) if step < DAY and DAY % step == pd.Timedelta(0) else 0


def is_seasonal(z: np.ndarray, m: int) -> bool:
    """The M4 / Theta seasonality test, on the series less its centred moving average of m
    steps (so a trend or slow persistence cannot pass for a season): the autocorrelation at lag m
    exceeds its 90% limit ``1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / N)``. Needs N >= 3 m; False
    when m <= 1."""
    z = np.asarray(z, dtype=np.float64)
    if m <= 1 or len(z) < 3 * m:
        return False
    w = np.full(m, 1.0 / m) if m % 2 else np.r_[0.5, np.ones(m - 1), 0.5] / m
    start = (len(w) - 1) // 2
    trend = np.convolve(z, w, mode="valid")
    z = z[start : start + len(trend)] - trend
    n = len(z)
    d = z - z.mean()
    denom = float(np.dot(d, d))
    if denom == 0.0:
        return False
    acf = np.array([np.dot(d[: n - k], d[k:]) / denom for k in range(1, m + 1)])  # lags 1..m
    limit = 1.645 * np.sqrt((1.0 + 2.0 * np.sum(acf[: m - 1] ** 2)) / n)
    return bool(abs(acf[m - 1]) > limit)


def wants_log(y: np.ndarray, m: int) -> tuple[bool, str]:
    """Model log(y)? Yes when y is positive and its variation grows with its level.

    The series is cut into chunks of max(2 m, 8) steps; per chunk, the level is the mean. Log is
    used when every value
    is positive, the chunk levels differ by a factor of at least 1.3, and the log-variation rises
    with the log-level (correlation > 0.5). The variation of a chunk is its spread around its own
    straight line when m > 1 (the seasonal swing), else its mean absolute step.

    Returns:
        (use_log, reason): the decision and one sentence saying why.
    """
    y = np.asarray(y, dtype=np.float64)
    if not np.all(y > 0):
        return False, "not all values are positive"
    size = max(2 * m, 8)
    k = len(y) // size
    if k < 3:
        return False, f"too short ({len(y)} steps) to see variation grow with the level"
    chunks = y[len(y) - k * size :].reshape(k, size)
    level = chunks.mean(axis=1)
    if m > 1:  # the seasonal swing: spread around each chunk's own straight line
        t = np.arange(size) - (size - 1) / 2
        slope = chunks @ t / (t @ t)
        var = (chunks - level[:, None] - slope[:, None] * t).std(axis=1)
    else:  # the size of the steps
        var = np.abs(np.diff(chunks, axis=1)).mean(axis=1)
    if level.max() / level.min() < 1.3:
        return False, "positive, but its level changes little (max/min chunk mean < 1.3)"
    if np.any(var <= 0) or np.std(np.log(var)) == 0:
        return False, "positive, but its variation is constant"
    r = float(np.corrcoef(np.log(level), np.log(var))[0, 1])
    if r > 0.5:
        return True, f"positive, and its variation grows with its level (correlation {r:.2f})"
    return False, f"positive, but its variation does not grow with its level (correlation {r:.2f})"


def seasonal_indices(z: np.ndarray, m: int) -> np.ndarray:
    """Additive seasonal indices (m,) of `z` by classical decomposition: the centred moving
    average of m steps (2 x m when m is even) is the trend; the mean of ``z - trend`` at each
    position p (p % m, counted from z's first step) is the index, centred to sum to 0."""
    z = np.asarray(z, dtype=np.float64)
    if m % 2:
        w = np.full(m, 1.0 / m)
    else:
        w = np.r_[0.5, np.ones(m - 1), 0.5] / m
    trend = np.convolve(z, w, mode="valid")  # (n - len(w) + 1,)
    start = (len(w) - 1) // 2
    detrended = z[start : start + len(trend)] - trend
    pos = (np.arange(len(detrended)) + start) % m
    idx = np.array([detrended[pos == k].mean() for k in range(m)])
    return idx - idx.mean()
