"""Keras 3 ``.keras`` files: read them into a grunet Sequential, write them for Keras to load.

A ``.keras`` file is a zip holding ``config.json`` (the model's Keras config), ``model.weights.h5``
(the weights) and ``metadata.json``. In the h5 file each layer of a Sequential lives under
``layers/<snake_case class name>[_<n>]`` (``gru``, ``gru_1``, ...: Keras addresses layers by class,
not by name), its variables in ``vars/0``, ``vars/1``, ... in ``get_weights()`` order; a recurrent
layer keeps them in its ``cell`` and ``Bidirectional`` in ``forward_layer`` and ``backward_layer``.
grunet's Keras-style layers use Keras's weight layouts, so weights move without arithmetic.

Supported: Sequential models of GRU (both ``reset_after``), LSTM, SimpleRNN, Dense, Dropout and
Bidirectional. Anything else (another layer, a functional model, regularizers, constraints, an
activation grunet lacks, ...) raises ``ModelFileError`` naming it. Initializers are ignored
(weights come from the file); compile settings and optimizer state are not read or written.

Examples:
    >>> import grunet as gn
    >>> model = gn.load_model("model.keras")          # doctest: +SKIP
    >>> gn.keras.save(model, "copy.keras")            # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from grunet import layers as gl
from grunet.errors import DataError, ModelFileError
from grunet.layers.base import snake_case
from grunet.ops.activations import ACTIVATIONS

CONFIG, WEIGHTS, METADATA = "config.json", "model.weights.h5", "metadata.json"
KERAS_VERSION = "3.15.1"  # the Keras release whose file layout this module writes
_RECURRENT = {"GRU": gl.GRU, "LSTM": gl.LSTM, "SimpleRNN": gl.SimpleRNN}
_CELL_NAMES = {"GRU": "gru_cell", "LSTM": "lstm_cell", "SimpleRNN": "simple_rnn_cell"}
# Keras config keys that change nothing at inference once the weights are loaded.
_IGNORED = {
    "name",
    "trainable",
    "dtype",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "unroll",
    "seed",
    "zero_output_for_mask",
    "use_cudnn",
    "implementation",
}
_ARGS = {
    "GRU": (
        "units",
        "activation",
        "recurrent_activation",
        "use_bias",
        "dropout",
        "recurrent_dropout",
        "return_sequences",
        "go_backwards",
        "stateful",
        "reset_after",
    ),
    "LSTM": (
        "units",
        "activation",
        "recurrent_activation",
        "use_bias",
        "dropout",
        "recurrent_dropout",
        "return_sequences",
        "go_backwards",
        "stateful",
        "unit_forget_bias",
    ),
    "SimpleRNN": (
        "units",
        "activation",
        "use_bias",
        "dropout",
        "recurrent_dropout",
        "return_sequences",
        "go_backwards",
        "stateful",
    ),
    "Dense": ("units", "activation", "use_bias"),
    "Dropout": ("rate",),
}


def _unique(name: str, used: dict[str, int]) -> str:
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError(".keras files need the h5py package: pip install h5py") from None
    return h5py


# -- reading ---------------------------------------------------------------------------------


def _activation(value: Any, where: str) -> str:
    if isinstance(value, dict):  # {"class_name": "function", "config": "tanh", ...}
        value = value.get("config")
    if value is None:
        return "linear"
    if not isinstance(value, str) or value not in ACTIVATIONS:
        raise ModelFileError(
            f"{where}: activation {value!r} is not supported by grunet; supported: "
            f"{', '.join(sorted(ACTIVATIONS))}."
        )
    return value


def _check_options(config: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """Refuse any option grunet would silently drop: unknown keys must be off (None/False/0/empty)."""
    unsupported = sorted(
        k
        for k, v in config.items()
        if k not in allowed and k not in _IGNORED and v not in (None, False, 0, {}, [])
    )
    if unsupported:
        shown = ", ".join(f"{k}={config[k]!r}" for k in unsupported)
        raise ModelFileError(f"{where}: unsupported option(s) {shown}.")


def _layer_kwargs(class_name: str, config: dict[str, Any], where: str) -> dict[str, Any]:
    """grunet constructor kwargs for one Keras layer config; refuses options grunet cannot honour."""
    args = _ARGS[class_name]
    _check_options(config, args, where)
    kwargs = {k: config[k] for k in args if k in config}
    for key in ("activation", "recurrent_activation"):
        if key in kwargs:
            kwargs[key] = _activation(kwargs[key], f"{where} {key}")
    if "name" in config:
        kwargs["name"] = str(config["name"])
    return kwargs


def _input_shape(model_config: dict[str, Any], specs: list[dict]) -> tuple | None:
    for spec in specs:
        if spec.get("class_name") == "InputLayer":
            cfg = spec.get("config", {})
            shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
            if shape:
                return tuple(shape[1:])
    shape = model_config.get("build_input_shape")
    if not shape and specs:
        shape = (specs[0].get("build_config") or {}).get("input_shape")
    return tuple(shape[1:]) if shape else None


def _build_bidirectional(config: dict[str, Any], where: str) -> gl.Bidirectional:
    inner = config.get("layer")
    inner_class = inner.get("class_name") if isinstance(inner, dict) else None
    if inner_class not in _RECURRENT:
        raise ModelFileError(
            f"{where} wraps {inner_class!r}; grunet supports GRU, LSTM, SimpleRNN."
        )
    merge_mode = config.get("merge_mode", "concat")
    if merge_mode not in ("concat", "sum", "mul", "ave"):
        raise ModelFileError(f"{where}: merge_mode {merge_mode!r} is not supported.")
    _check_options(config, ("layer", "backward_layer", "merge_mode"), where)
    kwargs = _layer_kwargs(inner_class, inner.get("config") or {}, where)
    backward = config.get("backward_layer")
    if backward is not None:
        # grunet's backward layer is the forward one with go_backwards flipped; nothing else may differ.
        same = isinstance(backward, dict) and backward.get("class_name") == inner_class
        if same:
            fwd = {"go_backwards": False, **kwargs}
            bwd = {
                "go_backwards": False,
                **_layer_kwargs(inner_class, backward.get("config") or {}, where),
            }
            fwd["go_backwards"] = not fwd["go_backwards"]
            same = all(fwd.get(k) == bwd.get(k) for k in {*fwd, *bwd} - {"name"})
        if not same:
            raise ModelFileError(
                f"{where}: a backward_layer that differs from the forward layer (other than in "
                "go_backwards) is not supported."
            )
    kwargs["name"] = kwargs.get("name", snake_case(inner_class)).removeprefix("forward_")
    name = {"name": str(config["name"])} if "name" in config else {}
    return gl.Bidirectional(_RECURRENT[inner_class](**kwargs), merge_mode=merge_mode, **name)


def _build_layer(spec: dict[str, Any], index: int) -> gl.Layer:
    class_name = spec.get("class_name")
    config = dict(spec.get("config") or {})
    where = f"layer {index} ({class_name} {config.get('name', '')!r})"
    if class_name == "Bidirectional":
        return _build_bidirectional(config, where)
    if class_name in _RECURRENT and config.get("return_state"):
        raise ModelFileError(f"{where}: return_state=True is not supported in a Sequential.")
    if class_name in _RECURRENT:
        return _RECURRENT[class_name](**_layer_kwargs(class_name, config, where))
    if class_name == "Dense":
        return gl.Dense(**_layer_kwargs(class_name, config, where))
    if class_name == "Dropout":
        return gl.Dropout(**_layer_kwargs(class_name, config, where))
    raise ModelFileError(
        f"{where}: layer type {class_name!r} is not supported; grunet reads GRU, LSTM, SimpleRNN, "
        "Dense, Dropout and Bidirectional."
    )


def _weight_groups(class_name: str, base: str) -> list[str]:
    """h5 groups holding a layer's variables, in get_weights() order."""
    if class_name in _RECURRENT:
        return [f"{base}/cell/vars"]
    if class_name == "Bidirectional":
        return [f"{base}/forward_layer/cell/vars", f"{base}/backward_layer/cell/vars"]
    if class_name == "Dense":
        return [f"{base}/vars"]
    return []


