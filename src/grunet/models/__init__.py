"""grunet.models: the Keras-style Sequential model, its fit loop, History, callbacks and files."""

from grunet.models.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TensorBoard,
)
from grunet.models.files import export, save_model
from grunet.models.history import History
from grunet.models.loading import load_model
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
    "export",
    "load_model",
    "save_model",
]
