"""The automatic pipeline behind ``Forecaster(horizon=H)``: ES-RNN-style preparation, a GRU
ensemble, and a validation-weighted combination with AutoETS and AutoTheta.

Per series, from its training part only (nothing after the forecast origin is read):

1. season length m from the frequency (`season_length_for`), or ``season_length=``;
2. log when the series is positive and its variation grows with its level (`wants_log`);
3. deseasonalise (classical additive indices of the log or raw series) when the M4 seasonality
   test at lag m passes; the indices come from the training part, by position modulo m;
4. lookback sized from the length (2 m, at least H and 8, cut down so that enough windows fit);
5. an ensemble of small GRUs over per-window normalised inputs (`grunet.forecast.ensemble`),
   seeds and lookbacks (L and 2 L when there is room);
6. rolling-origin validation inside the training part: every member (GRU ensemble, AutoETS,
   AutoTheta) is fit on all but the last H training steps and scored (MASE) on those H; the
   combination weights follow from these scores (`combination_weights`), and the GRU's error
   spread sets its interval width. The GRU ensemble then continues training on the whole
   training part (fine-tuning), and AutoETS / AutoTheta are refit on it.

Legend:  N: time steps  H: horizon  m: seasonal period  L: lookback  Q: quantiles
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from grunet.errors import DataError
from grunet.forecast.ensemble import Ensemble
from grunet.forecast.seasonality import is_seasonal, seasonal_indices, wants_log
from grunet.forecast.state import AutoSeriesState
from grunet.forecast.statistical import (
    STAT_MEMBERS,
    combination_weights,
    scaled_error,
    stat_forecast,
)

MIN_LOOKBACK = 3
MIN_WINDOWS = 4
MAX_LOOKBACK = 72  # the automatic lookback's cap (fit time grows with it)
Z80 = NormalDist().inv_cdf(0.9)  # 1.2816: the 80% interval is mean +- Z80 sd


@dataclass
class AutoOptions:
    """The choices a user fixed (None: automatic); see `Forecaster`."""

    horizon: int
    season_length: int  # already resolved from the frequency when not given
    lookback: int | None = None
    log: bool | None = None
    n_models: int | None = None
    combine: bool | None = None
    cell: str = "gru"
    units: int = 32
    learning_rate: float = 3e-3
    train_steps: int | None = None
    seed: int = 0


def min_length(horizon: int) -> int:
    """The fewest training steps the pipeline can forecast from: MIN_WINDOWS windows of a
    MIN_LOOKBACK-step lookback and the horizon."""
    return horizon + MIN_LOOKBACK + MIN_WINDOWS - 1


def choose_lookback(n: int, horizon: int, m: int, fixed: int | None) -> int:
    """The lookback for a fit on `n` steps: `fixed`, else max(2 m, H, 8), at most MAX_LOOKBACK,
    cut so that at least MIN_WINDOWS windows fit (never below MIN_LOOKBACK)."""
    room = n - horizon - MIN_WINDOWS + 1
    if fixed is not None:
        if fixed > room:
            raise DataError(
                f"lookback={fixed} with horizon {horizon} needs at least {fixed + horizon + MIN_WINDOWS - 1} "
                f"steps per series, got {n}; use a smaller lookback or leave it automatic."
            )
        return fixed
    return max(min(max(2 * m, horizon, 8), MAX_LOOKBACK, room), MIN_LOOKBACK)


def member_specs(n: int, horizon: int, lookback: int, k: int, seed: int) -> list[tuple[int, int]]:
    """(lookback, seed) of k members: lookbacks alternate L and 2 L (when 2 L is at most
    MAX_LOOKBACK and leaves MIN_WINDOWS windows in `n` steps), seeds seed, seed + 1, ..."""
    room = min(n - horizon - MIN_WINDOWS + 1, MAX_LOOKBACK)
    longer = 2 * lookback if 2 * lookback <= room else lookback
    return [(lookback if i % 2 == 0 else longer, seed + i) for i in range(k)]


def default_steps(n_windows: int) -> int:
    """Training steps of each member before validation: 120 to 200, more with more windows."""
    return int(np.clip(100 + n_windows // 2, 120, 200))


class Prepared:
    """A series in model units: z = log(y) (or y) minus the seasonal index of each position."""

    def __init__(self, y: np.ndarray, m: int, log: bool, deseasonalise: bool) -> None:
        self.log, self.m = log, m
        z0 = np.log(y) if log else np.asarray(y, dtype=np.float64)
        self.seasonal = seasonal_indices(z0, m) if deseasonalise else np.zeros(max(m, 1))
        self.z = z0 - self.season(np.arange(len(y)))
        d = np.abs(np.diff(self.z))
        self.scale = float(d.mean()) if len(d) and d.mean() > 0 else 1.0

    def season(self, positions: np.ndarray) -> np.ndarray:
        return self.seasonal[np.asarray(positions) % len(self.seasonal)]

    def restore(self, z: np.ndarray, positions: np.ndarray) -> np.ndarray:
        v = np.asarray(z) + self.season(positions)
        return np.exp(v) if self.log else v


def gru_forecast(prep: Prepared, ens: Ensemble, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """The ensemble's forecast from the end of `prep`: (values (H,), model units (H,))."""
    n = len(prep.z)
    zf = ens.predict(prep.z, prep.scale)
    return prep.restore(zf, np.arange(n, n + horizon)), zf


