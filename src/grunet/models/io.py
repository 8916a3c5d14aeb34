"""Model files: one safetensors file holding the weights, with the JSON config in its header.

No pickle anywhere: loading a model file can run no code. Writes are atomic (temporary file in the
same folder, fsync, rename), so a crash mid-save leaves any previous file intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from grunet.errors import ModelFileError

FORMAT = "grunet.sequential"
FORMAT_VERSION = "1"


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(tmp_path)`` then move the finished file to `path` in one rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a saved file gets the usual mode
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_target(path: str | os.PathLike, overwrite: bool, example: str) -> Path:
    """Say clearly why a file cannot be written at `path` (exists without overwrite, is a folder,
    folder missing); return it as a Path. `example` names a good file name (model.grunet)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name such as {example}.")
    if not path.parent.exists():
        raise FileNotFoundError(f"folder {path.parent} does not exist; create it first.")
    return path


def save_model(model, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write `model` (a built Sequential) to `path`; refuses to replace a file unless `overwrite`."""
    if Path(path).suffix == ".keras":
        from grunet.keras import save_keras

        return save_keras(model, path, overwrite=overwrite)
    from grunet import __version__

    path = check_target(path, overwrite, "model.grunet")
    model._require_built("save")
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "grunet_version": __version__,
        "config": json.dumps(model.get_config()),
        "compile": json.dumps(model.compile_config),
    }
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return path


def _read(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}, {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises several types for damaged files
        raise ModelFileError(
            f"{path} is not a readable grunet model file ({type(e).__name__}: {e}). It may be "
            "truncated or corrupt; save the model again."
        ) from None


def load_model(path: str | os.PathLike, *, compile: bool = True):
    """Load a model saved by ``Sequential.save`` (or a Keras 3 ``.keras`` file).

    Raises:
        ModelFileError: the file is missing, corrupt, or not a grunet model.
    """
    from grunet.models.sequential import Sequential

    path = Path(path)
    if not path.is_file():
        if path.is_dir() and (path / "model.grunet").is_file():
            raise ModelFileError(f"{path} is a folder; the model in it is {path / 'model.grunet'}.")
        raise ModelFileError(
            f"no model file at {path}" + (" (it is a folder)." if path.is_dir() else ".")
        )
    if path.suffix == ".keras":
        from grunet.keras import load

        return load(path)
    metadata, tensors = _read(path)
    if metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{path} is a safetensors file but not a grunet model (no grunet header)."
        )
    try:
        config: dict[str, Any] = json.loads(metadata["config"])
        compile_config = json.loads(metadata.get("compile", "null"))
        model = Sequential.from_config(config)
    except (KeyError, ValueError, TypeError) as e:
        raise ModelFileError(f"{path} has a damaged model config ({e}).") from None
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise ModelFileError(
            f"{path}: the weights do not match the model config ({' '.join(first[:2])})."
        ) from None
    model.eval()
    if (
        compile
        and compile_config
        and compile_config.get("loss")
        and compile_config.get("optimizer")
    ):
        model.compile(
            compile_config["loss"], compile_config["optimizer"], compile_config["metrics"]
        )
    return model
