"""grunet: GRU networks for sequences and time series."""

__version__ = "0.1.0"  # first: submodules read it

from grunet import data, layers, nn, ops
from grunet.models import Callback, EarlyStopping, History, Sequential, load_model
from grunet.seeding import set_seed

__all__ = [
    "Callback",
    "EarlyStopping",
    "History",
    "Sequential",
    "data",
    "layers",
    "load_model",
    "nn",
    "ops",
    "set_seed",
]
