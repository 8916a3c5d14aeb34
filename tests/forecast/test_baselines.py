import numpy as np
import pytest
import statsforecast.models as sf

from grunet.errors import DataError, OptionError
from grunet.forecast.baselines import (
    BASELINES,
    LABELS,
    MODELS,
    drift,
    forecast_baseline,
    get_baseline,
    naive,
    seasonal_naive,
)


def _series(n: int, m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 0.3 * t + 5 * np.sin(2 * np.pi * t / m) + rng.normal(0, 1, n)


@pytest.mark.parametrize("name", list(MODELS))
def test_each_baseline_equals_statsforecast_called_directly(name):
    m, horizon = 12, 7
    y = _series(61, m, seed=len(name))
    cls_name, seasonal = MODELS[name]
    model = getattr(sf, cls_name)(season_length=m) if seasonal else getattr(sf, cls_name)()
    want = model.forecast(y=y, h=horizon, level=[80])
    got = forecast_baseline(name, y, horizon, m, level=80)
    assert got.name == cls_name == LABELS[name]
    np.testing.assert_array_equal(got.mean, want["mean"])
    np.testing.assert_array_equal(got.lower, want["lo-80"])
    np.testing.assert_array_equal(got.upper, want["hi-80"])
    assert np.all(got.lower <= got.mean) and np.all(got.mean <= got.upper)
    np.testing.assert_array_equal(get_baseline(name)(y, horizon, m), want["mean"])


def test_simple_baselines_follow_their_formulas():
    y = np.array([1.0, 2.0, 4.0, 3.0, 5.0])
    np.testing.assert_allclose(naive(y, 3), [5.0, 5.0, 5.0])
    np.testing.assert_allclose(seasonal_naive(y, 5, m=2), [3.0, 5.0, 3.0, 5.0, 3.0])
    np.testing.assert_allclose(drift(y, 2), [6.0, 7.0])  # slope (5 - 1) / 4
    np.testing.assert_allclose(seasonal_naive(y, 2, m=12), [5.0, 5.0])  # shorter than a season


def test_ets_beats_seasonal_naive_on_a_trending_seasonal_series():
    t = np.arange(72)
    growing = (100 + 2 * t) * (1 + 0.2 * np.sin(2 * np.pi * t / 12))
    train, test = growing[:-12], growing[-12:]
    err_ets = np.mean(np.abs(get_baseline("ets")(train, 12, 12) - test))
    err_snaive = np.mean(np.abs(seasonal_naive(train, 12, 12) - test))
    assert err_ets < err_snaive


def test_registry_and_errors():
    assert set(BASELINES) == {"naive", "seasonal_naive", "drift", "ets", "arima", "theta"}
    assert get_baseline("AutoETS") is get_baseline("ets")  # statsforecast names work too
    with pytest.raises(OptionError, match="Unknown baseline 'prophet'"):
        get_baseline("prophet")
    with pytest.raises(DataError, match="AutoETS could not be fit to a series of 3 values"):
        forecast_baseline("ets", [1.0, 2.0, 3.0], 2)
    with pytest.raises(DataError, match="finite"):
        forecast_baseline("naive", [1.0, np.nan, 3.0], 2)


def test_a_baseline_past_its_time_limit_is_reported_as_timed_out(monkeypatch, endless_model):
    import grunet.forecast.baselines as baselines

    monkeypatch.setattr(baselines, "make_model", lambda name, m=1: endless_model)
    with pytest.raises(DataError, match=r"AutoARIMA timed out: no forecast within 0.2 s"):
        forecast_baseline("arima", _series(80, 12, seed=0), 6, 12, time_limit=0.2)


def test_time_budget_leaves_quick_code_alone():
    from grunet.forecast.baselines import time_budget

    with time_budget(30.0):
        got = forecast_baseline("naive", _series(40, 12, seed=1), 3)
    np.testing.assert_array_equal(got.mean, np.full(3, _series(40, 12, seed=1)[-1]))
    with time_budget(None):  # no budget at all
        assert forecast_baseline("drift", _series(40, 12, seed=1), 3).mean.shape == (3,)
