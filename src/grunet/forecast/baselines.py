"""Classical baselines from statsforecast (Nixtla), with their prediction intervals.

Each name maps to one statsforecast model; `forecast_baseline` fits it to one history and returns
the point forecast with a central interval, and each short function ``f(history (N,), horizon, m)
-> forecast (H,)`` returns the point forecast alone:

| name           | statsforecast model   | point forecast                                   |
|----------------|-----------------------|--------------------------------------------------|
| naive          | Naive                 | ``f_{N+h} = y_N``                                |
| seasonal_naive | SeasonalNaive(m)      | ``f_{N+h} = y_{N+h-m*ceil(h/m)}``                |
| drift          | RandomWalkWithDrift   | ``f_{N+h} = y_N + h (y_N - y_1) / (N - 1)``      |
| ets            | AutoETS(m)            | exponential smoothing, form chosen by AICc       |
| arima          | AutoARIMA(m)          | ARIMA, orders chosen by the Hyndman-Khandakar search |
| theta          | AutoTheta(m)          | theta method, variant chosen by in-sample MSE    |

A history shorter than one season (N < m) is forecast without a season (m = 1), since no value
exists a season back. statsforecast is imported on first use (it compiles with numba).

Legend:  N: history length  H: horizon
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from grunet.errors import DataError, OptionError

# name -> (statsforecast class name, whether it takes season_length)
MODELS: dict[str, tuple[str, bool]] = {
    "naive": ("Naive", False),
    "seasonal_naive": ("SeasonalNaive", True),
    "drift": ("RandomWalkWithDrift", False),
    "ets": ("AutoETS", True),
    "arima": ("AutoARIMA", True),
    "theta": ("AutoTheta", True),
}
LABELS = {name: cls for name, (cls, _) in MODELS.items()}
_ALIASES = {cls.lower(): name for name, (cls, _) in MODELS.items()}


@dataclass
class BaselineForecast:
    """One baseline's forecast: `mean` (H,) and the central `level`% interval `lower`, `upper`."""

    name: str
    mean: np.ndarray  # (H,)
    lower: np.ndarray  # (H,)
    upper: np.ndarray  # (H,)
    level: int


def resolve(name: str) -> str:
    """The registry name of a baseline given by its name or statsforecast class (any case)."""
    key = str(name).strip().lower()
    if key in MODELS:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    raise OptionError(
        f"Unknown baseline {name!r}; use any of: {', '.join(MODELS)} "
        f"(or their statsforecast names: {', '.join(LABELS.values())})."
    )


def make_model(name: str, m: int = 1):
    """The statsforecast model for baseline `name` with season length `m`."""
    import statsforecast.models as sf

    cls_name, seasonal = MODELS[resolve(name)]
    cls = getattr(sf, cls_name)
    return cls(season_length=max(int(m), 1)) if seasonal else cls()


class _OutOfTime(BaseException):
    """Raised by `time_budget`'s alarm; a BaseException so that no ``except Exception`` inside a
    model's own search (statsforecast's AutoARIMA tries many orders) can swallow it."""


@contextlib.contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Raise `_OutOfTime` in the block after `seconds` of wall time (a SIGALRM timer; the
    signal is handled between Python bytecodes, so a long compiled call ends first). No budget
    when `seconds` is None or 0, or off the main thread (signals reach only the main thread).
    A timer already running (ITIMER_REAL) is restored afterwards."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, alarm)
    outer, interval = signal.setitimer(signal.ITIMER_REAL, float(seconds))
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # an enclosing timer keeps running, less the time spent here (due: at once)
            left = outer - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), interval)


def forecast_baseline(
    name: str,
    history,
    horizon: int,
    m: int = 1,
    level: int = 80,
    time_limit: float | None = None,
):
    """Fit baseline `name` to `history` and forecast `horizon` steps with a `level`% interval.

    Args:
        name: a key of `MODELS` or a statsforecast class name ("AutoETS").
        history: the training values (N,), oldest first, all finite.
        horizon: H >= 1 steps to forecast. m: season length (1: none).
        level: nominal coverage of the interval in percent (80: the 10% and 90% quantiles).
        time_limit: seconds of wall time the fit may take (None: no limit; see `time_budget`).

    Returns:
        BaselineForecast with arrays of shape (H,).

    Raises:
        DataError: the history is not finite, the model cannot be fit to it (too short), or it
            ran past `time_limit` ("timed out").
    """
    key = resolve(name)
    y = np.asarray(history, dtype=np.float64).ravel()  # (N,)
    if len(y) == 0 or not np.all(np.isfinite(y)):
        raise DataError(f"{LABELS[key]}: the history must be non-empty and finite.")
    season = int(m) if int(m) > 1 and len(y) >= int(m) else 1
    model = make_model(key, season)
    try:
        with warnings.catch_warnings(), time_budget(time_limit):
            warnings.simplefilter("ignore")  # statsforecast's numerical chatter on short series
            out = model.forecast(y=y, h=int(horizon), level=[int(level)])
    except _OutOfTime:
        raise DataError(
            f"{LABELS[key]} timed out: no forecast within {time_limit:g} s for a series of "
            f"{len(y)} values with season length {season}."
        ) from None
    except (NotImplementedError, ValueError, ZeroDivisionError, np.linalg.LinAlgError) as e:
        raise DataError(
            f"{LABELS[key]} could not be fit to a series of {len(y)} values ({e})."
        ) from None
    mean = np.asarray(out["mean"], dtype=np.float64)
    lo = np.asarray(out[f"lo-{int(level)}"], dtype=np.float64)
    hi = np.asarray(out[f"hi-{int(level)}"], dtype=np.float64)
    if not np.all(np.isfinite(mean)):
        raise DataError(
            f"{LABELS[key]} gave a non-finite forecast for a series of {len(y)} values."
        )
    return BaselineForecast(LABELS[key], mean, lo, hi, int(level))


def _point(name: str) -> Callable[..., np.ndarray]:
    def f(history, horizon: int, m: int = 1) -> np.ndarray:
        return forecast_baseline(name, history, horizon, m).mean

    cls_name = LABELS[name]
    f.__name__ = name
    f.__doc__ = f"Point forecast (H,) of statsforecast's {cls_name}; see the module table."
    return f


naive = _point("naive")
seasonal_naive = _point("seasonal_naive")
drift = _point("drift")
ets = _point("ets")
arima = _point("arima")
theta = _point("theta")

BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "naive": naive,
    "seasonal_naive": seasonal_naive,
    "drift": drift,
    "ets": ets,
    "arima": arima,
    "theta": theta,
}


def get_baseline(name: str) -> Callable[..., np.ndarray]:
    """The point-forecast function ``f(history, horizon, m)`` of baseline `name`."""
    return BASELINES[resolve(name)]
