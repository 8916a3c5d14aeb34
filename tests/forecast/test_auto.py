"""The automatic pipeline (``Forecaster(horizon=H)``): season lengths, choices from the training
part only, short series, describe(), save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grunet.errors import DataError
from grunet.forecast import Forecaster, load
from grunet.forecast.auto import AutoOptions, choose_lookback, fit_series, min_length
from grunet.forecast.ensemble import normalised_windows
from grunet.forecast.seasonality import (
    is_seasonal,
    season_length_for,
    seasonal_indices,
    wants_log,
)
from grunet.forecast.statistical import combination_weights

FAST = {"train_steps": 3, "n_models": 2, "units": 4, "seed": 0}


def monthly(n: int, seed: int = 0, growth: float = 0.01) -> pd.DataFrame:
    """A positive monthly series with a multiplicative season and a trend."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 100 * np.exp(growth * t) * (1 + 0.2 * np.sin(2 * np.pi * t / 12)) + rng.normal(0, 1, n)
    return pd.DataFrame({"date": pd.date_range("2000-01-01", periods=n, freq="MS"), "value": y})


@pytest.mark.parametrize(
    "freq, m",
    [
        ("MS", 12),
        ("ME", 12),
        ("QS-OCT", 4),
        ("QE-DEC", 4),
        ("W-SUN", 52),
        ("D", 7),
        ("B", 5),
        ("h", 24),
        ("30min", 48),
        ("15min", 96),
        ("YS-JAN", 1),
        ("YE-DEC", 1),
        ("2MS", 1),
        (None, 1),
    ],
)
def test_season_length_table(freq, m):
    assert season_length_for(freq) == m


def test_season_length_from_the_data_and_override():
    df = monthly(60)
    f = Forecaster(horizon=6, **FAST).fit(df)
    assert f.season_length == 12 and f.auto_states[0].season_length == 12
    g = Forecaster(horizon=6, season_length=4, **FAST).fit(df)
    assert g.auto_states[0].season_length == 4


def test_choice_helpers_detect_what_they_should():
    t = np.arange(144)
    season = np.sin(2 * np.pi * t / 12)
    mult = 100 * np.exp(0.01 * t) * (1 + 0.3 * season)
    assert wants_log(mult, 12)[0] and is_seasonal(np.log(mult), 12)
    assert not wants_log(100 + 10 * season, 12)[0]  # constant swing
    assert not wants_log(season - 5, 12)[0]  # not positive
    rng = np.random.default_rng(1)
    assert not is_seasonal(np.cumsum(rng.normal(size=144)), 12)  # a random walk has no season
    idx = seasonal_indices(10 + 0.1 * t + season, 12)
    np.testing.assert_allclose(idx, season[:12] - season[:12].mean(), atol=0.02)


def test_windows_are_normalised_by_their_last_input():
    z = np.array([1.0, 2.0, 4.0, 7.0, 11.0, 16.0])
    X, Y = normalised_windows(z, 2, 2, scale=2.0)
    assert X.shape == (3, 2, 1) and Y.shape == (3, 2)
    np.testing.assert_allclose(X[0, :, 0], [-0.5, 0.0])
    np.testing.assert_allclose(Y[0], [1.0, 2.5])


def test_choices_use_only_the_training_part():
    """Two series equal up to the cut and wildly different after it: fit on each one's training
    part, every choice (and the forecast) is the same."""
    df = monthly(96)
    other = df.copy()
    other.loc[80:, "value"] = other["value"][80:] * 5 + 1000
    a = Forecaster(horizon=8, **FAST).fit(df.iloc[:80])
    b = Forecaster(horizon=8, **FAST).fit(other.iloc[:80])
    sa, sb = a.auto_states[0].to_dict(), b.auto_states[0].to_dict()
    assert sa == sb
    pd.testing.assert_frame_equal(a.predict(), b.predict())
    # and the validation inside the training part does read its last H steps
    late = df.iloc[:80].copy()
    late.loc[72:, "value"] = late["value"][72:] * 3
    c = Forecaster(horizon=8, **FAST).fit(late)
    assert c.auto_states[0].val_errors != a.auto_states[0].val_errors


