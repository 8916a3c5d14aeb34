"""grunet.models: the Keras-style Sequential model, its History, callbacks and model files."""

from grunet.models.history import Callback, EarlyStopping, History
from grunet.models.io import load_model, save_model
from grunet.models.sequential import Sequential

__all__ = ["Callback", "EarlyStopping", "History", "Sequential", "load_model", "save_model"]
