"""An ONNX Runtime GRU session with a torch GRU's weights, for side-by-side benchmarks.

Legend:  B: batch  T: time steps  I: input features  H: hidden units

The graph is one ONNX ``GRU`` node (opset 14) with time-major input (T, B, I): ONNX Runtime's
CPU GRU refuses ``layout=1`` (batch-first), so benchmarks hand it its own layout, untimed.
torch stores gate rows (r, z, n); ONNX wants (z, r, h), so the blocks are reordered;
``linear_before_reset=1`` is torch's (reset_after=True) variant, 0 the article's.
Needs the optional dependencies ``onnx`` and ``onnxruntime`` (``pip install grunet[onnx]``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def _zrh(w: np.ndarray, H: int) -> np.ndarray:
    """Rows (r, z, n) -> (z, r, n) along axis 0."""
    return np.concatenate([w[H : 2 * H], w[:H], w[2 * H :]], axis=0)


def gru_model(module: torch.nn.GRU, reset_after: bool = True, dense=None):
    """An ONNX ModelProto computing ``module`` (one layer, one direction) on (T, B, I) input.

    With ``dense = (kernel (H, O), bias (O,))`` (numpy) it is a streaming model instead: inputs
    x (1, B, I) and h (1, B, H), outputs y = h_new kernel + bias (B, O) and h_new (1, B, H).
    """
    from onnx import TensorProto, helper, numpy_helper

    if module.num_layers != 1 or module.bidirectional:
        raise ValueError("gru_model: needs num_layers=1 and bidirectional=False.")
    H, I = module.hidden_size, module.input_size  # noqa: E741
    p = {k: v.detach().float().numpy() for k, v in module.state_dict().items()}
    zero = np.zeros(3 * H, np.float32)
    b = np.concatenate(
        [_zrh(p.get("bias_ih_l0", zero), H), _zrh(p.get("bias_hh_l0", zero), H)]
    )  # (6H,)
    inits = [
        numpy_helper.from_array(_zrh(p["weight_ih_l0"], H)[None], "W"),  # (1, 3H, I)
        numpy_helper.from_array(_zrh(p["weight_hh_l0"], H)[None], "R"),  # (1, 3H, H)
        numpy_helper.from_array(b[None].astype(np.float32), "B"),  # (1, 6H)
    ]
    gru_inputs = ["x", "W", "R", "B"] + (["", "h"] if dense is not None else [])
    nodes = [
        helper.make_node(
            "GRU",
            gru_inputs,
            ["y", "y_h"],
            hidden_size=H,
            linear_before_reset=1 if reset_after else 0,
        )
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", "B", I])]
    outputs = [
        helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", 1, "B", H]),
        helper.make_tensor_value_info("y_h", TensorProto.FLOAT, [1, "B", H]),
    ]
    if dense is not None:
        kernel, bias = (np.asarray(a, np.float32) for a in dense)
        inits += [numpy_helper.from_array(kernel, "K"), numpy_helper.from_array(bias, "Kb")]
        inits += [numpy_helper.from_array(np.array([0], np.int64), "axis0")]
        nodes += [
            helper.make_node("Squeeze", ["y_h", "axis0"], ["h2"]),  # (B, H)
            helper.make_node("MatMul", ["h2", "K"], ["hk"]),
            helper.make_node("Add", ["hk", "Kb"], ["out"]),
        ]
        inputs.append(helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, "B", H]))
        outputs = [
            helper.make_tensor_value_info("out", TensorProto.FLOAT, ["B", kernel.shape[1]]),
            outputs[1],
        ]
    graph = helper.make_graph(nodes, "gru", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def session(module: torch.nn.GRU, threads: int, reset_after: bool = True) -> Callable:
    """A callable ``run(x (T, B, I) float32 numpy) -> [y (T, 1, B, H), y_h (1, B, H)]``.

    threads: ONNX Runtime's intra-op threads (0: its default, all cores); inter-op: 1.
    """
    sess = _session(gru_model(module, reset_after), threads)
    return lambda x: sess.run(None, {"x": x})


def stream_session(module: torch.nn.GRU, kernel, bias, threads: int = 1) -> Callable:
    """One observation of GRU + Dense with the state fed back: ``step(x (1, B, I)) -> y (B, O)``.

    The ONNX Runtime counterpart of ``grunet.streaming.Stepper``: each step runs the session on
    x and the carried state h (1, B, H) and keeps its new state for the next step.
    """
    sess = _session(gru_model(module, True, (kernel, bias)), threads)
    state: dict = {}

    def step(x: np.ndarray) -> np.ndarray:
        h = state.get("h")
        if h is None:
            h = np.zeros((1, x.shape[1], module.hidden_size), np.float32)
        y, state["h"] = sess.run(None, {"x": x, "h": h})
        return y

    return step


def _session(model, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def available() -> bool:
    """Whether onnx and onnxruntime import."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
