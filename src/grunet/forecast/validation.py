"""Rolling-origin validation inside the training part, and what the automatic pipeline sets from
it: the GRU's error spread, the combination weights and the intervals' width (conformal).

The folds' origins are n - K H, ..., n - 2 H, n - H of the N training steps (as many of the K as
leave enough steps before them): at each origin every member is fit on the steps before it alone
and forecasts the next H, which the training part still holds. The GRU ensemble is trained from
scratch at the first origin (and fine-tuned on the whole training part afterwards), so each
fold's forecast comes from networks that saw nothing after its origin. Nothing after the
training part (the held-out future) is read.

Legend:  N: training steps  H: horizon  K: folds  m: seasonal period
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from grunet.forecast.conformal import conformal_quantile
from grunet.forecast.ensemble import Ensemble
from grunet.forecast.prepared import Prepared, gru_forecast
from grunet.forecast.statistical import (
    STAT_MEMBERS,
    combination_weights,
    scaled_error,
    stat_forecast,
)

K_FOLDS = 3
STAT_TAIL = 500  # the statistical members fit on the last max(STAT_TAIL, 10 m) steps
DAMPING = (0.25, 0.5, 0.75, 1.0)  # candidate factors on the GRU's forecast change
Z80 = NormalDist().inv_cdf(0.9)  # 1.2816: the 80% interval is mean +- Z80 sd


def fold_origins(n: int, horizon: int, need: int, k: int = K_FOLDS) -> list[int]:
    """The origins n - k H, ..., n - H that leave at least `need` steps before them, oldest first."""
    return [n - j * horizon for j in range(k, 0, -1) if n - j * horizon >= need]


def stat_tail(y: np.ndarray, m: int) -> np.ndarray:
    """The steps the statistical members fit on: the last max(STAT_TAIL, 10 m) (AutoETS and
    AutoTheta at m = 48 on thousands of steps take tens of seconds)."""
    return np.asarray(y, dtype=np.float64)[-max(STAT_TAIL, 10 * m) :]


def stat_members(y: np.ndarray, horizon: int, m: int) -> dict[str, tuple]:
    """(mean, lo80, hi80) of every statistical member fit on `stat_tail(y, m)`; a member that
    cannot be fit is left out."""
    out = {}
    tail = stat_tail(y, m)
    for name in STAT_MEMBERS:
        try:
            out[name] = stat_forecast(name, tail, horizon, m)
        except Exception:  # noqa: BLE001 - a member that cannot fit is left out of the combination
            continue
    return out


@dataclass
class Validation:
    """The folds' forecasts: per fold, each member's (mean, lo80, hi80) and the actual values."""

    actuals: list[np.ndarray] = field(default_factory=list)  # per fold (H,)
    members: list[dict[str, tuple]] = field(default_factory=list)  # per fold: member -> 3 x (H,)
    errors: dict[str, list[float]] = field(default_factory=dict)  # member -> MASE per fold
    sigma: float = 1.25  # GRU error per sqrt(step) in scale units (a random walk's ~1.25)
    damping: float = 1.0  # the factor on the GRU's forecast change (`choose_damping`)

    def mean_errors(self) -> dict[str, float]:
        """Each member's MASE averaged over the folds it was fit in."""
        return {k: float(np.mean(v)) for k, v in self.errors.items()}


