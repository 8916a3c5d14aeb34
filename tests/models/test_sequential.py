"""Sequential: Keras's fit semantics, evaluate/predict, save/load, and clear errors."""

import math

import numpy as np
import pytest
import torch

import grunet as gn
from grunet.errors import DataError, ModelFileError, NotCompiledError


def _model(units=8, reset_after=True, **compile_kw):
    model = gn.Sequential(
        [gn.layers.GRU(units, input_shape=(3, 1), reset_after=reset_after), gn.layers.Dense(1)]
    )
    model.compile(**{"loss": "mse", "optimizer": "adam", **compile_kw})
    return model


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3, 1)).astype(np.float32)
    return x, x.sum(axis=1) * 0.5


def test_validation_split_takes_the_last_fraction_before_shuffling():
    x, y = _data(41)
    split_at = math.floor(41 * 0.8)  # Keras: 32 training samples, the last 9 for validation
    gn.set_seed(5)
    a = _model()
    ha = a.fit(x, y, epochs=3, batch_size=4, validation_split=0.2, verbose=0)
    gn.set_seed(5)
    b = _model()
    hb = b.fit(
        x[:split_at],
        y[:split_at],
        epochs=3,
        batch_size=4,
        validation_data=(x[split_at:], y[split_at:]),
        verbose=0,
    )
    assert ha.history == hb.history
    assert ha.params["steps"] == 8


def test_history_and_metrics_and_evaluate():
    x, y = _data()
    gn.set_seed(0)
    model = _model(metrics=["mae"])
    h = model.fit(x, y, epochs=4, batch_size=8, validation_split=0.25, verbose=0)
    assert set(h.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert h.epoch == [0, 1, 2, 3] and len(h.history["loss"]) == 4
    assert h.history["loss"][-1] < h.history["loss"][0]
    loss, mae = model.evaluate(x[30:], y[30:])
    assert loss == pytest.approx(h.history["val_loss"][-1], rel=1e-5)
    pred = model.predict(x[30:], batch_size=3)
    assert pred.shape == (10, 1)
    assert float(np.mean((pred - y[30:]) ** 2)) == pytest.approx(loss, rel=1e-5)
    assert mae == pytest.approx(float(np.mean(np.abs(pred - y[30:]))), rel=1e-5)


def test_training_loss_is_the_batch_weighted_mean_of_step_losses():
    x, y = _data(10)
    gn.set_seed(1)
    model = _model(optimizer="sgd")
    model.compile(loss="mse", optimizer=torch.optim.SGD(model.parameters(), lr=0.0))
    h = model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)  # lr 0: weights fixed
    assert h.history["loss"][0] == pytest.approx(model.evaluate(x, y), rel=1e-5)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "adamw", torch.optim.Adagrad])
@pytest.mark.parametrize("loss", ["mean_squared_error", "mae", "huber"])
def test_keras_names_train(optimizer, loss):
    x, y = _data()
    gn.set_seed(0)
    model = _model(loss=loss, optimizer=optimizer)
    h = model.fit(x, y, epochs=2, batch_size=10, verbose=0)
    assert all(np.isfinite(h.history["loss"]))


def test_torch_tensors_are_accepted():
    x, y = _data()
    model = _model()
    model.fit(torch.from_numpy(x), torch.from_numpy(y), epochs=1, verbose=0)
    assert model.predict(torch.from_numpy(x)).shape == (40, 1)


def test_save_load_round_trip_identical_predictions(tmp_path):
    x, y = _data()
    gn.set_seed(0)
    model = gn.Sequential(
        [
            gn.layers.Bidirectional(gn.layers.GRU(4, return_sequences=True), input_shape=(3, 1)),
            gn.layers.LSTM(3),
            gn.layers.Dropout(0.1),
            gn.layers.Dense(1),
        ]
    )
    model.compile("mae", "rmsprop")
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "m.grunet"
    model.save(path)
    same = gn.load_model(path)
    np.testing.assert_array_equal(same.predict(x), model.predict(x))
    assert same.compile_config == model.compile_config
    assert same.get_config() == model.get_config()
    same.fit(x, y, epochs=1, verbose=0)  # loaded compiled: trains on


def test_save_never_overwrites_without_asking(tmp_path):
    path = tmp_path / "m.grunet"
    path.write_text("precious")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        _model().save(path)
    assert path.read_text() == "precious"
    _model().save(path, overwrite=True)
    assert gn.load_model(path).count_params() == _model().count_params()


