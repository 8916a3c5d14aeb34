"""The native model file: one safetensors file, the weights in its body, the JSON config in its
header.

No pickle anywhere: loading a model file can run no code. Written atomically, so a crash mid-save
leaves any previous file intact. This module knows the file format only; ``grunet.models`` turns
what it reads into a model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from grunet._files import atomic_write, check_target
from grunet._version import __version__
from grunet.errors import ModelFileError

FORMAT = "grunet.sequential"
FORMAT_VERSION = "1"
SUFFIX = ".grunet"


@dataclass(frozen=True)
class ModelFile:
    """What a native model file holds: the model config, the compile config, the weights."""

    config: dict[str, Any]
    compile: dict[str, Any] | None
    tensors: dict[str, torch.Tensor]


def write(
    path: str | os.PathLike,
    config: dict[str, Any],
    compile: dict[str, Any] | None,
    state_dict: dict[str, torch.Tensor],
    *,
    overwrite: bool = False,
) -> Path:
    """Write a model file; refuses to replace a file unless `overwrite`.

    Raises:
        FileExistsError: `path` exists and overwrite is False.
    """
    path = check_target(path, overwrite, f"model{SUFFIX}")
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "grunet_version": __version__,
        "config": json.dumps(config),
        "compile": json.dumps(compile),
    }
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return path


def read(path: str | os.PathLike) -> ModelFile:
    """Read a model file written by `write`.

    Raises:
        ModelFileError: the file is missing, corrupt, or not a grunet model file.
    """
    path = Path(path)
    if not path.is_file():
        if path.is_dir() and (path / f"model{SUFFIX}").is_file():
            raise ModelFileError(f"{path} is a folder; the model in it is {path / 'model.grunet'}.")
        raise ModelFileError(
            f"no model file at {path}" + (" (it is a folder)." if path.is_dir() else ".")
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises several types for damaged files
        raise ModelFileError(
            f"{path} is not a readable grunet model file ({type(e).__name__}: {e}). It may be "
            "truncated or corrupt; save the model again."
        ) from None
    if metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{path} is a safetensors file but not a grunet model (no grunet header)."
        )
    try:
        config = json.loads(metadata["config"])
        compile = json.loads(metadata.get("compile", "null"))
    except (KeyError, ValueError) as e:
        raise ModelFileError(f"{path} has a damaged model config ({e}).") from None
    if not isinstance(config, dict):
        raise ModelFileError(f"{path} has a damaged model config (not a JSON object).")
    return ModelFile(config, compile if isinstance(compile, dict) else None, tensors)