def _read_vars(h5, group: str, where: str) -> list[np.ndarray]:
    if group not in h5:
        raise ModelFileError(f"{where}: the weights file has no group {group!r}.")
    g = h5[group]
    keys = sorted(g.keys(), key=lambda k: int(k) if k.isdigit() else -1)
    if any(not k.isdigit() for k in keys) or [int(k) for k in keys] != list(range(len(keys))):
        raise ModelFileError(f"{where}: unexpected entries {list(g.keys())} in {group!r}.")
    return [np.asarray(g[k]) for k in keys]


def _read_archive(path: Path) -> tuple[dict[str, Any], bytes]:
    """(config.json parsed, model.weights.h5 bytes) of a .keras file."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [n for n in (CONFIG, WEIGHTS) if n not in names]
            if missing:
                raise ModelFileError(
                    f"{path} has no {' or '.join(missing)}: it is not a complete Keras 3 .keras file."
                )
            config_bytes, weights_bytes = archive.read(CONFIG), archive.read(WEIGHTS)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError) as e:
        raise ModelFileError(
            f"{path} is not a readable .keras (zip) file ({type(e).__name__}: {e}); it may be "
            "truncated or corrupt."
        ) from None
    try:
        config = json.loads(config_bytes)
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path}: config.json is not valid JSON ({e}).") from None
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        got = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise ModelFileError(
            f"{path} holds a {got!r} model; grunet reads only Sequential models (a functional "
            "model has no grunet equivalent)."
        )
    if not isinstance(config.get("config"), dict):
        raise ModelFileError(f"{path}: config.json has no model config.")
    return config["config"], weights_bytes


def _model_from_config(model_config: dict[str, Any], path: Path):
    """(grunet Sequential built from a Keras Sequential config, the Keras layer specs)."""
    from grunet.models.sequential import Sequential

    specs = [s for s in model_config.get("layers") or [] if isinstance(s, dict)]
    shape = _input_shape(model_config, specs)
    specs = [s for s in specs if s.get("class_name") != "InputLayer"]
    if not specs:
        raise ModelFileError(f"{path}: the model has no layers.")
    if shape is None:
        raise ModelFileError(f"{path}: the model was never built (no input shape in its config).")
    try:
        model = Sequential(
            [_build_layer(spec, i) for i, spec in enumerate(specs)], name=model_config.get("name")
        )
        model.build(shape)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e}") from None
    except (ValueError, TypeError) as e:
        raise ModelFileError(f"{path}: cannot build the model from its config ({e}).") from None
    return model, specs


def _load_weights(model, specs: list[dict], weights: bytes, path: Path) -> None:
    used: dict[str, int] = {}
    try:
        with _h5py().File(io.BytesIO(weights), "r") as h5:
            for i, (spec, layer) in enumerate(zip(specs, model.layers, strict=False)):
                class_name = spec["class_name"]
                base = f"layers/{_unique(snake_case(class_name), used)}"
                where = f"{path}: layer {i} ({class_name} {layer.name!r})"
                arrays = [
                    a for g in _weight_groups(class_name, base) for a in _read_vars(h5, g, where)
                ]
                try:
                    layer.set_weights(arrays)
                except (DataError, TypeError) as e:
                    raise ModelFileError(f"{where}: weights do not match the config: {e}") from None
    except OSError as e:
        raise ModelFileError(
            f"{path}: model.weights.h5 is not a readable HDF5 file ({e})."
        ) from None


def load(path: str | os.PathLike):
    """Read a Keras 3 ``.keras`` file of a Sequential model into a ``grunet.Sequential``.

    Args:
        path: the ``.keras`` file.

    Returns:
        A built ``grunet.Sequential`` in eval mode that gives Keras's predictions (not compiled).

    Raises:
        ModelFileError: the file is missing, not a zip, truncated, lacks ``config.json`` or
            ``model.weights.h5``, holds an unsupported layer or option, or its weights do not
            match its config. No partially loaded model is ever returned.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"no .keras file at {path}.")
    model_config, weights = _read_archive(path)
    model, specs = _model_from_config(model_config, path)
    _load_weights(model, specs, weights, path)
    model.eval()
    return model


