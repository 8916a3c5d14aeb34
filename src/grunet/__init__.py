"""grunet: GRU networks for sequences and time series."""

from grunet import data, layers, nn, ops
from grunet._version import __version__
from grunet.models import Callback, EarlyStopping, History, Sequential, load_model
from grunet.seeding import set_seed

__all__ = [
    "Callback",
    "EarlyStopping",
    "History",
    "Sequential",
    "__version__",
    "data",
    "layers",
    "load_model",
    "nn",
    "ops",
    "set_seed",
]