def run_folds(
    y: np.ndarray,
    origins: list[int],
    prepare: Callable[[np.ndarray], Prepared],
    ens: Ensemble,
    steps: int,
    m: int,
    member_m: int | None,
) -> Validation:
    """Fit every member at each origin of `origins` and forecast the next H steps.

    Args:
        y: the training values (N,). prepare: the model units of a prefix of y (its choices
            from that prefix only). ens: the ensemble, trained `steps` steps at the first
            origin only (it forecasts every fold from the data before that fold's origin, but
            is not retrained there: one training keeps the fit fast). m: the season of the
            MASE scaling.
        member_m: the statistical members' season length, or None for no statistical members.
    """
    H = ens.horizon
    val = Validation()
    h = np.arange(1, H + 1)
    folds = []  # per fold: (prepared part, the GRU's undamped forecast in model units (H,))
    for i, o in enumerate(origins):
        past, future = y[:o], y[o : o + H]
        prep = prepare(past)
        if i == 0:
            ens.fit(prep.z, prep.scale, steps)
        folds.append((prep, gru_forecast(prep, ens, H)[1]))
        val.actuals.append(future)
        val.members.append({} if member_m is None else stat_members(past, H, member_m))
    val.damping = choose_damping(folds, val.actuals, y, origins, m)
    gru = []  # per fold: (prepared part, positions, damped forecast in model units)
    residuals = []  # per fold (H,): actual less damped forecast, in scale units
    for (prep, zf), actual, o in zip(folds, val.actuals, origins, strict=True):
        pos = np.arange(o, o + H)
        zd = prep.damp(zf, val.damping)
        z_true = (np.log(actual) if prep.log else actual) - prep.season(pos)
        gru.append((prep, pos, zd))
        residuals.append((z_true - zd) / prep.scale)
    val.sigma = float(np.sqrt(np.mean(np.stack(residuals) ** 2 / h)))  # (K, H) -> one number
    for (prep, pos, zd), members in zip(gru, val.members, strict=True):
        sd = Z80 * val.sigma * prep.scale * np.sqrt(h)
        members["gru"] = (
            prep.restore(zd, pos),
            prep.restore(zd - sd, pos),
            prep.restore(zd + sd, pos),
        )
    for members, actual, o in zip(val.members, val.actuals, origins, strict=True):
        for key, (mean, _, _) in members.items():
            val.errors.setdefault(key, []).append(scaled_error(actual, mean, y[:o], m))
    return val


def choose_damping(
    folds: list[tuple[Prepared, np.ndarray]],
    actuals: list[np.ndarray],
    y: np.ndarray,
    origins: list[int],
    m: int,
) -> float:
    """The factor in DAMPING on the GRU's forecast change from the last value with the lowest
    mean MASE over the folds (ties: the larger). `folds` holds (prepared part, undamped forecast
    in model units (H,)) per fold, `actuals` the values that followed. Random-walk-like series,
    where a learnt drift does not continue, get a factor below 1."""
    best, best_err = 1.0, np.inf
    for lam in sorted(DAMPING, reverse=True):
        err = 0.0
        for (prep, zf), actual, o in zip(folds, actuals, origins, strict=True):
            zd = prep.damp(zf, lam)
            err += scaled_error(actual, prep.restore(zd, np.arange(o, o + len(zf))), y[:o], m)
        if err < best_err - 1e-12:
            best, best_err = lam, err
    return best


def choose_weights(combine, errors: dict[str, float], stats: list[str]) -> dict[str, float]:
    """GRU alone (combine False); members within 2x the best validation MASE, equal weights
    ("validation"); else (None, True: the default) equal weights over the GRU and every
    statistical member that could be fit."""
    if combine is False or not stats:
        return {"gru": 1.0}
    scored = {k: v for k, v in errors.items() if k == "gru" or k in stats}
    if combine != "validation" or len(scored) < 2:
        return {key: 1.0 / (1 + len(stats)) for key in ["gru", *stats]}
    return combination_weights(scored)


def _combined(weights: dict[str, float], members: dict[str, tuple]):
    """The weighted mean and 80% half-width of the members present (weights renormalised)."""
    keys = [k for k, w in weights.items() if w > 0 and k in members]
    total = sum(weights[k] for k in keys)
    mean = sum(weights[k] / total * members[k][0] for k in keys)
    half = sum(weights[k] / total * (members[k][2] - members[k][1]) / 2 for k in keys)
    return mean, half


def conformal_width(weights: dict[str, float], val: Validation, level: float = 0.8) -> float:
    """The factor on the combination's interval half-widths, by split conformal over the folds
    as units (the H errors of one fold move together, so a fold is one observation): each
    fold's score is the factor that puts `level` of its values inside (its ratios
    |actual - mean| / half-width, conformal quantile), and the factor is the conformal quantile
    of the K scores: the ceil((K + 1) level)-th smallest, which for K <= 4 at 80% is the
    largest. Within [0.2, 10]; 1 when no fold has a member with weight."""
    scores = []
    for members, actual in zip(val.members, val.actuals, strict=True):
        if not any(w > 0 and k in members for k, w in weights.items()):
            continue
        mean, half = _combined(weights, members)
        scores.append(
            float(conformal_quantile(np.abs(actual - mean) / np.maximum(half, 1e-12), level))
        )
    if not scores:
        return 1.0
    return float(np.clip(conformal_quantile(np.array(scores), level), 0.2, 10.0))
