"""grunet.export: write models for other runtimes (ONNX).

Examples:
    >>> from grunet.export import export
    >>> export(model, "model.onnx", format="onnx")  # doctest: +SKIP
"""

from grunet.models.files import export
from grunet.saving import EXPORT_FORMATS as FORMATS
from grunet.saving.onnx import DEFAULT_OPSET, build_onnx, to_onnx

__all__ = ["DEFAULT_OPSET", "FORMATS", "build_onnx", "export", "to_onnx"]
