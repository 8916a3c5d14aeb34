"""The fused CPU training epoch computes what the generic torch loop computes."""

from unittest import mock

import numpy as np
import pytest
import torch

import grunet as gn
from grunet.models import fused


@pytest.fixture
def float64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def _fit(
    use_fused,
    *,
    reset_after=True,
    use_bias=True,
    batch_size=3,
    epochs=2,
    seed=0,
    optimizer="adam",
    model=None,
):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(23, 4, 2))
    y = np.stack([x.sum(axis=(1, 2)), x[:, -1, 0]], axis=1)
    if model is None:
        gn.set_seed(seed)
        model = gn.Sequential(
            [
                gn.layers.GRU(7, input_shape=(4, 2), reset_after=reset_after, use_bias=use_bias),
                gn.layers.Dense(2, use_bias=use_bias),
            ]
        )
        model.compile("mse", optimizer)
    with mock.patch.object(fused, "why_not", fused.why_not if use_fused else (lambda *a: "off")):
        h = model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_split=0.2, verbose=0)
    return model, h


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("batch_size", [1, 4, 7])
def test_fused_equals_generic(float64, reset_after, use_bias, batch_size):
    a, ha = _fit(True, reset_after=reset_after, use_bias=use_bias, batch_size=batch_size)
    b, hb = _fit(False, reset_after=reset_after, use_bias=use_bias, batch_size=batch_size)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=False):
        np.testing.assert_allclose(wa, wb, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-10)
    np.testing.assert_allclose(ha.history["val_loss"], hb.history["val_loss"], rtol=1e-10)
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    for k in sa:
        assert float(sa[k]["step"]) == float(sb[k]["step"])
        torch.testing.assert_close(sa[k]["exp_avg_sq"], sb[k]["exp_avg_sq"], rtol=1e-9, atol=1e-14)


def test_fused_in_float32_stays_within_rounding():
    a, _ = _fit(True)
    b, _ = _fit(False)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=False):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5)


def test_fused_then_generic_continues_the_same_optimizer(float64):
    a, _ = _fit(True, epochs=2)
    _fit(False, model=a, epochs=1)
    b, _ = _fit(False, epochs=3)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=False):
        np.testing.assert_allclose(wa, wb, rtol=1e-9, atol=1e-12)


def test_article_configuration_takes_the_fused_path():
    x, y = gn.data.lag_pairs(gn.data.scale(gn.data.load_article_sine()))
    model = gn.Sequential([gn.layers.GRU(50, input_shape=(1, 1)), gn.layers.Dense(1)])
    model.compile(loss="mean_squared_error", optimizer="adam")
    with mock.patch.object(fused, "train_epoch", wraps=fused.train_epoch) as spy:
        model.fit(x, y, epochs=2, batch_size=1, validation_split=0.2, verbose=0)
    assert spy.call_count == 2


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.compile("mse", "sgd"),
        lambda m: m.compile("mae", "adam"),
        lambda m: m.compile("mse", "adam", metrics=["mae"]),
        lambda m: setattr(m.layers[0], "dropout", 0.2),
        lambda m: setattr(m.layers[0], "backend", "reference"),
    ],
)
def test_other_settings_take_the_generic_path(change):
    model = gn.Sequential([gn.layers.GRU(5, input_shape=(1, 1)), gn.layers.Dense(1)])
    model.compile("mse", "adam")
    change(model)
    x = np.zeros((6, 1, 1))
    with mock.patch.object(fused, "train_epoch") as spy:
        model.fit(x, np.zeros((6, 1)), epochs=1, batch_size=1, verbose=0)
    spy.assert_not_called()


def _article_model():
    model = gn.Sequential([gn.layers.GRU(5, input_shape=(1, 1)), gn.layers.Dense(1)])
    model.compile("mse", "adam")
    return model


@pytest.mark.parametrize("value", ["0", "off"])
def test_environment_switch_turns_the_fused_path_off(value, monkeypatch):
    model = _article_model()
    monkeypatch.setenv("GRUNET_FUSED", value)
    assert "GRUNET_FUSED=0" in fused.why_not(model, torch.zeros(6, 1, 1), 1)
    with mock.patch.object(fused, "train_epoch") as spy:
        model.fit(np.zeros((6, 1, 1)), np.zeros((6, 1)), epochs=1, batch_size=1, verbose=0)
    spy.assert_not_called()
    monkeypatch.setenv("GRUNET_FUSED", "1")
    assert fused.why_not(model, torch.zeros(6, 1, 1), 1) is None


def test_fit_fused_false_and_true_are_honoured():
    model = _article_model()
    with mock.patch.object(fused, "train_epoch", wraps=fused.train_epoch) as spy:
        model.fit(
            np.zeros((6, 1, 1)), np.zeros((6, 1)), epochs=1, batch_size=1, verbose=0, fused=False
        )
        spy.assert_not_called()
        model.fit(
            np.zeros((6, 1, 1)), np.zeros((6, 1)), epochs=1, batch_size=1, verbose=0, fused=True
        )
        assert spy.call_count == 1


@pytest.mark.parametrize(
    ("layers", "match"),
    [
        (lambda: [gn.layers.GRU(5, return_sequences=True), gn.layers.Dense(1)], "return_sequences"),
        (lambda: [gn.layers.GRU(5, go_backwards=True), gn.layers.Dense(1)], "go_backwards"),
        (lambda: [gn.layers.GRU(5), gn.layers.Dense(1, activation="relu")], "activation"),
        (lambda: [gn.layers.LSTM(5), gn.layers.Dense(1)], "found LSTM"),
        (lambda: [gn.layers.GRU(5)], "1 layers"),
    ],
)
def test_why_not_names_the_setting_it_cannot_compute(layers, match):
    model = gn.Sequential(layers())
    model.build((None, 1, 1))
    model.compile("mse", "adam")
    assert match in fused.why_not(model, torch.zeros(6, 1, 1), 1)
