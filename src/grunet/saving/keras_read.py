"""Reading a Keras 3 ``.keras`` file of a Sequential model: its config into grunet layers, its
weights into them. Anything grunet cannot express raises ``ModelFileError`` naming it."""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from grunet import layers as gl
from grunet.errors import DataError, ModelFileError
from grunet.layers.base import snake_case
from grunet.ops.activations import ACTIVATIONS
from grunet.saving.keras_layout import (
    ARGS,
    CONFIG,
    IGNORED,
    RECURRENT,
    WEIGHTS,
    BuildModel,
    h5py_module,
    unique,
    weight_groups,
)


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
        if k not in allowed and k not in IGNORED and v not in (None, False, 0, {}, [])
    )
    if unsupported:
        shown = ", ".join(f"{k}={config[k]!r}" for k in unsupported)
        raise ModelFileError(f"{where}: unsupported option(s) {shown}.")


def _layer_kwargs(class_name: str, config: dict[str, Any], where: str) -> dict[str, Any]:
    """grunet constructor kwargs for one Keras layer config; refuses options grunet cannot honour."""
    args = ARGS[class_name]
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
    if not isinstance(inner, dict) or inner_class not in RECURRENT:
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
    name: dict[str, Any] = {"name": str(config["name"])} if "name" in config else {}
    return gl.Bidirectional(RECURRENT[inner_class](**kwargs), merge_mode=merge_mode, **name)


def _build_layer(spec: dict[str, Any], index: int) -> gl.Layer:
    class_name = spec.get("class_name")
    config = dict(spec.get("config") or {})
    where = f"layer {index} ({class_name} {config.get('name', '')!r})"
    if class_name == "Bidirectional":
        return _build_bidirectional(config, where)
    if class_name in RECURRENT and config.get("return_state"):
        raise ModelFileError(f"{where}: return_state=True is not supported in a Sequential.")
    if class_name in RECURRENT:
        return RECURRENT[class_name](**_layer_kwargs(class_name, config, where))
    if class_name == "Dense":
        return gl.Dense(**_layer_kwargs(class_name, config, where))
    if class_name == "Dropout":
        return gl.Dropout(**_layer_kwargs(class_name, config, where))
    if class_name == "Masking":
        return gl.Masking(**_layer_kwargs(class_name, config, where))
    raise ModelFileError(
        f"{where}: layer type {class_name!r} is not supported; grunet reads GRU, LSTM, SimpleRNN, "
        "Dense, Dropout, Masking and Bidirectional."
    )


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


def _model_from_config(model_config: dict[str, Any], path: Path, build_model: BuildModel):
    """(model built from a Keras Sequential config by `build_model`, the Keras layer specs)."""

    specs = [s for s in model_config.get("layers") or [] if isinstance(s, dict)]
    shape = _input_shape(model_config, specs)
    specs = [s for s in specs if s.get("class_name") != "InputLayer"]
    if not specs:
        raise ModelFileError(f"{path}: the model has no layers.")
    if shape is None:
        raise ModelFileError(f"{path}: the model was never built (no input shape in its config).")
    try:
        layers = [_build_layer(spec, i) for i, spec in enumerate(specs)]
        model = build_model(layers, model_config.get("name"), shape)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e}") from None
    except (ValueError, TypeError) as e:
        raise ModelFileError(f"{path}: cannot build the model from its config ({e}).") from None
    return model, specs


def _load_weights(model, specs: list[dict], weights: bytes, path: Path) -> None:
    used: dict[str, int] = {}
    try:
        with h5py_module().File(io.BytesIO(weights), "r") as h5:
            for i, (spec, layer) in enumerate(zip(specs, model.layers, strict=False)):
                class_name = spec["class_name"]
                base = f"layers/{unique(snake_case(class_name), used)}"
                where = f"{path}: layer {i} ({class_name} {layer.name!r})"
                arrays = [
                    a for g in weight_groups(class_name, base) for a in _read_vars(h5, g, where)
                ]
                try:
                    layer.set_weights(arrays)
                except (DataError, TypeError) as e:
                    raise ModelFileError(f"{where}: weights do not match the config: {e}") from None
    except OSError as e:
        raise ModelFileError(
            f"{path}: model.weights.h5 is not a readable HDF5 file ({e})."
        ) from None


def load(path: str | os.PathLike, build_model: BuildModel):
    """Read a Keras 3 ``.keras`` file of a Sequential model into a ``grunet.Sequential``.

    ``grunet.load_model(path)`` is the usual way in; it passes the model class.

    Args:
        path: the ``.keras`` file.
        build_model: ``(layers, name, input_shape) -> built model`` (``Sequential.from_layers``).

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
    model, specs = _model_from_config(model_config, path, build_model)
    _load_weights(model, specs, weights, path)
    model.eval()
    return model
