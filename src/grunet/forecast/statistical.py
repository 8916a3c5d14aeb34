"""The automatic pipeline's statistical members: statsforecast's AutoETS and AutoTheta (Nixtla)
and the seasonal naive forecast, and the validation-weighted combination rule.

statsforecast is imported when a member is fit (an optional heavy dependency).

Legend:  N: time steps  H: horizon  m: seasonal period
"""

from __future__ import annotations

import warnings
from statistics import NormalDist

import numpy as np

STAT_MEMBERS = ("ets", "theta", "naive")


def stat_forecast(
    name: str, y: np.ndarray, horizon: int, m: int, level: int = 80
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit statsforecast's AutoETS ("ets") or AutoTheta ("theta") to `y` (N,) and forecast; or
    the seasonal naive forecast ("naive", `seasonal_naive`).

    The seasonal period falls back to 1 when the series is shorter than two seasons (the
    models need that much to estimate a season).

    Returns:
        (mean, lo, hi), each (H,): the point forecast and the `level`% interval.
    """
    y = np.asarray(y, dtype=np.float64)
    if name == "naive":
        return seasonal_naive(y, horizon, m, level)
    from statsforecast.models import AutoETS, AutoTheta

    m = m if m > 1 and len(y) >= 2 * m + 1 else 1
    model = AutoETS(season_length=m) if name == "ets" else AutoTheta(season_length=m)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = model.forecast(y=y, h=horizon, level=[level])
    mean = np.asarray(out["mean"], dtype=np.float64)
    lo = np.asarray(out[f"lo-{level}"], dtype=np.float64)
    hi = np.asarray(out[f"hi-{level}"], dtype=np.float64)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise FloatingPointError(f"statsforecast {name} gave a non-finite forecast")
    return mean, lo, hi


def seasonal_naive(
    y: np.ndarray, horizon: int, m: int, level: int = 80
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The last season repeated (the last value when m = 1 or the series is shorter than m + 1),
    with a normal interval from the in-sample m-step changes: sd sqrt(k) at the k-th repeat.

    Returns:
        (mean, lo, hi), each (H,).
    """
    y = np.asarray(y, dtype=np.float64)
    lag = m if m > 1 and len(y) > m else 1
    h = np.arange(horizon)
    mean = y[-lag:][h % lag]
    d = y[lag:] - y[:-lag]
    sd = float(np.sqrt(np.mean(d**2))) if len(d) else 0.0
    z = NormalDist().inv_cdf(0.5 + level / 200)
    width = z * sd * np.sqrt(h // lag + 1)
    return mean, mean - width, mean + width


def scaled_error(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, m: int) -> float:
    """MASE of `forecast` against `actual`: mean absolute error over the in-sample mean absolute
    m-step change of `history` (1-step when the history is shorter than m + 1)."""
    h = np.asarray(history, dtype=np.float64)
    lag = m if m > 1 and len(h) > m else 1
    denom = np.mean(np.abs(h[lag:] - h[:-lag])) if len(h) > lag else 0.0
    err = float(np.mean(np.abs(np.asarray(actual) - np.asarray(forecast))))
    return err / denom if denom > 0 else err


def combination_weights(errors: dict[str, float]) -> dict[str, float]:
    """Weights of the members of a combination from their validation MASE: the members whose
    error is at most twice the best one's share equally (a trimmed equal-weight mean: M4's
    combinations are hard to beat with estimated weights); the rest get 0."""
    finite = {k: v for k, v in errors.items() if np.isfinite(v)}
    best = min(finite.values())
    keep = [k for k, v in finite.items() if v <= 2.0 * best + 1e-12]
    return {k: (1.0 / len(keep) if k in keep else 0.0) for k in errors}
