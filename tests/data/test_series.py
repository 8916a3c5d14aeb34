"""The article's data: R's series, R's scale(), the lagged pairs."""

import numpy as np
import pytest

import grunet as gn
from grunet.errors import DataError

# From R 4.2.2: attributes of scale(set.seed(42); sin(seq(0,10,length.out=100)) + rnorm(100, sd=.1)).
R_CENTER, R_SCALE = 0.18244462705373765, 0.68250787036300486


def test_article_series_is_rs_and_scale_matches_r():
    series = gn.data.load_article_sine()
    assert series.shape == (100,)
    assert series[0] == pytest.approx(0.13709584471466685, abs=1e-15)
    s = gn.data.scale(series)
    assert s.center == pytest.approx(R_CENTER, rel=1e-14)
    assert s.scale == pytest.approx(R_SCALE, rel=1e-14)
    assert s.values[0] == pytest.approx(-0.066444336114323765, rel=1e-12)
    np.testing.assert_allclose(s.inverse(s.values), series, rtol=1e-14)


def test_lag_pairs_are_the_articles_x_and_y():
    s = np.arange(10.0)
    x, y = gn.data.lag_pairs(s)
    assert x.shape == (9, 1, 1) and y.shape == (9, 1)
    np.testing.assert_array_equal(x[:, 0, 0], s[:-1])
    np.testing.assert_array_equal(y[:, 0], s[1:])
    x3, y3 = gn.data.lag_pairs(s, lookback=3)
    np.testing.assert_array_equal(x3[2, :, 0], [2, 3, 4])
    assert y3[2, 0] == 5 and len(x3) == 7


@pytest.mark.parametrize(
    ("series", "lookback", "match"),
    [
        ([1.0, np.nan, 2.0], 1, "NaN or infinite"),
        ([], 1, "empty"),
        (["a", "b"], 1, "must be numeric"),
        ([1.0, 2.0, 3.0], 3, "needs at least 4 values"),
        (np.zeros((4, 2)), 1, r"one series \(N,\) or \(N, 1\)"),
        ([1.0, 2.0], 0, "positive integer"),
    ],
)
def test_bad_series_say_what_is_wrong(series, lookback, match):
    with pytest.raises(DataError, match=match):
        gn.data.lag_pairs(series, lookback)


def test_constant_series_cannot_be_scaled():
    with pytest.raises(DataError, match="constant"):
        gn.data.scale([2.0, 2.0, 2.0])


def test_synthetic_sine_is_seeded():
    np.testing.assert_array_equal(gn.data.sine_wave(seed=3), gn.data.sine_wave(seed=3))
    assert not np.array_equal(gn.data.sine_wave(seed=3), gn.data.sine_wave(seed=4))
