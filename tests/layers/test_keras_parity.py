"""Keras-style layers equal Keras 3 itself, given the same weights through set_weights."""

import numpy as np
import pytest

import grunet as gn

keras = pytest.importorskip("keras")
T, F = 9, 3


def _pair(spec):
    """Build the same model in Keras and in grunet from a list of (kind, kwargs)."""
    k_layers, g_layers = [keras.Input((T, F))], []
    for kind, kw in spec:
        if kind == "Bidirectional":
            inner_kind, inner_kw = kw["layer"]
            k_layers.append(
                keras.layers.Bidirectional(
                    getattr(keras.layers, inner_kind)(**inner_kw),
                    merge_mode=kw.get("merge_mode", "concat"),
                )
            )
            g_layers.append(
                gn.layers.Bidirectional(
                    getattr(gn.layers, inner_kind)(**inner_kw),
                    merge_mode=kw.get("merge_mode", "concat"),
                )
            )
        else:
            k_layers.append(getattr(keras.layers, kind)(**kw))
            g_layers.append(getattr(gn.layers, kind)(**kw))
    km = keras.Sequential(k_layers)
    gm = gn.Sequential(g_layers)
    gm.build((T, F))
    return km, gm


CASES = {
    "gru_reset_after": [("GRU", {"units": 50}), ("Dense", {"units": 1})],
    "gru_article_variant": [("GRU", {"units": 50, "reset_after": False}), ("Dense", {"units": 1})],
    "lstm": [("LSTM", {"units": 16}), ("Dense", {"units": 2})],
    "simple_rnn": [("SimpleRNN", {"units": 16}), ("Dense", {"units": 1})],
    "stacked": [
        ("GRU", {"units": 8, "return_sequences": True}),
        ("GRU", {"units": 6, "reset_after": False}),
        ("Dense", {"units": 1}),
    ],
    "bidirectional": [
        ("Bidirectional", {"layer": ("GRU", {"units": 7, "return_sequences": True})}),
        ("LSTM", {"units": 5}),
        ("Dense", {"units": 1, "activation": "tanh"}),
    ],
    "bidirectional_sum": [
        ("Bidirectional", {"layer": ("SimpleRNN", {"units": 4}), "merge_mode": "sum"}),
        ("Dense", {"units": 1}),
    ],
    "go_backwards_sequences": [
        ("GRU", {"units": 5, "go_backwards": True, "return_sequences": True})
    ],
    "no_bias_relu": [
        ("GRU", {"units": 5, "use_bias": False, "activation": "relu"}),
        ("Dense", {"units": 3, "use_bias": False}),
    ],
}


@pytest.mark.parametrize("case", CASES)
def test_keras_weights_into_grunet_give_keras_predictions(case):
    km, gm = _pair(CASES[case])
    k_weights = km.get_weights()
    assert [w.shape for w in gm.get_weights()] == [w.shape for w in k_weights]
    assert gm.count_params() == km.count_params()
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    k_weights = [rng.normal(scale=0.4, size=w.shape).astype(np.float32) for w in k_weights]
    km.set_weights(k_weights)
    gm.set_weights(k_weights)
    x = rng.normal(size=(6, T, F)).astype(np.float32)
    np.testing.assert_allclose(gm.predict(x), km.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ["gru_reset_after", "gru_article_variant", "bidirectional"])
def test_grunet_weights_into_keras_give_grunet_predictions(case):
    km, gm = _pair(CASES[case])
    km.set_weights(gm.get_weights())  # grunet's own Keras-style initialisation
    x = np.random.default_rng(1).normal(size=(4, T, F)).astype(np.float32)
    np.testing.assert_allclose(km.predict(x, verbose=0), gm.predict(x), rtol=1e-5, atol=1e-5)


def test_article_model_parameter_counts_match_keras():
    for reset_after, total in ((True, 8001), (False, 7851)):
        km = keras.Sequential(
            [
                keras.Input((1, 1)),
                keras.layers.GRU(50, reset_after=reset_after),
                keras.layers.Dense(1),
            ]
        )
        gm = gn.Sequential(
            [gn.layers.GRU(50, input_shape=(1, 1), reset_after=reset_after), gn.layers.Dense(1)]
        )
        assert gm.count_params() == km.count_params() == total
        lines = []
        gm.summary(print_fn=lines.append)
        assert f"Total params: {total:,}" in lines[0]


def test_initialisation_statistics_look_like_keras():
    layer = gn.layers.GRU(64, input_shape=(5, 8))
    kernel, recurrent, bias = layer.get_weights()
    limit = np.sqrt(6 / (8 + 3 * 64))  # glorot_uniform on (8, 192)
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(64), atol=1e-5)  # orthogonal rows
    assert not bias.any()
    lstm_bias = gn.layers.LSTM(4, input_shape=(2, 3)).get_weights()[2]
    np.testing.assert_array_equal(lstm_bias, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
