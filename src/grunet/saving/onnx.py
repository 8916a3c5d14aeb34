"""Export a Sequential to ONNX, built node by node with ``onnx.helper``.

Recurrent layers become ONNX's own ``GRU``, ``LSTM`` and ``RNN`` operators, which every runtime
implements natively (ONNX Runtime's CPU GRU runs a step in ~1-2 us). We do not go through
``torch.onnx.export``: it traces the Python loop, and its GRU symbolic writes
``linear_before_reset`` wrongly for the article's variant.

How grunet's (Keras-layout) weights map onto the operators, per direction:

- GRU: ONNX gates (z, r, h) are Keras's order, so ``W = kernel.T`` (3H, I), ``R =
  recurrent_kernel.T`` (3H, H). ``linear_before_reset=1`` for reset_after=True, with
  ``B = [input bias, recurrent bias]`` (6H). For reset_after=False, ``linear_before_reset=0``
  computes ``h~ = g(x Wh + (r * h) Rh + Rbh + Wbh)``: both biases sit outside the reset product,
  so Keras's single bias goes into ``Wb`` and ``Rb = 0``, which is exactly Keras's
  ``h~ = g(x Wh + b_h + (r * h) Uh)``. Both use z as a keep gate, ``H = (1 - z) h~ + z H``.
- LSTM: Keras gates (i, f, c, o) are reordered to ONNX's (i, o, f, c); ``B = [bias, 0]``.
- SimpleRNN: ``W = kernel.T``, ``R = recurrent_kernel.T``, ``B = [bias, 0]``.
- Bidirectional: one operator with ``direction="bidirectional"`` (forward weights, then
  backward), outputs merged as the layer's ``merge_mode`` says. ``go_backwards`` reverses the
  time axis with a negative-step ``Slice``, so outputs stay in Keras's (processing) order.
- Dense: ``MatMul`` + ``Add`` (any rank). Dropout: nothing (inference).

Legend:  T: time  B: batch  I: input features  H: units  G: gates  D: directions
The graph's input ``x`` is (B, T, F) and its output ``y`` is what ``predict`` returns; B and T are
dynamic. Weights are stored as float32.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from grunet import layers as gl
from grunet._files import atomic_write, check_target
from grunet._version import __version__
from grunet.errors import DataError, MissingDependencyError, OptionError
from grunet.layers.recurrent import Recurrent

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Squeeze/Unsqueeze/Slice with axes as inputs
_INT64_MIN = -(2**63)

# Activation name -> (ONNX recurrent-op activation, alpha, beta); None where unused.
_RNN_ACTIVATIONS: dict[str, tuple[str, float | None, float | None]] = {
    "tanh": ("Tanh", None, None),
    "sigmoid": ("Sigmoid", None, None),
    "relu": ("Relu", None, None),
    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),  # Keras 3: clip(x / 6 + 0.5, 0, 1)
    "linear": ("Affine", 1.0, 0.0),
    "softsign": ("Softsign", None, None),
    "softplus": ("Softplus", None, None),
    "elu": ("Elu", 1.0, None),
}
_LSTM_ONNX_BLOCKS = (0, 3, 1, 2)  # ONNX (i, o, f, c) from Keras (i, f, c, o)


class _Graph:
    """Nodes and initializers under construction, with unique names."""

    def __init__(self, helper, numpy_helper) -> None:
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value: Any, dtype=np.float32) -> str:
        name = self.name(hint)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int | list[str] = 1, **attrs) -> Any:
        if not isinstance(outputs, list):
            outputs = [self.name(op_type.lower()) for _ in range(outputs)]
        node = self.helper.make_node(op_type, inputs, outputs, name=self.name(op_type), **attrs)
        self.nodes.append(node)
        return outputs[0] if len(outputs) == 1 else outputs


def _activation(g: _Graph, name: str | None, x: str, opset: int) -> str:
    """Apply the Keras activation `name` to tensor `x` with plain ONNX operators."""
    simple = {
        "tanh": "Tanh",
        "sigmoid": "Sigmoid",
        "relu": "Relu",
        "softplus": "Softplus",
        "softsign": "Softsign",
        "exponential": "Exp",
        "selu": "Selu",
    }
    if name in (None, "linear"):
        return x
    if name in simple:
        return g.op(simple[name], [x])
    if name == "elu":
        return g.op("Elu", [x], alpha=1.0)
    if name == "hard_sigmoid":
        return g.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
    if name in ("swish", "silu"):
        return g.op("Mul", [x, g.op("Sigmoid", [x])])
    if name == "gelu":  # exact (erf) GELU, as torch and Keras compute it by default
        if opset >= 20:
            return g.op("Gelu", [x])
        erf = g.op("Erf", [g.op("Mul", [x, g.const("inv_sqrt2", 1.0 / np.sqrt(2.0))])])
        half_x = g.op("Mul", [x, g.const("half", 0.5)])
        return g.op("Mul", [half_x, g.op("Add", [erf, g.const("one", 1.0)])])
    raise DataError(f"ONNX export: activation {name!r} is not supported.")


def _onnx_weights(layer: Recurrent) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W (G*H, I), R (G*H, H), B (2*G*H,)) of one direction in ONNX gate order, float32."""
    weights = [np.asarray(w, dtype=np.float32) for w in layer.get_weights()]
    kernel, recurrent = weights[0].T, weights[1].T  # (G*H, I), (G*H, H)
    GH = kernel.shape[0]
    bias = weights[2] if layer.use_bias else np.zeros(GH, np.float32)
    if bias.ndim == 2:  # GRU reset_after: (2, 3H) = input bias, recurrent bias
        b = bias.reshape(-1)
    else:
        b = np.concatenate([bias, np.zeros(GH, np.float32)])
    if isinstance(layer, gl.LSTM):
        H = layer.units

        def order(a: np.ndarray) -> np.ndarray:
            return np.concatenate([a[k * H : (k + 1) * H] for k in _LSTM_ONNX_BLOCKS])

        kernel, recurrent = order(kernel), order(recurrent)
        b = np.concatenate([order(b[:GH]), order(b[GH:])])
    return kernel, recurrent, b


