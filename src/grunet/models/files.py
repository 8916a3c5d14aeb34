"""Writing a model to a file, by suffix or format: ``.grunet`` (native), ``.keras``, ONNX.

The formats live in ``grunet.saving``; this module chooses one for a model. Reading is in
``loading`` (it needs the model class; writing does not).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from grunet.errors import OptionError
from grunet.saving import EXPORT_FORMATS, keras, native


def save_model(model, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write `model` (a built Sequential) to `path`: Keras 3 for ``.keras``, else grunet's own
    format; refuses to replace a file unless `overwrite`.

    Raises:
        FileExistsError: `path` exists and overwrite is False.
    """
    if Path(path).suffix == ".keras":
        return keras.save(model, path, overwrite=overwrite)
    model.require_built("save")
    return native.write(
        path, model.get_config(), model.compile_config, model.state_dict(), overwrite=overwrite
    )


def export(
    model, path: str | os.PathLike, format: str = "onnx", *, overwrite: bool = False, **options: Any
) -> Path:
    """Write `model` (a built Sequential) in `format` to `path`; options go to the exporter.

    Raises:
        OptionError: unknown format (the message lists the known ones).
        FileExistsError: `path` exists and overwrite is False.
    """
    if format not in EXPORT_FORMATS:
        raise OptionError(
            f"Unknown export format {format!r}; use one of: {', '.join(EXPORT_FORMATS)}."
        )
    return EXPORT_FORMATS[format](model, path, overwrite=overwrite, **options)
