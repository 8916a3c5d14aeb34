"""Property tests over the public surface: random shapes, lengths and bad values."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import grunet as gn
from grunet.errors import DataError

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(n=st.integers(2, 60), lookback=st.integers(1, 70), seed=st.integers(0, 2**16))
def test_lag_pairs_shapes_and_no_future_in_inputs(n, lookback, seed):
    series = np.random.default_rng(seed).normal(size=n)
    if n <= lookback:
        with pytest.raises(DataError, match="needs at least"):
            gn.data.lag_pairs(series, lookback)
        return
    x, y = gn.data.lag_pairs(series, lookback)
    assert x.shape == (n - lookback, lookback, 1) and y.shape == (n - lookback, 1)
    for i in range(0, len(x), max(1, len(x) // 5)):
        # every input value comes strictly before its target
        np.testing.assert_allclose(x[i, :, 0], series[i : i + lookback].astype(np.float32))
        assert y[i, 0] == np.float32(series[i + lookback])


@FAST
@given(
    values=arrays(
        np.float64,
        st.integers(1, 30),
        elements=st.floats(allow_nan=True, allow_infinity=True, width=64),
    )
)
def test_scale_either_inverts_or_says_why(values):
    try:
        s = gn.data.scale(values)
    except DataError as e:
        assert any(w in str(e) for w in ("NaN or infinite", "at least 2", "constant", "too large"))
        return
    assert np.isfinite(s.values).all() and np.isfinite(s.scale) and s.scale > 0
    with np.errstate(over="ignore", invalid="ignore"):
        back = s.inverse(s.values)
    if np.isfinite(back).all() and np.abs(values).max() < 1e150:
        np.testing.assert_allclose(back, values, rtol=1e-6, atol=1e-9 * np.abs(values).max())


@FAST
@given(
    batch=st.integers(1, 5),
    steps=st.integers(1, 7),
    features=st.integers(1, 4),
    units=st.integers(1, 9),
    cell=st.sampled_from(["GRU", "LSTM", "SimpleRNN"]),
    return_sequences=st.booleans(),
    reset_after=st.booleans(),
)
def test_layers_give_finite_outputs_of_the_promised_shape(
    batch, steps, features, units, cell, return_sequences, reset_after
):
    kw = {"reset_after": reset_after} if cell == "GRU" else {}
    layer = getattr(gn.layers, cell)(units, return_sequences=return_sequences, **kw)
    x = torch.randn(batch, steps, features)
    y = layer(x)
    expected = (batch, *layer.compute_output_shape((steps, features)))
    assert tuple(y.shape) == expected and torch.isfinite(y).all()


@FAST
@given(bad=st.sampled_from([np.nan, np.inf, -np.inf]), where=st.integers(0, 11))
def test_non_finite_training_data_is_refused(bad, where):
    model = gn.Sequential([gn.layers.GRU(2, input_shape=(3, 1)), gn.layers.Dense(1)])
    model.compile("mse", "adam")
    x = np.zeros((4, 3, 1))
    x.flat[where] = bad
    with pytest.raises(DataError, match="NaN or infinite"):
        model.fit(x, np.zeros((4, 1)), verbose=0)
    with pytest.raises(DataError, match="NaN or infinite"):
        model.predict(x)


def test_empty_input_is_refused():
    model = gn.Sequential([gn.layers.GRU(2, input_shape=(3, 1)), gn.layers.Dense(1)])
    with pytest.raises(DataError, match="empty"):
        model.predict(np.zeros((0, 3, 1)))


SEEDED_FIT = r"""
import sys, numpy as np, grunet as gn
gn.set_seed(7)
x = np.random.default_rng(0).normal(size=(30, 4, 2))
model = gn.Sequential([gn.layers.GRU(5, input_shape=(4, 2), dropout=0.1), gn.layers.Dense(1)])
model.compile("mse", "adam")
model.fit(x, x.sum(axis=(1, 2)), epochs=2, batch_size=4, validation_split=0.2, verbose=0)
np.savez(sys.argv[1], *model.get_weights())
"""


@pytest.mark.slow
def test_same_seed_gives_bit_identical_weights_across_processes(tmp_path):
    for name in ("a.npz", "b.npz"):
        proc = subprocess.run(
            [sys.executable, "-c", SEEDED_FIT, str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])


def test_set_seed_refuses_nonsense():
    with pytest.raises(ValueError, match="non-negative integer"):
        gn.set_seed(-1)