def _rnn_attrs(layer: Recurrent, directions: int) -> dict[str, Any]:
    names = [layer.activation]
    if isinstance(layer, (gl.GRU, gl.LSTM)):
        names = [layer.recurrent_activation, layer.activation]
    if isinstance(layer, gl.LSTM):
        names.append(layer.activation)  # f, g, h
    for n in names:
        if n not in _RNN_ACTIVATIONS:
            raise DataError(
                f"ONNX export: layer {layer.name!r} uses activation {n!r}, which ONNX's "
                f"{type(layer).__name__} operator cannot express; supported: "
                f"{', '.join(_RNN_ACTIVATIONS)}."
            )
    specs = [_RNN_ACTIVATIONS[n] for n in names] * directions
    attrs: dict[str, Any] = {"hidden_size": layer.units, "activations": [s[0] for s in specs]}
    alphas = [s[1] for s in specs if s[1] is not None]
    betas = [s[2] for s in specs if s[2] is not None]
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    if isinstance(layer, gl.GRU):
        attrs["linear_before_reset"] = int(layer.reset_after)
    return attrs


def _recurrent_op(g: _Graph, layers: list[Recurrent], x: str, return_sequences: bool) -> str:
    """One ONNX GRU/LSTM/RNN node over time-major `x` (T, B, I), one layer per direction.

    Returns Y (T, D, B, H) if return_sequences else Y_h (D, B, H).
    """
    layer = layers[0]
    parts = [_onnx_weights(lay) for lay in layers]
    W, R, B = (g.const(k, np.stack([p[i] for p in parts])) for i, k in enumerate("WRB"))
    op = {gl.GRU: "GRU", gl.LSTM: "LSTM", gl.SimpleRNN: "RNN"}[type(layer)]
    y, y_h = g.name(f"{op.lower()}_Y"), g.name(f"{op.lower()}_Y_h")
    direction = "bidirectional" if len(layers) == 2 else "forward"
    outputs = [y if return_sequences else "", y_h]  # "" leaves an output unused
    g.op(op, [x, W, R, B], outputs, direction=direction, **_rnn_attrs(layer, len(layers)))
    return y if return_sequences else y_h


def _reverse_time(g: _Graph, x: str) -> str:
    """x[::-1] along axis 0 (time-major)."""
    starts, ends = g.const("start", [-1], np.int64), g.const("end", [_INT64_MIN], np.int64)
    axes, steps = g.const("axes", [0], np.int64), g.const("steps", [-1], np.int64)
    return g.op("Slice", [x, starts, ends, axes, steps])


def _merge(g: _Graph, mode: str, a: str, b: str) -> str:
    if mode == "concat":
        return g.op("Concat", [a, b], axis=-1)
    if mode == "sum":
        return g.op("Add", [a, b])
    if mode == "mul":
        return g.op("Mul", [a, b])
    return g.op("Mul", [g.op("Add", [a, b]), g.const("half", 0.5)])  # ave


def _squeeze(g: _Graph, x: str, axis: int) -> str:
    return g.op("Squeeze", [x, g.const("axes", [axis], np.int64)])


def _unidirectional(g: _Graph, layer: Recurrent, x: str) -> str:
    """Time-major x (T, B, I) -> (T, B, H) if return_sequences else (B, H)."""
    if layer.go_backwards:
        x = _reverse_time(g, x)  # outputs then come in processing order, as in Keras
    out = _recurrent_op(g, [layer], x, layer.return_sequences)
    return _squeeze(g, out, 1 if layer.return_sequences else 0)


