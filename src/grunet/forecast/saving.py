"""Forecaster files: a folder with forecaster.json (the `FittedState`: config, columns, scalers
or automatic choices, series tails, calibration offsets) and safetensors weights: one model file
per network of the plain pipeline, or ensembles.safetensors for the automatic one. No pickle.
This module knows the fitted state, not the Forecaster (which builds itself from `read`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from safetensors.torch import load_file, save_file

from grunet._files import atomic_write
from grunet.errors import ModelFileError
from grunet.forecast.config import ForecasterConfig
from grunet.forecast.ensemble import Ensemble
from grunet.forecast.network import compile_network
from grunet.forecast.state import FittedState
from grunet.models import load_model

FORMAT = "grunet.forecaster"
FORMAT_VERSION = "1"
CONFIG_FILE, MODEL_FILE = "forecaster.json", "model.grunet"
ENSEMBLE_FILE = "ensembles.safetensors"  # pipeline="auto": every series' networks


def model_file(k: int) -> str:
    """The file of ensemble member k: model.grunet, model_1.grunet, ..."""
    return MODEL_FILE if k == 0 else f"model_{k}.grunet"


def save(
    state: FittedState,
    models: Sequence,
    ensembles: Sequence[Ensemble],
    path: str | os.PathLike,
    overwrite: bool = False,
    keep: Sequence[str] = (),
) -> Path:
    """Write a fitted forecaster's `state`, its plain `models` and its automatic pipeline's
    `ensembles` to the folder `path`; see `Forecaster.save`."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} already exists; pass overwrite=True (--force) to replace it."
        )
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder; choose another path.")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "grunet_version": __import__("grunet").__version__,
        **state.to_dict(),
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        for k, model in enumerate(models):
            model.save(tmp / model_file(k))
        if ensembles:
            tensors = {}
            for i, ens in enumerate(ensembles):
                tensors.update(ens.tensors(f"s{i}.m"))
            save_file(tensors, str(tmp / ENSEMBLE_FILE), metadata={"format": FORMAT})
        atomic_write(
            tmp / CONFIG_FILE, lambda t: Path(t).write_text(json.dumps(meta, indent=1) + "\n")
        )
        if path.exists():
            for name in keep:
                if (path / name).exists() and not (tmp / name).exists():
                    os.replace(path / name, tmp / name)
            trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, trash / "old")
            os.replace(tmp, path)
            shutil.rmtree(trash)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path


def read(path: str | os.PathLike, config: ForecasterConfig | None = None):
    """Read a folder written by `save`.

    Returns:
        (FittedState, config, models, ensembles): the state, its ForecasterConfig, the plain
        pipeline's compiled networks and the automatic pipeline's ensembles (one per series).

    Raises:
        ModelFileError: the folder is missing, incomplete, or not a grunet forecaster.
    """
    path = Path(path)
    meta_path = path / CONFIG_FILE
    if not meta_path.is_file():
        raise ModelFileError(f"no saved forecaster at {path} ({CONFIG_FILE} is missing).")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as e:
        raise ModelFileError(
            f"{meta_path} is not valid JSON ({e}); save the forecaster again."
        ) from None
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{meta_path} is not a grunet forecaster file.")
    try:
        state = FittedState.from_dict(meta)
        config = ForecasterConfig(**state.config)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelFileError(
            f"{meta_path} has a damaged forecaster config ({type(e).__name__}: {e})."
        ) from None
    models, ensembles = [], []
    if config.pipeline == "plain":
        for k in range(config.n_models):
            model = load_model(path / model_file(k), compile=False)
            compile_network(model, config)
            models.append(model)
    else:
        if not (path / ENSEMBLE_FILE).is_file():
            raise ModelFileError(f"{path / ENSEMBLE_FILE} is missing; save the forecaster again.")
        tensors = load_file(str(path / ENSEMBLE_FILE))
        for i, st in enumerate(state.auto_series):
            specs = list(zip(st.lookbacks, st.seeds, strict=True))
            ens = Ensemble(specs, config.horizon, config.cell, config.units, config.learning_rate)
            ensembles.append(ens.load_tensors(tensors, f"s{i}.m"))
    return state, config, models, ensembles
