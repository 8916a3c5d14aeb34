import numpy as np
import pytest

from grunet.forecast.baselines import (
    BASELINES,
    drift,
    ets,
    ets_form,
    get_baseline,
    naive,
    seasonal_naive,
)


def test_simple_baselines_follow_their_formulas():
    y = np.array([1.0, 2.0, 4.0, 3.0, 5.0])
    np.testing.assert_array_equal(naive(y, 3), [5.0, 5.0, 5.0])
    np.testing.assert_array_equal(seasonal_naive(y, 5, m=2), [3.0, 5.0, 3.0, 5.0, 3.0])
    np.testing.assert_allclose(drift(y, 2), [6.0, 7.0])  # slope (5 - 1) / 4
    np.testing.assert_array_equal(seasonal_naive(y, 2, m=12), [5.0, 5.0])  # shorter than a season


def test_ets_picks_a_sensible_form_and_tracks_a_seasonal_series():
    t = np.arange(72)
    growing = (100 + 2 * t) * (1 + 0.2 * np.sin(2 * np.pi * t / 12))
    assert ets_form(growing, 12) == {"trend": "add", "seasonal": "mul"}
    flat = 10 + np.sin(2 * np.pi * t / 12) + 0.01 * np.cos(t)
    assert ets_form(flat, 12)["seasonal"] == "add"
    assert ets_form(flat - 20, 12)["seasonal"] == "add"  # negative values: never multiplicative
    assert ets_form(flat[:20], 12)["seasonal"] is None  # under two seasons
    f = ets(growing[:-12], 12, 12)
    assert np.mean(np.abs(f - growing[-12:])) < np.mean(
        np.abs(seasonal_naive(growing[:-12], 12, 12) - growing[-12:])
    )


def test_registry():
    assert set(BASELINES) == {"naive", "seasonal_naive", "drift", "ets"}
    with pytest.raises(ValueError, match="Unknown baseline 'arima'"):
        get_baseline("arima")
