"""grunet.layers: Keras-style layers over grunet.ops (GRU, LSTM, SimpleRNN, Dense, ...)."""

from __future__ import annotations

from typing import Any

from grunet.layers.base import Layer
from grunet.layers.bidirectional import Bidirectional
from grunet.layers.core import Dense, Dropout, Masking
from grunet.layers.recurrent import GRU, LSTM, SimpleRNN

# The recurrent cells by the short names the CLI, the article and the forecaster use.
CELLS: dict[str, type[GRU] | type[LSTM] | type[SimpleRNN]] = {
    "gru": GRU,
    "lstm": LSTM,
    "rnn": SimpleRNN,
}

LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (GRU, LSTM, SimpleRNN, Dense, Dropout, Masking, Bidirectional)
}


def serialize(layer: Layer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}``, JSON-able."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(spec: dict[str, Any]) -> Layer:
    """Build a layer from ``serialize``'s output."""
    name = spec.get("class_name")
    if name not in LAYERS:
        raise ValueError(f"Unknown layer class {name!r}; known: {', '.join(LAYERS)}.")
    return LAYERS[name].from_config(dict(spec.get("config", {})))


__all__ = [
    "Bidirectional",
    "CELLS",
    "Dense",
    "Dropout",
    "GRU",
    "LAYERS",
    "LSTM",
    "Layer",
    "Masking",
    "SimpleRNN",
    "deserialize",
    "serialize",
]
