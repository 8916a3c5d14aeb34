"""grunet: GRU networks for sequences and time series."""

from grunet import data, layers, nn, ops
from grunet.models import History, Sequential, load_model

__version__ = "0.1.0"

__all__ = ["History", "Sequential", "data", "layers", "load_model", "nn", "ops"]
