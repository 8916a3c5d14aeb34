"""Reading a model file into a Sequential: grunet's own ``.grunet`` files and Keras 3 ``.keras``."""

from __future__ import annotations

import os
from pathlib import Path

from grunet.errors import ModelFileError
from grunet.models.sequential import Sequential
from grunet.saving import keras, native


def load_model(path: str | os.PathLike, *, compile: bool = True) -> Sequential:
    """Load a model saved by ``Sequential.save`` (or a Keras 3 ``.keras`` file).

    Args:
        path: a ``.grunet`` or ``.keras`` file.
        compile: compile the model as it was saved (``.grunet`` files that hold compile settings).

    Returns:
        The model, built, in eval mode.

    Raises:
        ModelFileError: the file is missing, corrupt, or not a grunet model.
    """
    path = Path(path)
    if path.suffix == ".keras" and path.is_file():
        return keras.load(path, Sequential.from_layers)
    saved = native.read(path)
    try:
        model = Sequential.from_config(saved.config)
    except (KeyError, ValueError, TypeError) as e:
        raise ModelFileError(f"{path} has a damaged model config ({e}).") from None
    try:
        model.load_state_dict(saved.tensors, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise ModelFileError(
            f"{path}: the weights do not match the model config ({' '.join(first[:2])})."
        ) from None
    model.eval()
    spec = saved.compile
    if compile and spec and spec.get("loss") and spec.get("optimizer"):
        model.compile(spec["loss"], spec["optimizer"], spec["metrics"])
    return model