def _bidirectional(g: _Graph, layer: gl.Bidirectional, x: str) -> str:
    fwd, bwd = layer.forward_layer, layer.backward_layer
    if layer.merge_mode is None:  # two outputs: the graph here carries one
        raise DataError(
            f"ONNX export: layer {layer.name!r} has merge_mode=None (a list of two outputs); "
            "use merge_mode 'concat', 'sum', 'mul' or 'ave'."
        )
    seq = fwd.return_sequences
    if not fwd.go_backwards:  # the usual case: one bidirectional operator
        out = _recurrent_op(g, [fwd, bwd], x, seq)  # (T, 2, B, H) or (2, B, H)
        axis = 1 if seq else 0
        if layer.merge_mode == "concat":
            perm = [0, 2, 1, 3] if seq else [1, 0, 2]  # directions next to units
            shape = g.const("shape", [0, 0, -1] if seq else [0, -1], np.int64)
            return g.op("Reshape", [g.op("Transpose", [out], perm=perm), shape])
        index = [g.const("index", i, np.int64) for i in (0, 1)]
        a, b = (g.op("Gather", [out, i], axis=axis) for i in index)
        return _merge(g, layer.merge_mode, a, b)
    a, b = _unidirectional(g, fwd, x), _unidirectional(g, bwd, x)
    if seq:
        b = _reverse_time(g, b)  # back to input time order, as Bidirectional does
    return _merge(g, layer.merge_mode, a, b)


def build_onnx(model, opset: int = DEFAULT_OPSET):
    """The ``onnx.ModelProto`` of a built Sequential (checked with ``onnx.checker``)."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise MissingDependencyError(
            "ONNX export needs the onnx package: pip install onnx"
        ) from None

    model.require_built("ONNX export")
    if not MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise OptionError(
            f"opset must be between {MIN_OPSET} and {onnx.defs.onnx_opset_version()} (the newest "
            f"this onnx package knows), got {opset}."
        )
    g = _Graph(helper, numpy_helper)
    x, time_major = "x", False  # x: (B, T, F)
    for layer in model.layers:
        if isinstance(layer, (gl.GRU, gl.LSTM, gl.SimpleRNN, gl.Bidirectional)):
            if not time_major:
                x, time_major = g.op("Transpose", [x], perm=[1, 0, 2]), True  # (T, B, F)
            inner = layer.forward_layer if isinstance(layer, gl.Bidirectional) else layer
            if inner.return_state:
                raise DataError(f"ONNX export: layer {layer.name!r} has return_state=True.")
            if isinstance(layer, gl.Bidirectional):
                x = _bidirectional(g, layer, x)
            else:
                x = _unidirectional(g, layer, x)
            time_major = inner.return_sequences
        elif isinstance(layer, gl.Dense):
            w = layer.get_weights()
            x = g.op("MatMul", [x, g.const("kernel", w[0])])
            if layer.use_bias:
                x = g.op("Add", [x, g.const("bias", w[1])])
            x = _activation(g, layer.activation, x, opset)
        elif not isinstance(layer, gl.Dropout):
            raise DataError(f"ONNX export: layer type {type(layer).__name__} is not supported.")
    if time_major:
        x = g.op("Transpose", [x], perm=[1, 0, 2])  # back to (B, T, H)
    g.op("Identity", [x], ["y"])
    out_shape = list(model.output_shape)
    if len(out_shape) == 2:
        out_shape[0] = "time"
    features = model.build_input_shape[-1]
    graph = helper.make_graph(
        g.nodes,
        f"grunet_{model.name}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", *out_shape])],
        initializer=g.initializers,
    )
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(
        graph, opset_imports=opsets, producer_name="grunet", producer_version=__version__
    )
    proto.ir_version = helper.find_min_ir_version_for(opsets)  # loadable by older runtimes
    onnx.checker.check_model(proto, full_check=True)
    return proto


def to_onnx(
    model, path: str | os.PathLike, *, opset: int = DEFAULT_OPSET, overwrite: bool = False
) -> Path:
    """Write `model` (a built ``grunet.Sequential``) as an ONNX file, atomically.

    The graph takes ``x`` (batch, time, features) float32, both axes dynamic, and returns ``y``,
    what ``model.predict(x)`` returns.

    Args:
        model: a built Sequential of GRU, LSTM, SimpleRNN, Bidirectional, Dense and Dropout.
        path: the file to write (e.g. ``model.onnx``).
        opset: ONNX opset (default 17; at least 13).
        overwrite: replace an existing file.

    Returns:
        The path written.

    Raises:
        FileExistsError: `path` exists and overwrite is False.
        DataError: a layer or activation ONNX's operators cannot express.

    Examples:
        >>> import tempfile
        >>> import grunet as gn
        >>> from grunet.saving.onnx import to_onnx
        >>> model = gn.Sequential([gn.layers.GRU(8, input_shape=(None, 1)), gn.layers.Dense(1)])
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     to_onnx(model, f"{folder}/model.onnx").name
        'model.onnx'
    """

    path = check_target(path, overwrite, "model.onnx")
    data = build_onnx(model, opset).SerializeToString()
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return path


__all__ = ["DEFAULT_OPSET", "build_onnx", "to_onnx"]
