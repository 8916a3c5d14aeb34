"""grunet.saving: the file formats, by suffix.

- ``native`` (``.grunet``): safetensors weights with the JSON config in the header; no pickle.
- ``keras`` (``.keras``): Keras 3 files, read and written without Keras.
- ``onnx`` (``.onnx``): export for ONNX Runtime, keeping the GRU variant exactly.

These modules know formats and layers, not models: ``grunet.models`` (``Sequential.save``,
``grunet.load_model``, ``Sequential.export``) sits above and calls them.
"""

from grunet.saving import keras, native, onnx
from grunet.saving.onnx import DEFAULT_OPSET, build_onnx, to_onnx

EXPORT_FORMATS = {"onnx": to_onnx}
EXPORT_SUFFIXES = {"onnx": ".onnx"}

__all__ = [
    "DEFAULT_OPSET",
    "EXPORT_FORMATS",
    "EXPORT_SUFFIXES",
    "build_onnx",
    "keras",
    "native",
    "onnx",
    "to_onnx",
]