def test_short_series_get_a_forecast():
    # three years of monthly data, horizon 18 (no room for validation)
    f = Forecaster(horizon=18, **FAST).fit(monthly(36))
    fc = f.predict()
    assert len(fc) == 18 and np.all(np.isfinite(fc["forecast"]))
    # two decades of annual data, horizon 6
    years = pd.DataFrame(
        {"date": pd.date_range("1990", periods=20, freq="YS"), "value": np.arange(20.0) ** 1.2}
    )
    g = Forecaster(horizon=6, **FAST).fit(years)
    assert g.season_length == 1 and len(g.predict()) == 6
    assert "validation: 1 rolling-origin fold(s)" in g.describe()  # origin 14: one fold of 6


def test_too_short_series_says_how_many_points_are_needed():
    n = min_length(18) - 1
    with pytest.raises(DataError, match=f"has {n} training steps.*at least {n + 1}"):
        Forecaster(horizon=18, **FAST).fit(monthly(n))


def test_lookback_fits_the_data_and_can_be_fixed():
    assert choose_lookback(500, 18, 12, None) == 24
    assert choose_lookback(40, 18, 12, None) == 40 - 18 - 3
    assert choose_lookback(500, 18, 12, 36) == 36
    with pytest.raises(DataError, match="lookback=30"):
        choose_lookback(40, 18, 12, 30)
    state, _ = fit_series(
        monthly(120)["value"].to_numpy(),
        AutoOptions(18, 12, lookback=30, **{"n_models": 1, "train_steps": 2, "units": 4}),
    )
    assert state.lookbacks == [30]


def test_describe_states_the_choices_and_why():
    f = Forecaster(horizon=6, quantiles=[0.1, 0.9], **FAST)
    assert "not fitted" in f.describe()
    text = f.fit(monthly(96)).describe()
    for word in (
        "season length 12",
        "log: yes",
        "deseasonalise: yes",
        "ensemble: 2 GRU",
        "validation:",
        "combination:",
    ):
        assert word in text, (word, text)
    plain = Forecaster(lookback=12, horizon=3)
    assert plain.config.pipeline == "plain" and "plain pipeline" in plain.describe()


def test_user_choices_are_honoured():
    f = Forecaster(horizon=6, log=False, combine=False, **FAST).fit(monthly(96))
    st = f.auto_states[0]
    assert not st.log and st.weights == {"gru": 1.0} and "set by the user" in f.describe()


def test_quantiles_are_ordered_around_the_forecast():
    f = Forecaster(horizon=6, quantiles=[0.1, 0.5, 0.9], **FAST).fit(monthly(96))
    fc = f.predict()
    assert np.all(fc["q0.1"] <= fc["q0.5"]) and np.all(fc["q0.5"] <= fc["q0.9"])
    assert np.all(fc["q0.1"] < fc["forecast"]) and np.all(fc["forecast"] < fc["q0.9"])


def test_save_load_gives_identical_forecasts(tmp_path):
    f = Forecaster(horizon=6, quantiles=[0.1, 0.9], **FAST).fit(monthly(96))
    f.save(tmp_path / "m")
    g = load(tmp_path / "m")
    assert g.config == f.config and g.auto_states == f.auto_states
    pd.testing.assert_frame_equal(g.predict(), f.predict())
    pd.testing.assert_frame_equal(Forecaster.load(tmp_path / "m").predict(3), f.predict(3))
    # the damping of the GRUs' change is saved too (here forced, so that it matters)
    before = f.predict()
    f.auto_states[0].damping = 0.25
    assert not f.predict()["forecast"].equals(before["forecast"])
    f.save(tmp_path / "damped")
    pd.testing.assert_frame_equal(load(tmp_path / "damped").predict(), f.predict())


def test_auto_pipeline_rejects_what_it_cannot_do():
    df = monthly(96)
    f = Forecaster(horizon=6, **FAST).fit(df)
    with pytest.raises(ValueError, match="at most 6 steps"):
        f.predict(7)
    pd.testing.assert_frame_equal(f.predict(data=df), f.predict())  # its own data: fine
    with pytest.raises(DataError, match="not the data this forecaster was fit on"):
        f.predict(data=df.iloc[:-1])
    with pytest.raises(ValueError, match="Unknown pipeline"):
        Forecaster(pipeline="fancy")


def test_combination_modes():
    df = monthly(96)
    w = Forecaster(horizon=6, **FAST).fit(df).auto_states[0].weights
    assert set(w) == {"gru", "ets", "theta", "naive"}
    np.testing.assert_allclose(list(w.values()), 0.25)
    st = Forecaster(horizon=6, combine="validation", **FAST).fit(df).auto_states[0]
    assert st.weights == combination_weights(st.val_errors)
    assert combination_weights({"a": 1.0, "b": 1.5, "c": 3.0}) == {"a": 0.5, "b": 0.5, "c": 0.0}
    with pytest.raises(ValueError, match="combine must be"):
        Forecaster(combine="best")


