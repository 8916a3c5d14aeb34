"""Regularizers: layer.losses equal Keras 3's on the same weights; configs round-trip; the
penalty has gradients; reset_state()'s Keras 3 name and Bidirectional's new arguments."""

import numpy as np
import pytest
import torch

import grunet as gn
from grunet.layers import regularizers

keras = pytest.importorskip("keras")
T, F = 6, 3


def _total(losses):
    return float(
        sum(keras.ops.convert_to_numpy(v) if not torch.is_tensor(v) else v.item() for v in losses)
    )


REGS = {
    "names": {
        "kernel_regularizer": "l2",
        "recurrent_regularizer": "l1",
        "bias_regularizer": "l1l2",
    },
    "objects": {
        "kernel_regularizer": "keras:L1L2(0.01, 0.02)",
        "recurrent_regularizer": "keras:L2(0.3)",
        "bias_regularizer": "keras:L1(0.05)",
    },
}


def _resolve(value, lib):
    if isinstance(value, str) and value.startswith("keras:"):
        name, args = value[6:].split("(")
        nums = [float(a) for a in args.rstrip(")").split(",")]
        return getattr(lib.regularizers, name)(*nums)
    return value


@pytest.mark.parametrize("regs", REGS)
@pytest.mark.parametrize(
    ("cls", "extra"),
    [
        ("GRU", {}),
        ("GRU", {"reset_after": False}),
        ("LSTM", {}),
        ("SimpleRNN", {}),
    ],
)
def test_losses_equal_keras(regs, cls, extra):
    k_kw = {k: _resolve(v, keras) for k, v in REGS[regs].items()}
    g_kw = {k: _resolve(v, keras) for k, v in REGS[regs].items()}  # Keras objects are accepted
    k_layer = getattr(keras.layers, cls)(4, **k_kw, **extra)
    g_layer = getattr(gn.layers, cls)(4, input_shape=(T, F), **g_kw, **extra)
    x = np.random.default_rng(0).normal(size=(2, T, F)).astype(np.float32)
    k_layer(x)
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    g_layer.set_weights(weights)
    assert len(g_layer.losses) == 3
    np.testing.assert_allclose(_total(g_layer.losses), _total(k_layer.losses), rtol=1e-5)


def test_dense_and_bidirectional_losses_equal_keras():
    k = keras.Sequential(
        [
            keras.Input((T, F)),
            keras.layers.Bidirectional(keras.layers.GRU(3, kernel_regularizer="l2")),
            keras.layers.Dense(2, kernel_regularizer="l1", bias_regularizer="l2"),
        ]
    )
    g_layers = [
        gn.layers.Bidirectional(gn.layers.GRU(3, kernel_regularizer="l2"), input_shape=(T, F)),
        gn.layers.Dense(2, kernel_regularizer="l1", bias_regularizer="l2", input_shape=(6,)),
    ]
    rng = np.random.default_rng(2)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in k.get_weights()]
    k.set_weights(weights)
    g_layers[0].set_weights(weights[:6])
    g_layers[1].set_weights(weights[6:])
    got = [v for layer in g_layers for v in layer.losses]
    assert len(got) == 4  # forward and backward GRU kernels, Dense kernel and bias
    np.testing.assert_allclose(_total(got), _total(k.losses), rtol=1e-5)


def test_penalty_has_gradients_and_config_round_trips():
    layer = gn.layers.GRU(3, input_shape=(T, F), kernel_regularizer=regularizers.L2(0.5))
    (penalty,) = layer.losses
    penalty.backward()
    torch.testing.assert_close(layer.weight_ih.grad, 2 * 0.5 * layer.weight_ih.detach())
    config = layer.get_config()
    assert config["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.5}}
    again = gn.layers.GRU.from_config(config)
    assert (
        isinstance(again.kernel_regularizer, regularizers.L2) and again.kernel_regularizer.l2 == 0.5
    )
    assert "recurrent_regularizer" not in config


def test_keras_2_name_l1_l2():
    reg = regularizers.get("l1_l2")
    assert isinstance(reg, regularizers.L1L2) and (reg.l1, reg.l2) == (0.0, 0.0)


def test_unknown_regularizer_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown regularizer 'l3'.*l1_l2"):
        gn.layers.GRU(3, kernel_regularizer="l3")


def test_reset_state_is_keras_3s_name_and_reset_states_its_alias():
    layer = gn.layers.GRU(3, stateful=True, input_shape=(T, F))
    x = torch.randn(2, T, F)
    first = layer(x)
    assert not torch.equal(layer(x), first)  # the state was carried
    layer.reset_state()
    torch.testing.assert_close(layer(x), first)
    layer.reset_states()
    torch.testing.assert_close(layer(x), first)


def test_bidirectional_backward_layer_initial_state_and_merge_none_equal_keras():
    kw = dict(units=3, return_sequences=True, return_state=True)
    k_layer = keras.layers.Bidirectional(
        keras.layers.GRU(**kw),
        merge_mode=None,
        backward_layer=keras.layers.GRU(**kw, go_backwards=True, reset_after=True),
    )
    g_layer = gn.layers.Bidirectional(
        gn.layers.GRU(**kw),
        merge_mode=None,
        backward_layer=gn.layers.GRU(**kw, go_backwards=True),
    )
    x = np.random.default_rng(3).normal(size=(2, T, F)).astype(np.float32)
    states = [np.random.default_rng(4 + i).normal(size=(2, 3)).astype(np.float32) for i in range(2)]
    k_layer(x)
    g_layer.maybe_build((T, F))
    rng = np.random.default_rng(5)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    g_layer.set_weights(weights)
    want = k_layer(x, initial_state=states)
    got = g_layer(torch.from_numpy(x), initial_state=[torch.from_numpy(s) for s in states])
    assert len(got) == len(want) == 4  # y, y_reverse, forward state, backward state
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(
            a.detach().numpy(), keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-5
        )
    assert g_layer.get_config()["backward_layer"]["config"]["go_backwards"] is True
    with pytest.raises(ValueError, match="different go_backwards"):
        gn.layers.Bidirectional(gn.layers.GRU(3), backward_layer=gn.layers.GRU(3))
