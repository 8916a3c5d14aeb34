"""ONNX export: ONNX Runtime's outputs equal grunet's, for every recurrent layer and variant."""

import numpy as np
import pytest
from typer.testing import CliRunner

import grunet as gn
from grunet.cli import app
from grunet.errors import DataError
from grunet.export import export, to_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
L = gn.layers
F = 3

MODELS = {
    "gru_reset_after": lambda: [L.GRU(6), L.Dense(1)],
    "gru_article_variant": lambda: [L.GRU(6, reset_after=False), L.Dense(1)],
    "lstm": lambda: [L.LSTM(5, use_bias=False), L.Dense(2, activation="tanh")],
    "simple_rnn": lambda: [L.SimpleRNN(4, activation="relu"), L.Dense(2, activation="gelu")],
    "stacked": lambda: [
        L.GRU(6, return_sequences=True),
        L.LSTM(5, return_sequences=True),
        L.GRU(4, reset_after=False, return_sequences=True, go_backwards=True),
        L.Dropout(0.5),
        L.Dense(2, activation="swish"),
    ],
    "bidirectional": lambda: [
        L.Bidirectional(L.GRU(4, reset_after=False, return_sequences=True)),
        L.Bidirectional(L.LSTM(3), merge_mode="ave"),
        L.Dense(1),
    ],
    "bidirectional_merges": lambda: [
        L.Bidirectional(L.SimpleRNN(4, return_sequences=True), merge_mode="mul"),
        L.Bidirectional(L.GRU(3, go_backwards=True, return_sequences=True), merge_mode="sum"),
        L.Dense(2),
    ],
    "activations": lambda: [
        L.GRU(4, activation="elu", recurrent_activation="hard_sigmoid"),
        L.Dense(2, activation="selu"),
    ],
}


def _model(case, seed=0):
    model = gn.Sequential(MODELS[case]())
    model.build((9, F))  # exported with T=9, run below at other lengths too
    rng = np.random.default_rng(seed)
    model.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in model.get_weights()]
    )
    return model


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("case", MODELS)
def test_onnx_runtime_matches_grunet(case, tmp_path):
    model = _model(case)
    session = _session(to_onnx(model, tmp_path / "m.onnx"))
    rng = np.random.default_rng(1)
    for batch, length in [(1, 1), (4, 9), (3, 17)]:
        x = rng.normal(size=(batch, length, F)).astype(np.float32)
        (y,) = session.run(None, {"x": x})
        np.testing.assert_allclose(y, model.predict(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("reset_after, flag", [(True, 1), (False, 0)])
def test_gru_variant_sets_linear_before_reset(tmp_path, reset_after, flag):
    model = gn.Sequential([L.GRU(3, reset_after=reset_after, input_shape=(5, 2))])
    proto = onnx.load(to_onnx(model, tmp_path / "m.onnx"))
    (gru,) = [n for n in proto.graph.node if n.op_type == "GRU"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in gru.attribute}
    assert attrs["linear_before_reset"] == flag
    assert [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim[:2]] == [
        "batch",
        "time",
    ]


def test_overwrite_export_and_cli_entry(tmp_path):
    model = _model("gru_article_variant")
    path = model.export(tmp_path / "m.onnx")  # Sequential.export -> grunet.export.export
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export(model, path, format="onnx")
    with pytest.raises(ValueError, match="Unknown export format"):
        export(model, tmp_path / "m.tflite", format="tflite")
    model.save(tmp_path / "m.grunet")
    args = ["export", str(tmp_path / "m.grunet"), "--out", str(tmp_path / "cli.onnx")]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0 and "cli.onnx" in first.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "already exists" in again.output
    assert CliRunner().invoke(app, [*args, "--force"]).exit_code == 0
    x = np.random.default_rng(0).normal(size=(2, 4, F)).astype(np.float32)
    np.testing.assert_allclose(
        _session(tmp_path / "cli.onnx").run(None, {"x": x})[0], model.predict(x), atol=1e-5
    )


def test_recurrent_activation_onnx_cannot_express_is_refused(tmp_path):
    model = gn.Sequential([L.GRU(3, activation="gelu", input_shape=(5, 2))])
    with pytest.raises(DataError, match="gelu"):
        to_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_bidirectional_without_merge_is_refused(tmp_path):
    inner = L.GRU(3, return_sequences=True)
    model = gn.Sequential([L.Bidirectional(inner, merge_mode=None, input_shape=(5, 2))])
    with pytest.raises(DataError, match="merge_mode=None"):
        to_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
