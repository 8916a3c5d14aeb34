"""grunet: GRU networks for sequences and time series."""

from grunet import data, layers, nn, ops
from grunet.models import Callback, EarlyStopping, History, Sequential, load_model
from grunet.seeding import set_seed

__version__ = "0.1.0"

__all__ = [
    "Callback", "EarlyStopping", "History", "Sequential", "data", "layers", "load_model", "nn",
    "ops", "set_seed",
]  # fmt: skip
