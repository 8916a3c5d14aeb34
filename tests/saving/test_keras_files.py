"""Keras 3 .keras files: Keras -> grunet and grunet -> Keras give the same predictions."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json
import zipfile

import numpy as np
import pytest

import grunet as gn
import grunet.saving.keras as gk
from grunet.errors import ModelFileError

keras = pytest.importorskip("keras")
pytest.importorskip("h5py")
T, F = 7, 3
KL = keras.layers

# Each case: layers for keras.Sequential after keras.Input((T, F)).
CASES = {
    "gru_reset_after": lambda: [KL.GRU(5), KL.Dense(1)],
    "gru_article_variant": lambda: [KL.GRU(5, reset_after=False), KL.Dense(1)],
    "lstm": lambda: [KL.LSTM(4), KL.Dense(2, activation="tanh")],
    "simple_rnn": lambda: [KL.SimpleRNN(4, activation="relu"), KL.Dense(1)],
    "stacked": lambda: [
        KL.GRU(6, return_sequences=True),
        KL.LSTM(5, return_sequences=True),
        KL.GRU(4, reset_after=False, go_backwards=True),
        KL.Dropout(0.3),
        KL.Dense(1),
    ],
    "bidirectional": lambda: [
        KL.Bidirectional(KL.GRU(4, return_sequences=True)),
        KL.Bidirectional(KL.LSTM(3), merge_mode="ave"),
        KL.Dense(1),
    ],
    "bidirectional_article": lambda: [
        KL.Bidirectional(KL.GRU(4, reset_after=False, return_sequences=True), merge_mode="sum"),
        KL.Bidirectional(KL.SimpleRNN(3, return_sequences=True), merge_mode="mul"),
        KL.Dense(2),
    ],
}


def _keras_model(case, seed=0):
    model = keras.Sequential([keras.Input((T, F)), *CASES[case]()])
    rng = np.random.default_rng(seed)
    model.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in model.get_weights()]
    )
    return model


def _x(batch=5, seed=1):
    return np.random.default_rng(seed).normal(size=(batch, T, F)).astype(np.float32)


@pytest.mark.parametrize("case", CASES)
def test_keras_file_loads_with_keras_predictions(case, tmp_path):
    km = _keras_model(case)
    km.save(tmp_path / "m.keras")
    gm = gn.load_model(tmp_path / "m.keras")
    x = _x()
    np.testing.assert_allclose(gm.predict(x), km.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert gm.count_params() == km.count_params()


@pytest.mark.parametrize("case", CASES)
def test_grunet_keras_file_loads_in_keras(case, tmp_path):
    gm = gn.load_model(_save(_keras_model(case, seed=3), tmp_path / "src.keras"))
    gm.save(tmp_path / "out.keras")  # Sequential.save dispatches on the suffix
    km = keras.saving.load_model(tmp_path / "out.keras")
    x = _x(seed=2)
    np.testing.assert_allclose(km.predict(x, verbose=0), gm.predict(x), rtol=1e-5, atol=1e-5)
    assert [type(layer).__name__ for layer in km.layers] == [
        type(layer).__name__ for layer in gm.layers
    ]


def _save(km, path):
    km.save(path)
    return path


def test_grunet_built_model_round_trips_through_keras_file(tmp_path):
    gm = gn.Sequential(
        [
            gn.layers.GRU(6, return_sequences=True, reset_after=False, input_shape=(None, F)),
            gn.layers.Bidirectional(gn.layers.LSTM(3)),
            gn.layers.Dense(2, activation="sigmoid"),
        ]
    )
    path = gk.save(gm, tmp_path / "m.keras")
    km = keras.saving.load_model(path)
    again = gn.load_model(path)
    for length in (1, T, 12):  # the time axis stays dynamic
        x = np.random.default_rng(length).normal(size=(3, length, F)).astype(np.float32)
        np.testing.assert_allclose(km.predict(x, verbose=0), gm.predict(x), atol=1e-5)
        np.testing.assert_array_equal(again.predict(x), gm.predict(x))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        gk.save(gm, path)
    gk.save(gm, path, overwrite=True)


def test_stateful_keras_layer_keeps_state_across_calls(tmp_path):
    km = keras.Sequential(
        [keras.Input(batch_shape=(2, None, F)), KL.GRU(4, stateful=True), KL.Dense(1)]
    )
    km.save(tmp_path / "s.keras")
    gm = gn.load_model(tmp_path / "s.keras")
    assert gm.layers[0].stateful
    x = np.random.default_rng(0).normal(size=(2, 8, F)).astype(np.float32)
    first, second = gm.predict(x[:, :5]), gm.predict(x[:, 5:])
    np.testing.assert_allclose(second, km.predict(x, verbose=0), atol=1e-5)
    gm.reset_states()
    np.testing.assert_array_equal(gm.predict(x[:, :5]), first)
    with pytest.raises(ModelFileError, match="batch_size"):
        gk.save(gm, tmp_path / "back.keras")
    gk.save(gm, tmp_path / "back.keras", batch_size=2)
    back = keras.saving.load_model(tmp_path / "back.keras")
    gm.reset_states()
    np.testing.assert_allclose(back.predict(x[:, :5], verbose=0), first, atol=1e-5)
    np.testing.assert_allclose(back.predict(x[:, 5:], verbose=0), second, atol=1e-5)


# -- bad files ---------------------------------------------------------------------------------


def _rewrite(src, dst, edit_config=None, drop=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == drop:
                continue
            if name == "config.json" and edit_config:
                config = json.loads(data)
                edit_config(config)
                data = json.dumps(config).encode()
            zout.writestr(name, data)
    return dst


@pytest.fixture
def good_file(tmp_path):
    return _save(_keras_model("gru_reset_after"), tmp_path / "good.keras")


def test_unsupported_layer_is_named(tmp_path):
    km = keras.Sequential([keras.Input((T, F)), KL.Conv1D(4, 2), KL.GRU(3), KL.Dense(1)])
    km.save(tmp_path / "conv.keras")
    with pytest.raises(ModelFileError, match="Conv1D"):
        gn.load_model(tmp_path / "conv.keras")


def test_functional_model_is_refused(tmp_path):
    inp = keras.Input((T, F))
    keras.Model(inp, KL.Dense(1)(KL.GRU(3)(inp))).save(tmp_path / "f.keras")
    with pytest.raises(ModelFileError, match="only Sequential"):
        gn.load_model(tmp_path / "f.keras")


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda c: c["config"]["layers"][2]["config"].update(activation="softmax"), "softmax"),
        (
            lambda c: c["config"]["layers"][1]["config"].update(kernel_regularizer="l2"),
            "kernel_regularizer",
        ),
        (lambda c: c["config"]["layers"][1]["config"].update(units=6), "do not match"),
    ],
    ids=["activation", "regularizer", "weight_shapes"],
)
def test_unsupported_options_and_mismatched_weights(good_file, tmp_path, edit, match):
    bad = _rewrite(good_file, tmp_path / "bad.keras", edit_config=edit)
    with pytest.raises(ModelFileError, match=match):
        gn.load_model(bad)


def test_truncated_non_zip_and_incomplete_files(good_file, tmp_path):
    data = good_file.read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.keras").write_text("not a zip file")
    _rewrite(good_file, tmp_path / "noweights.keras", drop="model.weights.h5")
    for name, match in [
        ("cut", "truncated or corrupt"),
        ("text", "truncated or corrupt"),
        ("noweights", "model.weights.h5"),
    ]:
        with pytest.raises(ModelFileError, match=match):
            gn.load_model(tmp_path / f"{name}.keras")


def test_masking_model_round_trips_with_padded_inputs(tmp_path):
    km = keras.Sequential(
        [
            keras.Input((T, F)),
            KL.Masking(0.0),
            KL.GRU(5, return_sequences=True),
            KL.Bidirectional(KL.GRU(3, reset_after=False)),
            KL.Dense(1),
        ]
    )
    rng = np.random.default_rng(4)
    km.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in km.get_weights()]
    )
    x = _x(batch=4, seed=5)
    x[0, 5:] = 0.0  # post-padding
    x[1, :2] = 0.0  # pre-padding
    x[2, 3] = 0.0  # a gap
    km.save(tmp_path / "k.keras")
    gm = gn.load_model(tmp_path / "k.keras")
    assert type(gm.layers[0]).__name__ == "Masking"
    np.testing.assert_allclose(gm.predict(x), km.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    gm.save(tmp_path / "g.keras")
    back = keras.saving.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), gm.predict(x), rtol=1e-5, atol=1e-5)
