"""The Keras 3 ``.keras`` file layout that reading and writing share: entry names, the layers and
options grunet maps, where each layer's variables live in the h5 file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grunet import layers as gl
from grunet.errors import MissingDependencyError

# (layers, name, input_shape) -> a built model holding those layers.
BuildModel = Callable[[list[gl.Layer], "str | None", tuple], Any]

CONFIG, WEIGHTS, METADATA = "config.json", "model.weights.h5", "metadata.json"
KERAS_VERSION = "3.15.1"  # the Keras release whose file layout this module writes
RECURRENT = {"GRU": gl.GRU, "LSTM": gl.LSTM, "SimpleRNN": gl.SimpleRNN}
CELL_NAMES = {"GRU": "gru_cell", "LSTM": "lstm_cell", "SimpleRNN": "simple_rnn_cell"}
# Keras config keys that change nothing at inference once the weights are loaded.
IGNORED = {
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
ARGS = {
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
    "Masking": ("mask_value",),
}


def unique(name: str, used: dict[str, int]) -> str:
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def h5py_module():
    try:
        import h5py
    except ImportError:
        raise MissingDependencyError(
            ".keras files need the h5py package: pip install h5py"
        ) from None
    return h5py


def weight_groups(class_name: str, base: str) -> list[str]:
    """h5 groups holding a layer's variables, in get_weights() order."""
    if class_name in RECURRENT:
        return [f"{base}/cell/vars"]
    if class_name == "Bidirectional":
        return [f"{base}/forward_layer/cell/vars", f"{base}/backward_layer/cell/vars"]
    if class_name == "Dense":
        return [f"{base}/vars"]
    return []
