"""grunet.export: write models for other runtimes (ONNX).

Examples:
    >>> import tempfile
    >>> import grunet as gn
    >>> from grunet.export import export
    >>> model = gn.Sequential([gn.layers.GRU(8, input_shape=(None, 1)), gn.layers.Dense(1)])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     export(model, f"{folder}/model.onnx", format="onnx").suffix
    '.onnx'
"""

from grunet.models.files import export
from grunet.saving import EXPORT_FORMATS as FORMATS
from grunet.saving.onnx import DEFAULT_OPSET, build_onnx, to_onnx

__all__ = ["DEFAULT_OPSET", "FORMATS", "build_onnx", "export", "to_onnx"]
