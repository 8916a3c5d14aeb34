import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grunet.errors import DataError, ModelFileError
from grunet.forecast import Forecaster, load
from grunet.forecast.frame import Panel, Schema, Series, _infer_freq

TINY = {"units": 4, "seed": 0}


def _series(n, freq, start="2024-01-01"):
    return pd.DataFrame(
        {
            "date": pd.date_range(start, periods=n, freq=freq),
            "value": np.sin(np.arange(n) / 2.0) + 3.0,
        }
    )


@pytest.mark.parametrize(
    "freq, start, first, second",
    [
        ("MS", "2020-01-01", "2022-01-01", "2022-02-01"),  # 24 months -> January 2022
        ("ME", "2020-01-31", "2022-01-31", "2022-02-28"),
        ("D", "2024-02-01", "2024-02-25", "2024-02-26"),
        ("B", "2024-01-01", "2024-02-02", "2024-02-05"),  # Friday -> Monday
    ],
)
def test_forecast_dates_continue_the_series_frequency(freq, start, first, second):
    f = Forecaster(lookback=6, horizon=3, **TINY).fit(
        _series(24, freq, start), date="date", epochs=1
    )
    dates = f.predict()["date"]
    assert list(dates[:2]) == [pd.Timestamp(first), pd.Timestamp(second)]
    assert _infer_freq(pd.DatetimeIndex(dates)) == freq


def test_without_a_date_column_forecasts_continue_integer_steps():
    df = pd.DataFrame({"value": np.arange(30.0)})
    out = Forecaster(lookback=5, horizon=4, **TINY).fit(df, epochs=1).predict()
    assert list(out.columns) == ["date", "forecast"] and out["date"].tolist() == [30, 31, 32, 33]


def test_quantile_columns_are_present_and_ordered(monthly):
    f = Forecaster(lookback=12, horizon=6, quantiles=[0.9, 0.1, 0.5], **TINY)
    out = f.fit(monthly, date="date", epochs=3).predict()
    assert list(out.columns) == ["date", "forecast", "q0.1", "q0.5", "q0.9"]
    assert (out["q0.1"] <= out["q0.5"]).all() and (out["q0.5"] <= out["q0.9"]).all()


def test_many_series_get_an_id_column_and_their_own_dates(long_table):
    f = Forecaster(lookback=14, horizon=7, calendar=True, **TINY)
    out = f.fit(long_table, date="date", id="id", covariates=["temp"], epochs=2).predict()
    assert list(out.columns[:3]) == ["id", "date", "forecast"] and len(out) == 14
    assert out.groupby("id")["date"].min().tolist() == [pd.Timestamp("2021-04-30")] * 2
    assert f.feature_names == [
        "target",
        "temp",
        "dayofweek_sin",
        "dayofweek_cos",
        "dayofyear_sin",
        "dayofyear_cos",
    ]


def test_save_load_round_trip_gives_identical_forecasts(tmp_path, long_table):
    f = Forecaster(lookback=14, horizon=7, quantiles=[0.2, 0.8], relative=True, **TINY)
    f.fit(long_table, date="date", id="id", covariates=["temp"], epochs=2)
    f.save(tmp_path / "m")
    g = load(tmp_path / "m")
    pd.testing.assert_frame_equal(g.predict(), f.predict())
    pd.testing.assert_frame_equal(g.predict(data=long_table), f.predict(data=long_table))
    assert g.get_config() == f.get_config()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        f.save(tmp_path / "m")
    f.save(tmp_path / "m", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary folders left
    with pytest.raises(ModelFileError, match="no saved forecaster"):
        load(tmp_path / "nothing")


def test_recursive_strategy_forecasts_any_horizon(monthly):
    f = Forecaster(lookback=12, horizon=3, strategy="recursive", calendar=True, **TINY).fit(
        monthly, date="date", epochs=2
    )
    assert len(f.predict(horizon=20)) == 20
    direct = Forecaster(lookback=12, horizon=3, **TINY).fit(monthly, date="date", epochs=1)
    with pytest.raises(ValueError, match="at most 3 steps"):
        direct.predict(horizon=4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"cell": "transformer"}, "Unknown cell 'transformer'"),
        ({"strategy": "magic"}, "Unknown strategy"),
        ({"scaler": "zscore"}, "Unknown scaler"),
        ({"quantiles": [0.5, 1.2]}, "strictly between 0 and 1"),
        ({"quantiles": [0.1], "strategy": "recursive"}, "quantiles need strategy='direct'"),
        ({"lookback": 0}, "lookback must be a positive integer"),
    ],
)
def test_bad_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Forecaster(**kwargs)


