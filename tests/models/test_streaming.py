"""Stepper: one observation at a time equals the full-sequence model; stateful layers carry state."""

import numpy as np
import pytest
import torch

import grunet as gn
from grunet.errors import DataError
from grunet.streaming import Stepper

L = gn.layers
F = 3

LAST_STATE = {
    "gru_reset_after": lambda: [L.GRU(6), L.Dense(2)],
    "gru_article_variant": lambda: [L.GRU(6, reset_after=False, activation="relu"), L.Dense(1)],
    "lstm": lambda: [L.LSTM(5, use_bias=False), L.Dense(1, activation="tanh")],
    "simple_rnn": lambda: [L.SimpleRNN(4), L.Dense(1)],
    "stacked": lambda: [
        L.GRU(6, return_sequences=True),
        L.LSTM(5, return_sequences=True),
        L.SimpleRNN(4, return_sequences=True),
        L.GRU(3, reset_after=False),
        L.Dropout(0.5),
        L.Dense(2),
    ],
}
SEQUENCES = {
    "gru_both_variants": lambda: [
        L.GRU(5, return_sequences=True),
        L.GRU(4, reset_after=False, return_sequences=True),
        L.Dense(2),
    ],
    "lstm_rnn": lambda: [L.LSTM(5, return_sequences=True), L.SimpleRNN(3, return_sequences=True)],
}


def _model(layers, seed=0):
    model = gn.Sequential(layers)
    model.build((None, F))
    rng = np.random.default_rng(seed)
    model.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in model.get_weights()]
    )
    return model


def _x(batch=4, length=10, seed=1):
    return np.random.default_rng(seed).normal(size=(batch, length, F)).astype(np.float32)


@pytest.mark.parametrize("case", LAST_STATE)
def test_step_t_equals_predict_on_the_prefix(case):
    model, x = _model(LAST_STATE[case]()), _x()
    stepper = Stepper(model)
    for t in range(x.shape[1]):
        np.testing.assert_allclose(
            stepper.step(x[:, t]), model.predict(x[:, : t + 1]), atol=1e-5, rtol=0
        )


@pytest.mark.parametrize("case", SEQUENCES)
def test_steps_equal_the_full_sequence_output(case):
    model, x = _model(SEQUENCES[case]()), _x(length=12)
    stepper = Stepper(model)
    steps = np.stack([stepper.step(x[:, t]) for t in range(x.shape[1])], axis=1)
    np.testing.assert_allclose(steps, model.predict(x), atol=1e-5, rtol=0)


def test_single_sequence_reset_and_tensor_input():
    model, x = _model(LAST_STATE["stacked"]()), _x(batch=1)
    stepper = Stepper(model)
    first = [stepper.step(x[0, t]) for t in range(4)]
    assert first[-1].shape == (2,)
    stepper.reset()
    again = [stepper.step(torch.from_numpy(x[0, t])) for t in range(4)]
    assert torch.is_tensor(again[-1])
    np.testing.assert_array_equal(again[-1].numpy(), first[-1])
    with pytest.raises(DataError, match="reset"):
        stepper.step(x[:, 0].repeat(2, axis=0))  # another batch size without reset()
    with pytest.raises(DataError, match=r"\(3,\)"):
        stepper.step(np.zeros(5, np.float32))


@pytest.mark.parametrize(
    "layer",
    [lambda: L.Bidirectional(L.GRU(3)), lambda: L.GRU(3, go_backwards=True)],
    ids=["bidirectional", "go_backwards"],
)
def test_layers_that_read_the_future_cannot_stream(layer):
    with pytest.raises(DataError, match="cannot run one step at a time"):
        Stepper(_model([layer(), L.Dense(1)]))


@pytest.mark.parametrize("return_sequences", [False, True])
def test_stateful_layers_chunks_equal_one_call(return_sequences):
    layers = [
        L.GRU(5, stateful=True, return_sequences=True, reset_after=False),
        L.LSTM(4, stateful=True, return_sequences=return_sequences),
        L.Dense(1),
    ]
    stateful = _model(layers)
    plain = gn.Sequential.from_config(stateful.get_config())
    for layer in plain.layers:
        layer.stateful = False
    plain.set_weights(stateful.get_weights())
    x = _x(length=11)
    chunks = [stateful.predict(x[:, a:b]) for a, b in [(0, 4), (4, 5), (5, 11)]]
    full = plain.predict(x)
    if return_sequences:
        np.testing.assert_allclose(np.concatenate(chunks, axis=1), full, atol=1e-5, rtol=0)
    else:
        np.testing.assert_allclose(chunks[-1], full, atol=1e-5, rtol=0)
    stateful.reset_states()
    np.testing.assert_allclose(stateful.predict(x[:, :4]), chunks[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_cpu_program_path_fires_and_equals_predict(reset_after, dtype):
    from unittest import mock

    from grunet.ops.cpu import stream_kernels

    layers = [
        L.GRU(50, return_sequences=True, reset_after=reset_after),
        L.Dropout(0.2),
        L.GRU(7, reset_after=not reset_after, use_bias=False),
        L.Dense(3),
    ]
    model = _model(layers)
    if dtype == "float64":
        model = model.double()
    x = _x(batch=3, length=9).astype(np.float64 if dtype == "float64" else np.float32)
    stepper = Stepper(model)
    step = stream_kernels.model_step
    with mock.patch.object(stream_kernels, "model_step", side_effect=step) as spy:
        for t in range(x.shape[1]):
            np.testing.assert_allclose(
                stepper.step(x[:, t]), model.predict(x[:, : t + 1]), atol=1e-5, rtol=0
            )
    assert spy.call_count == x.shape[1]
    assert [s[0].shape for s in stepper.states if s] == [(3, 50), (3, 7)]


def test_cpu_program_sees_new_weights():
    model, x = _model([L.GRU(6), L.Dense(1)]), _x(batch=2, length=3)
    stepper = Stepper(model)
    stepper.step(x[:, 0])
    model.set_weights(_model([L.GRU(6), L.Dense(1)], seed=5).get_weights())  # in place
    model.layers[1].bias.data = torch.full((1,), 0.25)  # new storage: the program rebinds
    stepper.reset()
    for t in range(3):
        y = stepper.step(x[:, t])
    np.testing.assert_allclose(y, model.predict(x), atol=1e-5, rtol=0)
