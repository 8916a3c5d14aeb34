"""Forecaster files: a folder with forecaster.json (config, columns, scalers, series tails,
calibration offsets) and one safetensors model file per network. No pickle.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from grunet._files import atomic_write
from grunet.errors import ModelFileError
from grunet.forecast.frame import Schema
from grunet.forecast.network import compile_network
from grunet.forecast.state import SeriesState
from grunet.models import load_model

FORMAT = "grunet.forecaster"
FORMAT_VERSION = "1"
CONFIG_FILE, MODEL_FILE = "forecaster.json", "model.grunet"


def model_file(k: int) -> str:
    """The file of ensemble member k: model.grunet, model_1.grunet, ..."""
    return MODEL_FILE if k == 0 else f"model_{k}.grunet"


def save(f, path: str | os.PathLike, overwrite: bool = False, keep: Sequence[str] = ()) -> Path:
    """Write the fitted Forecaster `f` to the folder `path`; see `Forecaster.save`."""
    f._require_fitted("save")
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
        "config": f.get_config(),
        "schema": f.schema.to_dict(),
        "freq": f.freq,
        "step": f.step,
        "n_features": len(f.feature_names),
        "features": f.feature_names,
        "series": [st.to_dict() for st in f.states],
        "history": f.history,
        "fit_seconds": f.fit_seconds,
        "fit_kwargs": f.fit_kwargs,
        "calibration_offsets": None if f.offsets is None else f.offsets.tolist(),
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        for k, model in enumerate(f.models):
            model.save(tmp / model_file(k))
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


def load(path: str | os.PathLike):
    """Load a Forecaster saved with ``Forecaster.save``.

    Returns:
        The Forecaster, fitted, ready to predict.

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
    # Imported here: forecaster.py imports this module.
    from grunet.forecast.forecaster import Forecaster

    try:
        f = Forecaster.from_config(meta["config"])
        f.schema = Schema(**meta["schema"])
        f.freq, f.step = meta["freq"], int(meta["step"])
        n_cov, dated = len(f.schema.covariates), f.freq is not None
        f.states = [SeriesState.from_dict(d, n_cov, dated) for d in meta["series"]]
        f.history, f.fit_seconds = meta.get("history", {}), float(meta.get("fit_seconds", 0.0))
        f.fit_kwargs = meta.get("fit_kwargs", {})
        offsets = meta.get("calibration_offsets")
        f.offsets = (
            None
            if offsets is None
            else np.asarray(offsets, dtype=np.float64).reshape(
                len(f.config.quantiles), f.config.horizon
            )
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelFileError(
            f"{meta_path} has a damaged forecaster config ({type(e).__name__}: {e})."
        ) from None
    for k in range(f.config.n_models):
        model = load_model(path / model_file(k), compile=False)
        compile_network(model, f.config)
        f.models.append(model)
    return f
