"""Keras-style callbacks."""

import csv

import numpy as np
import pytest
import torch

import grunet as gn


def _model():
    gn.set_seed(0)
    model = gn.Sequential([gn.layers.GRU(4, input_shape=(3, 1)), gn.layers.Dense(1)])
    model.compile("mse", "adam")
    return model


X = np.random.default_rng(0).normal(size=(20, 3, 1)).astype(np.float32)
Y = X.sum(axis=1)


def test_model_checkpoint_best_only(tmp_path):
    model = _model()
    cb = gn.models.ModelCheckpoint(tmp_path / "best.grunet", monitor="loss", save_best_only=True)
    h = model.fit(X, Y, epochs=3, batch_size=20, verbose=0, callbacks=[cb])
    assert np.argmin(h.history["loss"]) == 2  # loss falls every epoch here: last is best
    np.testing.assert_array_equal(
        gn.load_model(tmp_path / "best.grunet").predict(X), model.predict(X)
    )


def test_csv_logger_writes_every_epoch(tmp_path):
    path = tmp_path / "log.csv"
    _model().fit(
        X,
        Y,
        epochs=3,
        batch_size=10,
        validation_split=0.2,
        verbose=0,
        callbacks=[gn.models.CSVLogger(path)],
    )
    rows = list(csv.DictReader(open(path)))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"] and "val_loss" in rows[0]


def test_reduce_lr_on_plateau_halves():
    model = _model()
    model.compile("mse", torch.optim.SGD(model.parameters(), lr=1e-9))
    cb = gn.models.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1.0)
    h = model.fit(X, Y, epochs=3, batch_size=20, verbose=0, callbacks=[cb])
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(1e-9 * 0.25)
    assert h.history["lr"] == pytest.approx([1e-9, 5e-10, 2.5e-10])


def test_monitoring_an_unlogged_value_is_clear():
    with pytest.raises(ValueError, match="monitors 'val_loss', which fit did not log"):
        _model().fit(X, Y, epochs=2, verbose=0, callbacks=[gn.EarlyStopping()])


def test_custom_callback_hooks_run_in_order():
    seen = []

    class Spy(gn.Callback):
        def on_train_begin(self, logs=None):
            seen.append("begin")

        def on_epoch_end(self, epoch, logs=None):
            seen.append(epoch)

        def on_train_end(self, logs=None):
            seen.append("end")

    _model().fit(X, Y, epochs=2, verbose=0, callbacks=[Spy()])
    assert seen == ["begin", 0, 1, "end"]


def test_tensorboard_logs_every_epoch(tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard logging is an optional extra")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _model().fit(
        X,
        Y,
        epochs=3,
        batch_size=10,
        validation_split=0.2,
        verbose=0,
        callbacks=[gn.models.TensorBoard(tmp_path)],
    )
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [e.step for e in events.Scalars("loss")] == [0, 1, 2]
    assert len(events.Scalars("val_loss")) == 3