# -- writing ---------------------------------------------------------------------------------


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
    elif class_name in _ARGS:
        if getattr(layer, "return_state", False):
            raise ModelFileError(f"layer {layer.name!r}: return_state=True cannot be saved.")
        config = {**base, **{k: getattr(layer, k) for k in _ARGS[class_name]}}
        if "activation" in config and config["activation"] is None:
            config["activation"] = "linear"
        if class_name in _RECURRENT:
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
    if class_name in _RECURRENT:
        _write_vars(h5, f"{base}/cell/vars", _CELL_NAMES[class_name], layer.get_weights())
    elif isinstance(layer, gl.Bidirectional):
        for attr in ("forward_layer", "backward_layer"):
            sub = getattr(layer, attr)
            _write_layer_weights(h5, sub, f"{base}/{attr}", sub.name)


def _is_stateful(layer: gl.Layer) -> bool:
    return getattr(getattr(layer, "forward_layer", layer), "stateful", False)


def _archive_bytes(model, batch_size: int | None) -> dict[str, bytes]:
    h5py = _h5py()
    model._require_built("save to .keras")
    if batch_size is None and any(_is_stateful(layer) for layer in model.layers):
        raise ModelFileError(
            "the model has stateful layers, and Keras needs a fixed batch size for them: use "
            "grunet.keras.save(model, path, batch_size=...) (the number of sequences carried)."
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
    buffer, used = io.BytesIO(), {}
    with h5py.File(buffer, "w") as h5:
        for layer in model.layers:
            name, n = layer.name, 0
            while name in names:  # Keras requires unique layer names
                n += 1
                name = f"{layer.name}_{n}"
            names.add(name)
            layer_specs.append(_keras_layer_config(layer, name, dtype))
            base = f"layers/{_unique(snake_case(type(layer).__name__), used)}"
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
    from grunet import __version__

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
    from grunet.models.io import atomic_write, check_target

    path = check_target(path, overwrite, "model.keras")
    entries = _archive_bytes(model, batch_size)  # everything is built before the file is opened

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w") as archive:
            for name, data in entries.items():
                archive.writestr(name, data)

    atomic_write(path, write)
    return path


def save_keras(model, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """``Sequential.save`` for a ``.keras`` path (same as `save`)."""
    return save(model, path, overwrite=overwrite)


__all__ = ["load", "save", "save_keras"]