def _stat_members(y: np.ndarray, horizon: int, m: int) -> dict[str, tuple]:
    out = {}
    for name in STAT_MEMBERS:
        try:
            out[name] = stat_forecast(name, y, horizon, m)
        except Exception:  # noqa: BLE001 - a member that cannot fit is left out of the combination
            continue
    return out


def fit_series(y: np.ndarray, opts: AutoOptions, series_id=None, last_index=None):
    """Fit the pipeline to one series' training values `y` (N,).

    Returns:
        (AutoSeriesState, Ensemble).

    Raises:
        DataError: fewer than `min_length(H)` values, naming how many are needed.
    """
    y = np.asarray(y, dtype=np.float64)
    H, m, n = opts.horizon, opts.season_length, len(y)
    name = "the series" if series_id is None else f"series {series_id!r}"
    if n < min_length(H):
        raise DataError(
            f"{name} has {n} training steps; forecasting {H} steps ahead needs at least "
            f"{min_length(H)} ({H} + a lookback of {MIN_LOOKBACK} + {MIN_WINDOWS - 1}). "
            "Use a shorter horizon or a longer series."
        )
    reasons = []
    if opts.log is None:
        use_log, why = wants_log(y, m)
        reasons.append(f"log: {'yes' if use_log else 'no'} ({why})")
    else:
        use_log = bool(opts.log)
        reasons.append(f"log: {'yes' if use_log else 'no'} (set by the user)")
        if use_log and not np.all(y > 0):
            raise DataError(f"log=True needs positive values, but {name} has {y.min():g}.")
    z0 = np.log(y) if use_log else y
    deseason = is_seasonal(z0, m)
    reasons.append(
        f"deseasonalise: {'yes' if deseason else 'no'} (season length {m}; "
        + (
            "no season"
            if m <= 1
            else "seasonality test at lag m " + ("passed" if deseason else "failed")
        )
        + ", indices from the training part)"
    )
    n_val = n - H  # validation: fit on y[:n_val], score on y[n_val:]
    validate = n_val >= min_length(H)
    L = choose_lookback(n_val if validate else n, H, m, opts.lookback)
    k = opts.n_models or 3
    specs = member_specs(n_val if validate else n, H, L, k, opts.seed)
    reasons.append(
        f"ensemble: {k} {opts.cell.upper()} network(s) of {opts.units} units, lookbacks "
        f"{sorted({s[0] for s in specs})}, seeds {[s[1] for s in specs]}"
    )
    ens = Ensemble(specs, H, opts.cell, opts.units, opts.learning_rate)
    errors, sigma = {}, 1.25  # sigma: a random walk's step sd is ~1.25 mean absolute steps
    val_members: dict[str, tuple] = {}  # member -> (mean, lo80, hi80) of the validation fold
    if validate:
        past, future = y[:n_val], y[n_val:]
        vprep = Prepared(past, m, use_log, deseason and is_seasonal(z0[:n_val], m))
        steps = opts.train_steps or default_steps(n_val - L - H + 1)
        ens.fit(vprep.z, vprep.scale, steps)
        f_gru, zf = gru_forecast(vprep, ens, H)
        errors["gru"] = scaled_error(future, f_gru, past, m)
        z_true = (np.log(future) if use_log else future) - vprep.season(np.arange(n_val, n))
        r = (z_true - zf) / vprep.scale
        sigma = float(np.sqrt(np.mean(r**2 / np.arange(1, H + 1))))
        sd = Z80 * sigma * vprep.scale * np.sqrt(np.arange(1, H + 1))
        pos = np.arange(n_val, n)
        val_members["gru"] = (f_gru, vprep.restore(zf - sd, pos), vprep.restore(zf + sd, pos))
        if opts.combine is not False:
            val_members.update(_stat_members(past, H, m))
            for key, (mean, _, _) in val_members.items():
                errors[key] = scaled_error(future, mean, past, m)
        reasons.append(
            f"validation: fit on the first {n_val} training steps, scored on the last {H}: MASE "
            + ", ".join(f"{key} {v:.3f}" for key, v in errors.items())
        )
        finetune = max((opts.train_steps or steps) // 3, 40)
    else:
        reasons.append(
            f"validation: none ({n} training steps; validation needs {H + min_length(H)})"
        )
        finetune = opts.train_steps or default_steps(n - L - H + 1)
    prep = Prepared(y, m, use_log, deseason)
    ens.fit(prep.z, prep.scale, finetune)
    stats = {} if opts.combine is False else _stat_members(y, H, m)
    weights = _weights(opts.combine, errors, list(stats))
    reasons.append("combination: " + ", ".join(f"{key} {w:.2f}" for key, w in weights.items()))
    factor = width_factor(weights, val_members, y[n_val:]) if validate else 1.0
    reasons.append(
        f"intervals: the members' intervals averaged with the same weights, x {factor:.2f} "
        "(from the validation errors)"
    )
    state = AutoSeriesState(
        id=series_id,
        n_train=n,
        season_length=m,
        deseasonalise=bool(deseason),
        seasonal=prep.seasonal.tolist() if deseason else [],
        log=use_log,
        scale=prep.scale,
        lookbacks=[s[0] for s in specs],
        seeds=[s[1] for s in specs],
        weights=weights,
        val_errors=errors,
        sigma=sigma,
        width_factor=factor,
        reasons=reasons,
        history=y.tolist(),
        last_index=last_index,
        stat_forecasts={key: [v.tolist() for v in val] for key, val in stats.items()},
    )
    return state, ens


def width_factor(weights: dict[str, float], members: dict[str, tuple], actual: np.ndarray) -> float:
    """How much wider the combination's intervals should be: its validation errors over its
    predicted sd (the members' 80% half-widths / Z80, combined with `weights`), as a root mean
    square, shrunk half-way to 1 (one fold of H errors is little evidence), within [0.8, 3]."""
    mean = sum(w * members[k][0] for k, w in weights.items() if w and k in members)
    half = sum(
        w * (members[k][2] - members[k][1]) / 2 for k, w in weights.items() if w and k in members
    )
    if np.isscalar(half) or not np.all(half > 0):
        return 1.0
    r2 = float(np.mean(((actual - mean) * Z80 / half) ** 2))
    return float(np.clip(np.sqrt((r2 + 1.0) / 2.0), 0.8, 3.0))


def _weights(combine: bool | None, errors: dict[str, float], stats: list[str]) -> dict[str, float]:
    if combine is False or not stats:
        return {"gru": 1.0}
    scored = {k: v for k, v in errors.items() if k == "gru" or k in stats}
    if combine is True or len(scored) < 2:  # no validation: equal weights
        return {key: 1.0 / (1 + len(stats)) for key in ["gru", *stats]}
    return combination_weights(scored)


def prepared_of(state: AutoSeriesState) -> Prepared:
    """The state's series in model units, rebuilt from its stored choices (no refitting)."""
    y = np.asarray(state.history, dtype=np.float64)
    prep = Prepared(y, state.season_length, state.log, False)
    if state.deseasonalise:
        prep.seasonal = np.asarray(state.seasonal, dtype=np.float64)
        z0 = np.log(y) if state.log else y
        prep.z = z0 - prep.season(np.arange(len(y)))
        d = np.abs(np.diff(prep.z))
        prep.scale = float(d.mean()) if len(d) and d.mean() > 0 else 1.0
    return prep


def forecast_series(
    state: AutoSeriesState, ens: Ensemble, horizon: int, quantiles: list[float] | None
) -> np.ndarray:
    """Forecasts (1 + Q, horizon) in original units from the end of the training part: the
    weighted combination, then each quantile (members' quantiles averaged with the same weights;
    the GRU's from its validation error spread, the statistical members' from their 80%
    intervals, both as normal quantiles)."""
    prep = prepared_of(state)
    H = ens.horizon
    n = len(prep.z)
    pos = np.arange(n, n + H)
    f_gru, zf = gru_forecast(prep, ens, H)
    levels = quantiles or []
    out = np.zeros((1 + len(levels), H))
    sd_z = state.sigma * prep.scale * np.sqrt(np.arange(1, H + 1))  # (H,) model units
    for key, w in state.weights.items():
        if w == 0:
            continue
        if key == "gru":
            member = [f_gru] + [
                prep.restore(zf + NormalDist().inv_cdf(q) * sd_z, pos) for q in levels
            ]
        else:
            mean, lo, hi = (np.asarray(v) for v in state.stat_forecasts[key])
            sd = (hi - lo) / (2 * Z80)
            member = [mean] + [mean + NormalDist().inv_cdf(q) * sd for q in levels]
        out += w * np.stack(member)
    out[1:] = out[0] + state.width_factor * (out[1:] - out[0])
    out[1:] = np.sort(out[1:], axis=0)  # quantiles never cross
    return out[:, :horizon]


def describe_state(state: AutoSeriesState) -> str:
    """What was chosen for one series and why, one choice per line."""
    head = "series" if state.id is None else f"series {state.id!r}"
    lines = [f"{head}: {state.n_train} training steps"]
    return "\n".join(lines + [f"  {r}" for r in state.reasons])