def test_folds_lie_inside_the_training_part():
    from grunet.forecast.validation import fold_origins

    assert fold_origins(100, 8, need=20) == [76, 84, 92]  # n - 3H, n - 2H, n - H
    assert fold_origins(40, 8, need=20) == [24, 32]  # as many as leave `need` steps before
    assert fold_origins(20, 8, need=20) == []


def test_conformal_width_covers_the_folds():
    from grunet.forecast.validation import Validation, conformal_width

    H = 10
    zero, half = np.zeros(H), np.ones(H)

    def fold(actual):
        return {"gru": (zero, zero - half, zero + half)}, actual

    one = [fold(np.arange(H, dtype=float))]  # distances 0..9 from a forecast of 0
    val = Validation([a for _, a in one], [m for m, _ in one])
    # ratios |actual - mean| / half are 0..9: the ceil(11 * 0.8) = 9th smallest is 8
    assert conformal_width({"gru": 1.0}, val) == 8.0
    assert conformal_width({"gru": 1.0}, val, level=0.5) == 5.0
    # a member without weight does not count; none with weight: no change
    assert conformal_width({"gru": 0.0, "ets": 1.0}, val) == 1.0
    # three folds are three observations: at 80%, ceil(4 * 0.8) = 4 > 3, so the widest fold's
    three = [fold(np.arange(H) * s) for s in (0.5, 1.0, 0.25)]
    val = Validation([a for _, a in three], [m for m, _ in three])
    assert conformal_width({"gru": 1.0}, val) == 8.0
    # and with nine folds, the ceil(10 * 0.8) = 8th smallest fold score
    nine = [fold(np.arange(H) * s) for s in np.linspace(0.1, 0.9, 9)]
    val = Validation([a for _, a in nine], [m for m, _ in nine])
    assert conformal_width({"gru": 1.0}, val) == pytest.approx(8 * 0.8)


def test_season_choices_from_the_data():
    from grunet.forecast.auto import seasons
    from grunet.forecast.seasonality import long_season_for

    assert [long_season_for(f) for f in ("30min", "h", "D", "MS", None)] == [336, 168, 0, 0, 0]
    rng = np.random.default_rng(0)
    # daily values without a weekly cycle: no deseasonalising, members without a season
    walk = np.cumsum(rng.normal(size=300))
    assert seasons(walk, 7) == (7, False, 1)
    # too short for the test (under 3 m): members keep the calendar season
    assert seasons(walk[:20], 7) == (7, False, 7)
    # half-hourly with a weekly pattern (weekends lower): indices of the week, members at m
    t = np.arange(48 * 7 * 4)
    week = np.sin(2 * np.pi * t / 48) + 2.0 * ((t // 48) % 7 >= 5) + rng.normal(0, 0.1, len(t))
    assert seasons(week, 48, 336) == (336, True, 48)
    # only a daily pattern: the week is not needed
    day = np.sin(2 * np.pi * t / 48) + rng.normal(0, 0.1, len(t))
    assert seasons(day, 48, 336) == (48, True, 48)


def test_damping_shrinks_a_drift_the_folds_do_not_confirm():
    from grunet.forecast.prepared import Prepared
    from grunet.forecast.validation import choose_damping

    rng = np.random.default_rng(0)
    y = 100 + np.cumsum(rng.normal(size=60))  # a random walk
    H, origins = 5, [45, 50, 55]

    def folds(slope: float):
        out = []
        for o in origins:
            prep = Prepared(y[:o], 1, False, False)
            zf = prep.z[-1] + slope * np.arange(1, H + 1)  # the networks' forecast: a drift
            out.append((prep, zf))
        return out

    flat = [np.full(H, y[o - 1]) for o in origins]  # what followed: no change at all
    gru = folds(3.0)
    factor = choose_damping(gru, flat, y, origins, 1)
    assert factor == 0.25
    # the folds' GRU forecasts damped by it: a quarter of the drift
    prep, zf = gru[0]
    np.testing.assert_allclose(prep.damp(zf, factor) - y[44], 0.75 * np.arange(1, H + 1))
    # a drift that did continue keeps its full size
    drift = [y[o - 1] + 3.0 * np.arange(1, H + 1) for o in origins]
    assert choose_damping(folds(3.0), drift, y, origins, 1) == 1.0
