"""Column-wise scalers for series: fit on the training part only, then transform anything.

Every scaler maps each column ``x`` to ``(x - center) / scale`` with a positive ``scale``, so it is
monotone increasing: quantile order survives ``inverse_transform``. Fitted parameters are part of
``get_config()``, so a scaler round-trips through JSON with the model it belongs to.

Legend:  N: time steps  F: columns (features)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from grunet.data.series import as_array
from grunet.errors import DataError, NotFittedError, OptionError


class Scaler(ABC):
    """Base class: subclasses define ``_fit(x) -> (center, scale)`` for x (N, F)."""

    name = "scaler"

    def __init__(self) -> None:
        self.center_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    @property
    def fitted(self) -> bool:
        return self.center_ is not None

    @staticmethod
    def _2d(x, what: str) -> tuple[np.ndarray, bool]:
        arr = as_array(x, what, ndim=(1, 2))
        return (arr[:, None], True) if arr.ndim == 1 else (arr, False)

    def fit(self, x) -> Scaler:
        """Learn center and scale per column of `x` (N,) or (N, F); returns self."""
        arr, _ = self._2d(x, f"{self.name} input")
        with np.errstate(over="ignore", invalid="ignore"):
            center, scale = self._fit(arr)
        if not (np.all(np.isfinite(center)) and np.all(np.isfinite(scale))):
            raise DataError(
                f"{type(self).__name__}: values up to {np.max(np.abs(arr)):g} are too large to scale "
                "(their mean or spread overflows float64); divide the column by a large constant first."
            )
        # A constant column has no spread: scale 1 keeps it finite (it becomes x - center).
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.center_, self.scale_ = center.astype(np.float64), scale.astype(np.float64)
        return self

    @abstractmethod
    def _fit(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(center, scale), each (F,), from training values x (N, F)."""

    def fitted_params(self) -> tuple[np.ndarray, np.ndarray]:
        """The fitted (center, scale), each (F,); raises when fit() has not been called."""
        if self.center_ is None or self.scale_ is None:
            raise NotFittedError(
                f"{type(self).__name__} is not fitted; call fit(train_values) first."
            )
        return self.center_, self.scale_

    def _check(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Check `arr` (N, F) against the fitted columns; returns (center, scale)."""
        center, scale = self.fitted_params()
        if arr.shape[1] != len(center):
            raise DataError(
                f"{type(self).__name__} was fitted on {len(center)} column(s), got {arr.shape[1]}."
            )
        return center, scale

    def transform(self, x) -> np.ndarray:
        """``(x - center) / scale``, same shape as `x`."""
        arr, flat = self._2d(x, "values to scale")
        center, scale = self._check(arr)
        out = (arr - center) / scale
        return out[:, 0] if flat else out

    def fit_transform(self, x) -> np.ndarray:
        return self.fit(x).transform(x)

    def inverse_transform(self, x) -> np.ndarray:
        """``x * scale + center``; `x` (N,) or (N, F), or any shape when fitted on one column."""
        center, scale = self.fitted_params()
        arr = np.asarray(x, dtype=np.float64)
        if len(center) == 1:
            return arr * scale[0] + center[0]
        arr2, flat = self._2d(arr, "values to unscale")
        self._check(arr2)
        out = arr2 * scale + center
        return out[:, 0] if flat else out

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "center": None if self.center_ is None else self.center_.tolist(),
            "scale": None if self.scale_ is None else self.scale_.tolist(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Scaler:
        scaler = SCALERS[config["name"]]() if cls is Scaler else cls()
        if config.get("center") is not None:
            scaler.center_ = np.asarray(config["center"], dtype=np.float64)
            scaler.scale_ = np.asarray(config["scale"], dtype=np.float64)
        return scaler

    def __repr__(self) -> str:
        return f"{type(self).__name__}(fitted={self.fitted})"


class StandardScaler(Scaler):
    """``x' = (x - mean) / std`` with the population std (ddof=0) of the training part."""

    name = "standard"

    def _fit(self, x):
        return x.mean(axis=0), x.std(axis=0)


class MinMaxScaler(Scaler):
    """``x' = (x - min) / (max - min)``: the training part maps onto [0, 1]."""

    name = "minmax"

    def _fit(self, x):
        lo = x.min(axis=0)
        return lo, x.max(axis=0) - lo


class RobustScaler(Scaler):
    """``x' = (x - median) / IQR`` with IQR = q75 - q25 of the training part; outliers barely move it."""

    name = "robust"

    def _fit(self, x):
        q25, q50, q75 = np.percentile(x, [25, 50, 75], axis=0)
        return q50, q75 - q25


class IdentityScaler(Scaler):
    """No scaling (``scaler=None``): center 0, scale 1."""

    name = "none"

    def _fit(self, x):
        return np.zeros(x.shape[1]), np.ones(x.shape[1])


SCALERS: dict[str, type[Scaler]] = {
    cls.name: cls for cls in (StandardScaler, MinMaxScaler, RobustScaler, IdentityScaler)
}


def get_scaler(name: str | None) -> Scaler:
    """A fresh scaler by name: "standard", "minmax", "robust", or None for no scaling."""
    key = "none" if name is None else name
    if key not in SCALERS:
        raise OptionError(
            f"Unknown scaler {name!r}; use one of: standard, minmax, robust, or None for no scaling."
        )
    return SCALERS[key]()
