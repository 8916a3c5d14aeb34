"""Keras 3 ``.keras`` files: read them into a grunet Sequential, write them for Keras to load.

A ``.keras`` file is a zip holding ``config.json`` (the model's Keras config), ``model.weights.h5``
(the weights) and ``metadata.json``. In the h5 file each layer of a Sequential lives under
``layers/<snake_case class name>[_<n>]`` (``gru``, ``gru_1``, ...: Keras addresses layers by class,
not by name), its variables in ``vars/0``, ``vars/1``, ... in ``get_weights()`` order; a recurrent
layer keeps them in its ``cell`` and ``Bidirectional`` in ``forward_layer`` and ``backward_layer``.
grunet's Keras-style layers use Keras's weight layouts, so weights move without arithmetic.

Supported: Sequential models of GRU (both ``reset_after``), LSTM, SimpleRNN, Dense, Dropout and
Bidirectional. Anything else (another layer, a functional model, regularizers, constraints, an
activation grunet lacks, ...) raises ``ModelFileError`` naming it. Initializers are ignored
(weights come from the file); compile settings and optimizer state are not read or written.

Examples:
    >>> import tempfile
    >>> import numpy as np
    >>> import grunet as gn
    >>> model = gn.Sequential([gn.layers.GRU(4, input_shape=(None, 1)), gn.layers.Dense(1)])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = model.save(f"{folder}/model.keras")  # Keras 3 loads this file too
    ...     same = gn.load_model(path)
    >>> x = np.ones((2, 3, 1), dtype=np.float32)
    >>> bool(np.array_equal(same.predict(x), model.predict(x)))
    True
"""

from grunet.saving.keras_layout import BuildModel
from grunet.saving.keras_read import load
from grunet.saving.keras_write import save

__all__ = ["BuildModel", "load", "save"]
