"""Keras 3 ``.keras`` files (kept at this path for code written against grunet 0.1).

``grunet.load_model("m.keras")`` reads one, ``model.save("m.keras")`` writes one; the format
itself lives in ``grunet.saving.keras``.
"""

from __future__ import annotations

import os
from pathlib import Path

from grunet.models import Sequential, load_model
from grunet.saving.keras import save


def load(path: str | os.PathLike) -> Sequential:
    """Read a Keras 3 ``.keras`` file into a built ``grunet.Sequential`` (not compiled)."""
    return load_model(path, compile=False)


def save_keras(model, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write `model` as a Keras 3 ``.keras`` file (same as ``model.save(path)``)."""
    return save(model, path, overwrite=overwrite)


__all__ = ["load", "save", "save_keras"]
