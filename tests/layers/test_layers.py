"""Keras-style layers: config round-trips, weight checks, states, dropout."""

import numpy as np
import pytest
import torch

import grunet as gn
from grunet.errors import DataError


@pytest.mark.parametrize(
    "layer",
    [
        gn.layers.GRU(5, reset_after=False, return_sequences=True, dropout=0.1, input_shape=(4, 2)),
        gn.layers.LSTM(3, unit_forget_bias=False, go_backwards=True),
        gn.layers.SimpleRNN(3, activation="relu", return_state=True),
        gn.layers.Dense(4, activation="sigmoid", use_bias=False),
        gn.layers.Dropout(0.3),
        gn.layers.Bidirectional(gn.layers.GRU(3, return_sequences=True), merge_mode="ave"),
    ],
)
def test_config_round_trips(layer):
    clone = gn.layers.deserialize(gn.layers.serialize(layer))
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()


def test_set_weights_checks_count_and_shapes():
    layer = gn.layers.GRU(4, input_shape=(3, 2))
    with pytest.raises(DataError, match="expects 3 weight arrays, got 2"):
        layer.set_weights(layer.get_weights()[:2])
    bad = layer.get_weights()
    bad[1] = np.zeros((4, 4))
    with pytest.raises(DataError, match=r"weight 1 should have shape \(4, 12\)"):
        layer.set_weights(bad)


@pytest.mark.parametrize(
    "layer, bias",
    [
        (gn.layers.GRU(4, input_shape=(3, 2)), "bias_ih"),
        (gn.layers.GRU(4, input_shape=(3, 2)), "bias_hh"),  # reset_after: a recurrent bias
        (gn.layers.Dense(2, input_shape=(3,)), "bias"),
    ],
)
def test_missing_bias_the_settings_need_is_named(layer, bias):
    setattr(layer, bias, None)
    with pytest.raises(RuntimeError, match=f"has no {bias} although"):
        layer.get_weights()


def test_unknown_activation_and_bad_units():
    with pytest.raises(ValueError, match="Unknown activation 'relux'"):
        gn.layers.GRU(4, activation="relux")
    with pytest.raises(ValueError, match="units must be a positive integer"):
        gn.layers.Dense(0)


def test_return_state_and_initial_state():
    torch.manual_seed(0)
    layer = gn.layers.LSTM(4, return_sequences=True, return_state=True)
    x = torch.randn(2, 5, 3)
    y, h, c = layer(x)
    torch.testing.assert_close(y[:, -1], h)
    y2, _, _ = layer(x[:, 2:], initial_state=[layer(x[:, :2])[1], layer(x[:, :2])[2]])
    torch.testing.assert_close(y2, y[:, 2:])


def test_stateful_carries_state_until_reset():
    torch.manual_seed(0)
    layer = gn.layers.GRU(4, stateful=True, return_sequences=True)
    x = torch.randn(2, 6, 3)
    whole = gn.layers.GRU.from_config({**layer.get_config(), "stateful": False, "name": "w"})
    with torch.no_grad():
        first, second = layer(x[:, :3]), layer(x[:, 3:])
        whole.maybe_build((6, 3))
        whole.load_state_dict(layer.state_dict())
        torch.testing.assert_close(torch.cat([first, second], 1), whole(x))
        layer.reset_states()
        torch.testing.assert_close(layer(x[:, :3]), first)


def test_dropout_masks_only_in_training():
    torch.manual_seed(0)
    layer = gn.layers.GRU(6, dropout=0.5, recurrent_dropout=0.5, input_shape=(5, 3))
    x = torch.randn(4, 5, 3)
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x))
    layer.train()
    assert not torch.equal(layer(x), layer(x))


def test_wrong_input_rank_names_the_layer():
    with pytest.raises(DataError, match="expects input of shape \\(batch, timesteps, features\\)"):
        gn.layers.GRU(3)(torch.randn(4, 3))