def test_bad_fits_raise_clear_errors(monthly, long_table):
    with pytest.raises(
        DataError, match="too short: 96 training steps, but lookback 90 \\+ horizon 12"
    ):
        Forecaster(lookback=90, horizon=12, **TINY).fit(monthly, date="date", epochs=1)
    with pytest.raises(DataError, match="fewer than the horizon 12"):
        Forecaster(lookback=12, horizon=12, **TINY).fit(monthly, date="date", val_size=6, epochs=1)
    with pytest.raises(ValueError, match="covariates need strategy='direct'"):
        Forecaster(lookback=7, horizon=1, strategy="recursive", **TINY).fit(
            long_table, date="date", id="id", covariates=["temp"], epochs=1
        )
    with pytest.raises(ValueError, match="early_stopping needs validation"):
        Forecaster(lookback=12, horizon=3, **TINY).fit(
            monthly, date="date", early_stopping=2, epochs=1
        )
    with pytest.raises(RuntimeError, match="call fit"):
        Forecaster().predict()


def test_early_stopping_and_fitted_values(monthly):
    f = Forecaster(lookback=12, horizon=6, **TINY).fit(
        monthly, date="date", val_size=12, epochs=4, early_stopping=1
    )
    assert "val_loss" in f.history and 1 <= len(f.history["loss"]) <= 4
    fitted = f.fitted_values(monthly)
    assert len(fitted) == 96 - 12 and set(fitted["part"]) == {"train", "validation"}
    assert fitted.loc[fitted["part"] == "validation", "date"].min() == pd.Timestamp("2007-01-01")


@settings(max_examples=20, deadline=None)
@given(
    n_train=st.integers(20, 40),
    bump=st.floats(-1e3, 1e3),
    scaler=st.sampled_from(["standard", "minmax", "robust"]),
)
def test_the_future_never_reaches_training_or_scaling(n_train, bump, scaler):
    """Changing every value after the training cut changes neither the scalers nor any training window."""
    rng = np.random.default_rng(n_train)
    y = rng.normal(size=48)
    cov = rng.normal(size=(48, 1))
    later = y.copy()
    later[n_train:] += bump
    later_cov = cov.copy()
    later_cov[n_train:] *= -3
    f = Forecaster(lookback=6, horizon=3, scaler=scaler, calendar=True, relative=True)
    f.freq = "D"
    results = []
    for values, c in ((y, cov), (later, later_cov)):
        s = Series("s", values, c, pd.date_range("2020-01-01", periods=48, freq="D"))
        panel = Panel([s], "D", 1, Schema(covariates=["c"]))
        states, (X, Y), _ = f._windows(panel, val_size=48 - n_train)
        results.append(
            (states[0].target_scaler.get_config(), states[0].covariate_scaler.get_config(), X, Y)
        )
    (t1, c1, X1, Y1), (t2, c2, X2, Y2) = results
    assert t1 == t2 and c1 == c2
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(Y1, Y2)
    assert len(X1) == n_train - 6 - 3 + 1


def test_a_series_unseen_in_training_is_scaled_on_its_own_history(long_table):
    f = Forecaster(lookback=14, horizon=7, **TINY).fit(
        long_table[long_table["id"] == "a"], date="date", id="id", covariates=["temp"], epochs=1
    )
    out = f.predict(data=long_table)
    assert sorted(out["id"].unique()) == ["a", "b"]
    with pytest.raises(DataError, match="forecasting needs the last lookback=14"):
        f.predict(data=long_table.groupby("id").head(10))
