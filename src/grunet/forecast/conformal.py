"""Split-conformal calibration of quantile forecasts (conformalized quantile regression, CQR).

Romano, Patterson and Candès, "Conformalized Quantile Regression", NeurIPS 2019. The quantile
heads of a network are fit on its training windows, where its errors are smaller than on data it
has not seen, so its intervals come out too narrow. CQR measures how far the actual values fall
outside the predicted interval on held-out calibration windows and widens (or narrows) the
interval by exactly that much.

For a symmetric pair of levels (lo, hi), nominal coverage ``1 - a = hi - lo``, with n calibration
forecasts ``q_lo, q_hi`` of targets ``y``, the conformity scores are

    E_i = max(q_lo_i - y_i, y_i - q_hi_i)              (> 0: y outside, < 0: inside the interval)

and the calibrated interval is ``[q_lo - Q, q_hi + Q]`` with ``Q`` the ``k``-th smallest score,
``k = ceil((n + 1)(1 - a))``. When the calibration and test errors are exchangeable this covers y
with probability at least ``1 - a`` (and at most ``1 - a + 1 / (n + 1)`` without ties). A level
without a symmetric partner (and the median) is calibrated one-sided, the same rule with
``E_i = y_i - q_i`` and ``k = ceil((n + 1) q)``: ``q + Q`` is below y with probability about q.

Scores are taken per horizon step when every step has at least `MIN_PER_STEP` calibration
windows, and pooled over the steps otherwise (one offset for all steps). When k > n (too few
windows for the level) the largest score is used, and the guarantee does not hold.

Legend:  M: calibration windows  Q: quantile levels  H: horizon
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from grunet.errors import OptionError

MIN_PER_STEP = 50


def conformal_quantile(scores: np.ndarray, level: float) -> np.ndarray:
    """Split conformal's quantile: the ceil((n + 1) level)-th smallest of the n `scores` along
    axis 0, or the largest when n is too small for that."""
    n = scores.shape[0]
    k = min(math.ceil((n + 1) * level), n)
    return np.sort(scores, axis=0)[k - 1]


def conformal_offsets(
    y: np.ndarray, q: np.ndarray, levels: Sequence[float], per_step: bool | None = None
) -> np.ndarray:
    """Additive offsets that calibrate quantile forecasts: ``q_calibrated = q + offsets``.

    Args:
        y: (M, H) actual values of the calibration windows (any monotone transform of the data:
            interval membership does not change under it).
        q: (M, Q, H) quantile forecasts of those windows, in the same units, sorted by level.
        levels: the Q levels, increasing.
        per_step: one offset per horizon step (True), one for all steps (False), or decide from
            the number of windows (None: per step when M >= MIN_PER_STEP).

    Returns:
        (Q, H) offsets. Symmetric pairs get ``-Q`` (lower) and ``+Q`` (upper); single levels get
        their one-sided ``Q``.
    """
    y = np.asarray(y, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    levels = [float(v) for v in levels]
    if y.ndim != 2 or q.shape != (y.shape[0], len(levels), y.shape[1]) or not len(y):
        raise OptionError(
            f"conformal_offsets: expected y (M, H) and q (M, {len(levels)}, H), got "
            f"{y.shape} and {q.shape}."
        )
    per_step = len(y) >= MIN_PER_STEP if per_step is None else per_step
    M, H = y.shape

    def quantile(scores: np.ndarray, level: float) -> np.ndarray:  # scores (M, H) -> (H,)
        if per_step:
            return conformal_quantile(scores, level)
        return np.full(H, conformal_quantile(scores.reshape(M * H), level))

    offsets = np.zeros((len(levels), H))
    done: set[int] = set()
    for i, lo in enumerate(levels):
        for j, hi in enumerate(levels):
            if lo < 0.5 < hi and abs(lo + hi - 1.0) < 1e-9 and i not in done and j not in done:
                E = np.maximum(q[:, i] - y, y - q[:, j])  # (M, H)
                width = quantile(E, hi - lo)
                offsets[i], offsets[j] = -width, width
                done |= {i, j}
    for i, level in enumerate(levels):
        if i not in done:
            offsets[i] = quantile(y - q[:, i], level)
    return offsets
