"""Series helpers for the article's workflow: load, scale like R, make lagged pairs."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

from grunet.errors import DataError


def as_array(data, name: str = "data", *, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Convert `data` (array-like or torch tensor) to a finite float numpy array, or say why not.

    Raises:
        DataError: not numeric, empty, wrong number of dimensions, or holding NaN/inf.
    """
    if hasattr(data, "detach"):  # torch tensor
        data = data.detach().cpu().numpy()
    try:
        arr = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{name} must be numeric; could not convert it to numbers ({e}).") from None
    if arr.size == 0:
        raise DataError(f"{name} is empty; pass at least one value.")
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if dims is not None and arr.ndim not in dims:
        want = " or ".join(f"{d}-D" for d in dims)
        raise DataError(f"{name} must be {want}, got shape {arr.shape} ({arr.ndim}-D).")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = np.argwhere(bad)[0]
        where = first[0] if first.size == 1 else tuple(int(i) for i in first)
        raise DataError(
            f"{name} holds {int(bad.sum())} NaN or infinite value(s) (first at index {where}); "
            "fill or drop them first."
        )
    return arr


def _as_series(data, name: str) -> np.ndarray:
    arr = as_array(data, name, ndim=(1, 2))
    if arr.ndim == 2:
        if arr.shape[1] != 1:
            raise DataError(f"{name} must be one series (N,) or (N, 1), got shape {arr.shape}.")
        arr = arr[:, 0]
    return arr


@dataclass(frozen=True)
class Scaled:
    """A series after R's ``scale()``: the values plus the center and scale that invert it.

    ``np.asarray(scaled)`` gives the values, so a Scaled goes wherever an array goes.
    """

    values: np.ndarray
    center: float
    scale: float

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    def __len__(self) -> int:
        return len(self.values)

    def inverse(self, values) -> np.ndarray:
        """Map scaled values (any shape) back to the original units: ``v * scale + center``."""
        return np.asarray(values, dtype=np.float64) * self.scale + self.center


def scale(series) -> Scaled:
    """R's ``scale()``: subtract the mean, divide by the n-1 standard deviation.

    ``x' = (x - mean(x)) / sd(x)``, ``sd(x) = sqrt(sum((x - mean)^2) / (n - 1))``.

    Args:
        series: (N,) or (N, 1) numbers, N >= 2, not constant.

    Returns:
        Scaled, with ``values`` (N,), ``center`` and ``scale``.
    """
    x = _as_series(series, "series")
    if len(x) < 2:
        raise DataError("scale() needs at least 2 values to estimate a standard deviation.")
    with np.errstate(over="ignore", invalid="ignore"):
        center = float(x.mean())
        sd = float(x.std(ddof=1))
    if not (np.isfinite(center) and np.isfinite(sd)):
        raise DataError(
            "the series' values are too large to scale in float64 (the mean or standard deviation "
            "overflows); divide them by a constant first."
        )
    if sd == 0.0:
        raise DataError("the series is constant (standard deviation 0); it cannot be scaled.")
    return Scaled(values=(x - center) / sd, center=center, scale=sd)


def lag_pairs(series, lookback: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Windows of `lookback` values and the value after each, as the article builds them.

    With lookback=1 this is the article's ``x = series[1:(n-1)]``, ``y = series[2:n]``.

    Args:
        series: (N,) or (N, 1) numbers (a Scaled works too).
        lookback: window length L >= 1.

    Returns:
        x (N - L, L, 1) float32 and y (N - L, 1) float32.
    """
    if not isinstance(lookback, (int, np.integer)) or isinstance(lookback, bool) or lookback < 1:
        raise DataError(f"lookback must be a positive integer, got {lookback!r}.")
    s = _as_series(series, "series")
    if len(s) <= lookback:
        raise DataError(
            f"the series has {len(s)} values but lookback is {lookback}: it needs at least "
            f"{lookback + 1} values to make one pair. Use a shorter lookback or a longer series."
        )
    windows = np.lib.stride_tricks.sliding_window_view(s[:-1], lookback)  # (N - L, L)
    x = windows[..., None].astype(np.float32)  # (N - L, L, 1)
    y = s[lookback:, None].astype(np.float32)  # (N - L, 1)
    return x, y


def sine_wave(
    n: int = 100, *, noise: float = 0.1, stop: float = 10.0, seed: int | None = None
) -> np.ndarray:
    """A noisy sine like the article's: ``sin(linspace(0, stop, n)) + N(0, noise^2)`` (numpy RNG).

    Use `load_article_sine` for the article's exact values (R's RNG).
    """
    if n < 2:
        raise DataError(f"n must be at least 2, got {n}.")
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, stop, n)
    return np.sin(t) + rng.normal(0.0, noise, n)


def load_article_sine() -> np.ndarray:
    """The article's 100 points, made by R 4.2.2 itself.

    ``set.seed(42); sin(seq(0, 10, length.out = 100)) + rnorm(100, sd = 0.1)``.

    Returns:
        (100,) float64.
    """
    text = resources.files("grunet.data").joinpath("article_sine.csv").read_text()
    return np.array([float(v) for v in text.split()[1:]])
