"""grunet.models: the Keras-style Sequential model, its History, callbacks and model files."""

from grunet.models.callbacks import (
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TensorBoard,
)
from grunet.models.history import Callback, History
from grunet.models.io import load_model, save_model
from grunet.models.sequential import Sequential

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "Sequential",
    "TensorBoard",
    "load_model",
    "save_model",
]
