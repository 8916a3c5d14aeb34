"""Turning what users pass to fit / evaluate / predict into checked tensors, and batching them.

Every check says what was received and what to do; nothing reaches a kernel unchecked.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from grunet.data.series import as_array
from grunet.errors import DataError, OptionError
from grunet.layers import Bidirectional
from grunet.layers.recurrent import Recurrent


def batches(n: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of each batch of `batch_size` over `n` samples, in order."""
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)


def to_tensor(data: Any, name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """`data` (numpy, torch, nested lists) as a finite tensor of `dtype` on `device`, with a
    batch axis.

    Raises:
        DataError: not real numbers, empty, NaN/inf, or a scalar.
    """
    if torch.is_tensor(data):
        if data.dtype == torch.bool or data.is_complex():
            raise DataError(f"{name} must be real numbers, got a {data.dtype} tensor.")
        if data.numel() == 0:
            raise DataError(f"{name} is empty; pass at least one sample.")
        if not bool(torch.isfinite(data).all()):
            raise DataError(f"{name} holds NaN or infinite values; fill or drop them first.")
        t = data.detach()
    else:
        t = torch.from_numpy(as_array(data, name))
    if t.dim() == 0:
        raise DataError(f"{name} must have a batch axis, got a scalar.")
    return t.to(dtype=dtype, device=device)


def check_x(model, x: torch.Tensor, name: str = "x") -> None:
    """Raise a DataError unless `x` fits `model`'s first layer and built input shape."""
    if not len(model.layers):
        raise OptionError("the model has no layers; add some with model.add(...).")
    expected = model.build_input_shape
    if isinstance(model.layers[0], (Recurrent, Bidirectional)) and x.dim() != 3:
        raise DataError(
            f"{name} must be 3-D (samples, timesteps, features), got shape "
            f"{tuple(x.shape)}. For one series, gn.data.lag_pairs(series) builds it."
        )
    if expected is not None and (x.dim() != len(expected) + 1 or x.shape[-1] != expected[-1]):
        want = ", ".join(str(d) for d in expected)
        raise DataError(
            f"{name} has shape {tuple(x.shape)}, but the model expects (samples, {want})."
        )


def prepare_x(model, x: Any, name: str = "x") -> torch.Tensor:
    """Inputs checked against `model`, which is built from them if it is not yet."""
    dtype, device = model.dtype_device()
    X = to_tensor(x, name, dtype, device)
    check_x(model, X, name)
    if not model.built:
        model.build(tuple(X.shape[1:]))
    return X


def prepare_xy(model, x: Any, y: Any, name: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets checked against `model` and each other; y reshaped to the model's
    output when it holds the same numbers per sample (e.g. (N,) for outputs (N, 1))."""
    X = prepare_x(model, x, f"{name}x")
    dtype, device = model.dtype_device()
    Y = to_tensor(y, f"{name}y", dtype, device)
    if len(X) != len(Y):
        raise DataError(
            f"{name}x and {name}y have different numbers of samples: {len(X)} and {len(Y)}."
        )
    out = model.output_shape
    if tuple(Y.shape[1:]) != tuple(out):
        if Y[0].numel() != math.prod(out):
            want = ", ".join(str(d) for d in out)
            raise DataError(
                f"{name}y has shape {tuple(Y.shape)} but the model outputs (samples, {want})."
            )
        Y = Y.reshape(len(Y), *out)
    return X, Y


def split_validation(
    model, X: torch.Tensor, Y: torch.Tensor, validation_data: Any, validation_split: float
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """(X, Y, val): `validation_data` prepared, or Keras's split of the LAST fraction of X, Y
    (before any shuffling), or no validation set (val None)."""
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise OptionError("validation_data must be a pair (x_val, y_val).")
        x_val, y_val = validation_data
        return X, Y, prepare_xy(model, x_val, y_val, name="validation ")
    if not validation_split:
        return X, Y, None
    if not 0.0 < validation_split < 1.0:
        raise OptionError(
            f"validation_split must be between 0 and 1 (exclusive), got {validation_split!r}."
        )
    split_at = int(math.floor(len(X) * (1.0 - validation_split)))
    if split_at in (0, len(X)):
        empty = "training" if split_at == 0 else "validation"
        raise DataError(
            f"validation_split={validation_split} leaves no {empty} samples out of {len(X)}; "
            "use a split that keeps both parts non-empty."
        )
    return X[:split_at], Y[:split_at], (X[split_at:], Y[split_at:])
