"""The automatic pipeline behind ``Forecaster(horizon=H)``: ES-RNN-style preparation, a GRU
ensemble, and a validation-weighted combination with AutoETS and AutoTheta.

Per series, from its training part only (nothing after the forecast origin is read):

1. season length m from the frequency (`season_length_for`), or ``season_length=``;
2. log when the series is positive and its variation grows with its level (`wants_log`);
3. deseasonalise (classical additive indices of the log or raw series) when the M4 seasonality
   test at lag m passes; the indices come from the training part, by position modulo m. For
   sub-daily data the week (7 x steps per day) is tested first and, when it passes, its indices
   are used (they hold the daily profile too). When the test fails at m on a series long enough
   for it (daily data without a weekly cycle), the statistical members drop the season too;
4. lookback sized from the length (2 m, at least H and 8, cut down so that enough windows fit);
5. an ensemble of small GRUs over per-window normalised inputs (`grunet.forecast.ensemble`),
   seeds and lookbacks (L and 2 L when there is room);
6. rolling-origin validation inside the training part (`grunet.forecast.validation`): up to 3
   folds with origins N - 3 H, N - 2 H, N - H; at each, every member (GRU ensemble, AutoETS,
   AutoTheta, seasonal naive) is fit on the steps before the origin and scored (MASE) on the
   next H. The GRU's error spread there sets its interval width; the combination's intervals are
   scaled by split conformal over the folds as units (each fold's factor that puts 80% of its
   values inside; the largest of 3). The combination is an
   equal-weight mean of the members (M4's lesson; weights from the folds remain available as
   ``combine="validation"``). The GRU ensemble is trained at the first origin (and forecasts
   every fold from there), then fine-tuned on the whole training part; its forecast change from
   the last value is damped by the factor (0.25 ... 1) that scored best on the folds (a learnt
   drift of a random walk does not continue). AutoETS / AutoTheta are refit on the last
   max(500, 10 m) training steps.

Legend:  N: time steps  H: horizon  m: seasonal period  L: lookback  Q: quantiles
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from grunet.errors import DataError
from grunet.forecast.ensemble import Ensemble
from grunet.forecast.prepared import Prepared, gru_forecast, prepared_of
from grunet.forecast.seasonality import is_seasonal, wants_log
from grunet.forecast.state import AutoSeriesState
from grunet.forecast.validation import (
    Z80,
    Validation,
    choose_weights,
    conformal_width,
    fold_origins,
    run_folds,
    stat_members,
)

MIN_LOOKBACK = 3
MIN_WINDOWS = 4
MAX_LOOKBACK = 72  # the automatic lookback's cap (fit time grows with it)


@dataclass
class AutoOptions:
    """The choices a user fixed (None: automatic); see `Forecaster`."""

    horizon: int
    season_length: int  # already resolved from the frequency when not given
    lookback: int | None = None
    log: bool | None = None
    n_models: int | None = None
    combine: bool | str | None = None
    cell: str = "gru"
    units: int = 32
    learning_rate: float = 3e-3
    train_steps: int | None = None
    seed: int = 0
    long_season: int = 0  # a longer season to test for (sub-daily data: a week), 0: none


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


STEP_LOOKBACK = 36  # a lookback beyond this gets proportionally fewer training steps


def default_steps(n_windows: int, lookback: int = STEP_LOOKBACK) -> int:
    """Training steps of each member before validation: 120 to 200, more with more windows;
    times STEP_LOOKBACK / lookback for a longer lookback (a step's cost grows with it)."""
    steps = int(np.clip(100 + n_windows // 2, 120, 200))
    return int(steps * min(1.0, STEP_LOOKBACK / lookback))


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
    period, deseason, member_m = seasons(z0, m, opts.long_season)
    reasons.append(season_reason(m, period, deseason, member_m))
    origins = fold_origins(n, H, min_length(H))
    first = origins[0] if origins else n  # the shortest part the ensemble trains on
    L = choose_lookback(first, H, m, opts.lookback)
    k = opts.n_models or 3
    specs = member_specs(first, H, L, k, opts.seed)
    reasons.append(
        f"ensemble: {k} {opts.cell.upper()} network(s) of {opts.units} units, lookbacks "
        f"{sorted({s[0] for s in specs})}, seeds {[s[1] for s in specs]}"
    )
    ens = Ensemble(specs, H, opts.cell, opts.units, opts.learning_rate)
    steps = opts.train_steps or default_steps(first - L - H + 1, L)
    finetune = max(steps // 3, 1 if opts.train_steps else 40)  # on the whole training part
    with_stats = opts.combine is not False

    def prepare(part: np.ndarray) -> Prepared:  # choices from the part alone
        zp = np.log(part) if use_log else part
        return Prepared(part, period, use_log, deseason and is_seasonal(zp, period))

    val = (
        run_folds(y, origins, prepare, ens, steps, m, member_m if with_stats else None)
        if origins
        else Validation()  # no folds: no errors, a random walk's spread, no damping
    )
    errors = val.mean_errors()
    if origins:
        reasons.append(
            f"validation: {len(origins)} rolling-origin fold(s) inside the training part "
            f"(origins {origins}, {H} steps each): mean MASE "
            + ", ".join(f"{key} {v:.3f}" for key, v in errors.items())
            + f"; the GRU's forecast change x {val.damping:g} (the best on the folds)"
        )
    else:
        reasons.append(f"validation: none ({n} training steps; a fold needs {H + min_length(H)})")
    prep = Prepared(y, period, use_log, deseason)
    ens.fit(prep.z, prep.scale, finetune if origins else steps)
    stats = stat_members(y, H, member_m) if with_stats else {}
    weights = choose_weights(opts.combine, errors, list(stats))
    reasons.append("combination: " + ", ".join(f"{key} {w:.2f}" for key, w in weights.items()))
    factor = conformal_width(weights, val)  # 1 without folds
    reasons.append(
        f"intervals: the members' intervals averaged with the same weights, x {factor:.2f} "
        + (
            "(split conformal over the folds)"
            if origins
            else "(no folds; at least a random walk's width)"
        )
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
        sigma=val.sigma,
        width_factor=factor,
        reasons=reasons,
        history=y.tolist(),
        last_index=last_index,
        stat_forecasts={key: [v.tolist() for v in fc] for key, fc in stats.items()},
        damping=val.damping,
    )
    return state, ens


def seasons(z0: np.ndarray, m: int, long_season: int = 0) -> tuple[int, bool, int]:
    """(period of the seasonal indices, deseasonalise?, season length of the statistical
    members) from the training values `z0`: the period is `long_season` (a multiple of m, e.g.
    the week of sub-daily data) when the series holds three of them and the seasonality test
    passes there, else m; the members drop the season (m = 1) when the test fails at m on a
    series long enough for it (3 m), as on daily data without a weekly cycle."""
    if long_season > m > 1 and len(z0) >= 3 * long_season and is_seasonal(z0, long_season):
        return long_season, True, m
    deseason = is_seasonal(z0, m)
    return m, deseason, m if deseason or len(z0) < 3 * m else 1


def season_reason(m: int, period: int, deseason: bool, member_m: int) -> str:
    """The describe() line of `seasons`' choice."""
    if m <= 1:
        return "deseasonalise: no (season length 1: no season)"
    if period != m:
        return (
            f"deseasonalise: yes, with period {period} (the seasonality test passed at lag "
            f"{period}, a multiple of the season length {m}; indices from the training part); "
            f"statistical members at season length {m}"
        )
    test = "passed" if deseason else "failed"
    members = (
        f"statistical members at season length {member_m}"
        if member_m == m
        else "statistical members without a season (m = 1)"
    )
    return (
        f"deseasonalise: {'yes' if deseason else 'no'} (season length {m}; seasonality test at "
        f"lag m {test}, indices from the training part); {members}"
    )


def forecast_series(
    state: AutoSeriesState, ens: Ensemble, horizon: int, quantiles: list[float] | None
) -> np.ndarray:
    """Forecasts (1 + Q, horizon) in original units from the end of the training part: the
    weighted combination, then each quantile (members' quantiles averaged with the same weights;
    the GRU's from its validation error spread, the statistical members' from their 80%
    intervals, both as normal quantiles), widened by the state's width factor, and never
    narrower than a random walk's normal interval (rms one-step change x sqrt(h))."""
    prep = prepared_of(state)
    H = ens.horizon
    n = len(prep.z)
    pos = np.arange(n, n + H)
    f_gru, zf = gru_forecast(prep, ens, H, state.damping)
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
    if state.val_errors:  # calibrated on the folds
        return np.r_[out[:1], np.sort(out[1:], axis=0)][:, :horizon]
    # no folds: never narrower than a random walk's interval (rms one-step change x sqrt(h))
    hist = np.asarray(state.history, dtype=np.float64)
    rw = np.sqrt(np.mean(np.diff(hist) ** 2)) * np.sqrt(np.arange(1, H + 1))  # (H,) one sd
    for j, q in enumerate(levels):
        floor = out[0] + NormalDist().inv_cdf(q) * rw
        out[1 + j] = np.minimum(out[1 + j], floor) if q < 0.5 else np.maximum(out[1 + j], floor)
    out[1:] = np.sort(out[1:], axis=0)  # quantiles never cross
    return out[:, :horizon]


def describe_state(state: AutoSeriesState) -> str:
    """What was chosen for one series and why, one choice per line."""
    head = "series" if state.id is None else f"series {state.id!r}"
    lines = [f"{head}: {state.n_train} training steps"]
    return "\n".join(lines + [f"  {r}" for r in state.reasons])
