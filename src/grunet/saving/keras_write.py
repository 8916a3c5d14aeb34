"""Writing a grunet Sequential as a Keras 3 ``.keras`` file that ``keras.saving.load_model`` reads
with the same predictions."""

from __future__ import annotations

import io
import json
import os
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from grunet import layers as gl
from grunet._files import atomic_write, check_target
from grunet._version import __version__
from grunet.errors import ModelFileError
from grunet.layers.base import snake_case
from grunet.saving.keras_layout import (
    ARGS,
    CELL_NAMES,
    CONFIG,
    KERAS_VERSION,
    METADATA,
    RECURRENT,
    WEIGHTS,
    h5py_module,
    unique,
)


def _policy(dtype: str) -> dict[str, Any]:
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": dtype},
        "registered_name": None,
    }


def _keras_layer_config(layer: gl.Layer, name: str, dtype: str) -> dict[str, Any]:
    class_name = type(layer).__name__
    base = {"name": name, "trainable": layer.trainable, "dtype": _policy(dtype)}
    if isinstance(layer, gl.Bidirectional):
        inner = layer.forward_layer
        inner_name = inner.name.removeprefix("forward_")
        config = {
            **base,
            "merge_mode": layer.merge_mode,
            "layer": _keras_layer_config(inner, inner_name, dtype),
        }
    elif class_name in ARGS:
        if getattr(layer, "return_state", False):
            raise ModelFileError(f"layer {layer.name!r}: return_state=True cannot be saved.")
        config = {**base, **{k: getattr(layer, k) for k in ARGS[class_name]}}
        if "activation" in config and config["activation"] is None:
            config["activation"] = "linear"
        if class_name in RECURRENT:
            config.update(return_state=False, unroll=False, seed=None)
    else:
        raise ModelFileError(f"layer {layer.name!r}: {class_name} has no Keras equivalent.")
    return {
        "module": "keras.layers",
        "class_name": class_name,
        "config": config,
        "registered_name": None,
    }


def _write_vars(h5, group: str, name: str, arrays: list[np.ndarray]) -> None:
    g = h5.create_group(group)
    g.attrs["name"] = name
    for i, a in enumerate(arrays):
        g[str(i)] = a


def _write_layer_weights(h5, layer: gl.Layer, base: str, name: str) -> None:
    class_name = type(layer).__name__
    own = layer.get_weights() if isinstance(layer, gl.Dense) else []  # the rest live in children
    _write_vars(h5, f"{base}/vars", name, own)
    if class_name in RECURRENT:
        _write_vars(h5, f"{base}/cell/vars", CELL_NAMES[class_name], layer.get_weights())
    elif isinstance(layer, gl.Bidirectional):
        for attr in ("forward_layer", "backward_layer"):
            sub = getattr(layer, attr)
            _write_layer_weights(h5, sub, f"{base}/{attr}", sub.name)


def _is_stateful(layer: gl.Layer) -> bool:
    return getattr(getattr(layer, "forward_layer", layer), "stateful", False)


def _archive_bytes(model, batch_size: int | None) -> dict[str, bytes]:
    h5py = h5py_module()
    model.require_built("save to .keras")
    if batch_size is None and any(_is_stateful(layer) for layer in model.layers):
        raise ModelFileError(
            "the model has stateful layers, and Keras needs a fixed batch size for them: use "
            "grunet.saving.keras.save(model, path, batch_size=...) (the number of sequences carried)."
        )
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    shape = [batch_size, *model.build_input_shape]
    names: set[str] = set()
    layer_specs = [
        {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "registered_name": None,
            "config": {
                "batch_shape": shape,
                "dtype": dtype,
                "sparse": False,
                "ragged": False,
                "name": "input_layer",
                "optional": False,
            },
        }
    ]
    buffer, used = io.BytesIO(), dict[str, int]()
    with h5py.File(buffer, "w") as h5:
        for layer in model.layers:
            name, n = layer.name, 0
            while name in names:  # Keras requires unique layer names
                n += 1
                name = f"{layer.name}_{n}"
            names.add(name)
            layer_specs.append(_keras_layer_config(layer, name, dtype))
            base = f"layers/{unique(snake_case(type(layer).__name__), used)}"
            _write_layer_weights(h5, layer, base, name)
        h5.create_group("vars").attrs["name"] = model.name
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "registered_name": None,
        "config": {
            "name": model.name,
            "trainable": True,
            "dtype": _policy(dtype),
            "layers": layer_specs,
            "build_input_shape": shape,
        },
        "build_config": {"input_shape": shape},
        "compile_config": None,
    }
    metadata = {
        "keras_version": KERAS_VERSION,
        "grunet_version": __version__,
        "date_saved": datetime.now(timezone.utc).strftime("%Y-%m-%d@%H:%M:%S"),
    }
    return {
        METADATA: json.dumps(metadata).encode(),
        CONFIG: json.dumps(config).encode(),
        WEIGHTS: buffer.getvalue(),
    }


def save(
    model, path: str | os.PathLike, overwrite: bool = False, batch_size: int | None = None
) -> Path:
    """Write `model` (a built grunet Sequential) as a Keras 3 ``.keras`` file, atomically.

    ``keras.saving.load_model(path)`` then gives the same predictions. The Keras model is not
    compiled (compile settings and optimizer state are not written).

    Args:
        model: a built ``grunet.Sequential``.
        path: the file to write (``.keras``).
        overwrite: replace an existing file.
        batch_size: a fixed batch size for the Keras input (None: any); Keras requires one
            when the model has ``stateful=True`` layers.

    Raises:
        FileExistsError: `path` exists and overwrite is False.
        ModelFileError: the model holds a layer or option Keras files cannot express here.
    """
    path = check_target(path, overwrite, "model.keras")
    entries = _archive_bytes(model, batch_size)  # everything is built before the file is opened

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w") as archive:
            for name, data in entries.items():
                archive.writestr(name, data)

    atomic_write(path, write)
    return path