def test_model_file_is_not_pickle(tmp_path):
    path = tmp_path / "m.grunet"
    _model().save(path)
    header_len = int.from_bytes(path.read_bytes()[:8], "little")  # safetensors: JSON header
    assert path.read_bytes()[8:9] == b"{" and header_len < path.stat().st_size


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "no model file"),
        (b"", "not a readable grunet model file"),
        (b"\x80\x04garbage-pickle-bytes", "not a readable grunet model file"),
    ],
)
def test_missing_or_corrupt_model_files(tmp_path, content, match):
    path = tmp_path / "m.grunet"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=match):
        gn.load_model(path)


def test_truncated_model_file(tmp_path):
    path = tmp_path / "m.grunet"
    _model().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        gn.load_model(path)


def test_plain_safetensors_file_is_not_a_model(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(2)}, str(path))
    with pytest.raises(ModelFileError, match="not a grunet model"):
        gn.load_model(path)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"x": np.zeros((5, 3))}, DataError, "must be 3-D"),
        ({"y": np.zeros((4, 1))}, DataError, "different numbers of samples: 5 and 4"),
        ({"x": np.full((5, 3, 1), np.nan)}, DataError, "NaN or infinite"),
        ({"y": np.array([[1.0], [np.inf], [0], [0], [0]])}, DataError, "NaN or infinite"),
        ({"validation_split": 1.2}, ValueError, "between 0 and 1"),
        ({"validation_split": 0.85}, DataError, "leaves no training samples"),
        ({"epochs": 0}, ValueError, "epochs must be a positive integer"),
        ({"x": [["a"]] * 5}, DataError, "must be numeric"),
        ({"y": np.zeros((5, 2))}, DataError, r"model outputs \(samples, 1\)"),
    ],
)
def test_fit_bad_input_is_clear(kwargs, exc, match):
    args = {"x": np.zeros((5, 3, 1)), "y": np.zeros((5, 1)), "verbose": 0, **kwargs}
    with pytest.raises(exc, match=match):
        _model().fit(**args)


def test_fit_before_compile():
    model = gn.Sequential([gn.layers.GRU(2, input_shape=(3, 1)), gn.layers.Dense(1)])
    with pytest.raises(NotCompiledError, match="call model.compile"):
        model.fit(np.zeros((4, 3, 1)), np.zeros((4, 1)))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"loss": "msee"}, "Unknown loss 'msee'"),
        ({"optimizer": "adamx"}, "Unknown optimizer 'adamx'"),
    ],
)
def test_unknown_compile_names(kw, match):
    with pytest.raises(ValueError, match=match):
        _model(**kw)


def test_summary_prints_keras_table():
    lines = []
    gn.Sequential(
        [gn.layers.GRU(50, input_shape=(1, 1), name="gru"), gn.layers.Dense(1, name="dense")]
    ).summary(print_fn=lines.append)
    text = lines[0]
    for expected in (
        "Layer (type)",
        "Output Shape",
        "Param #",
        "gru (GRU)",
        "(None, 50)",
        "7,950",
        "dense (Dense)",
        "(None, 1)",
        "Total params: 8,001 (31.25 KB)",
        "Trainable params: 8,001 (31.25 KB)",
        "Non-trainable params: 0 (0.00 B)",
    ):
        assert expected in text, expected


def test_unbuilt_model_builds_on_fit_and_summary_explains_otherwise():
    model = gn.Sequential([gn.layers.GRU(3), gn.layers.Dense(1)])
    with pytest.raises(RuntimeError, match="not built yet"):
        model.summary()
    model.compile("mse", "adam")
    model.fit(np.zeros((4, 2, 5)), np.zeros((4, 1)), verbose=0)
    assert model.build_input_shape == (2, 5)


def test_verbose_output_is_keras_like():
    lines = []
    x, y = _data(10)
    _model().fit(
        x, y, epochs=2, batch_size=5, validation_split=0.2, verbose=2, print_fn=lines.append
    )
    assert lines[0] == "Epoch 1/2"
    assert lines[1].startswith("2/2 - ") and " - loss: " in lines[1] and " - val_loss: " in lines[1]


def test_early_stopping_restores_best_weights():
    x, y = _data()
    gn.set_seed(0)
    model = _model()
    model.compile("mse", torch.optim.SGD(model.parameters(), lr=5.0))  # diverges: stops early
    stopper = gn.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    h = model.fit(x, y, epochs=30, batch_size=40, callbacks=[stopper], verbose=0)
    assert len(h.epoch) < 30
    best = int(np.argmin(h.history["loss"]))
    assert stopper.stopped_epoch is not None and best < len(h.epoch) - 1
