"""Conformal calibration of the quantiles: the formula, its coverage, and that it only uses the past."""

from unittest import mock

import numpy as np
import pandas as pd
import pytest

from grunet.errors import DataError
from grunet.forecast import Forecaster, load
from grunet.forecast import forecaster as forecaster_module
from grunet.forecast.conformal import conformal_offsets


def test_offsets_follow_the_cqr_formula():
    rng = np.random.default_rng(0)
    M, H = 19, 3
    y = rng.normal(size=(M, H))
    q = np.stack(
        [np.full((M, H), -0.5), np.zeros((M, H)), np.full((M, H), 0.5)], axis=1
    )  # (M, 3, H)
    off = conformal_offsets(y, q, [0.1, 0.5, 0.9], per_step=True)
    E = np.maximum(-0.5 - y, y - 0.5)  # (M, H)
    k = int(np.ceil((M + 1) * 0.8))  # 16th smallest of 19
    np.testing.assert_allclose(off[2], np.sort(E, axis=0)[k - 1])
    np.testing.assert_allclose(off[0], -off[2])
    np.testing.assert_allclose(
        off[1], np.sort(y, axis=0)[int(np.ceil((M + 1) * 0.5)) - 1]
    )  # one-sided median
    pooled = conformal_offsets(y, q, [0.1, 0.5, 0.9], per_step=False)
    assert (
        np.all(pooled[2] == pooled[2, 0])
        and pooled[2, 0] == np.sort(E.ravel())[int(np.ceil((M * H + 1) * 0.8)) - 1]
    )
    # too-wide intervals are narrowed: the offset is negative
    assert conformal_offsets(y, q * 20, [0.1, 0.5, 0.9])[2, 0] < 0
    with pytest.raises(ValueError, match="expected y"):
        conformal_offsets(y, q[:, :2], [0.1, 0.5, 0.9])


def _noisy(n: int, seed: int = 0, sd: float = 0.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.DataFrame({"value": 5 + np.sin(2 * np.pi * t / 12) + rng.normal(0, sd, n)})


@pytest.mark.slow
def test_calibrated_intervals_reach_nominal_coverage_on_known_noise():
    """Sine + N(0, 0.5) noise: the 80% interval of new windows covers close to 80% of the values."""
    df = _noisy(600)
    train = df.iloc[:300]
    f = Forecaster(
        lookback=12,
        horizon=6,
        units=8,
        quantiles=[0.1, 0.5, 0.9],
        seed=0,
        calibration_size=60,
        learning_rate=1e-2,
    )
    f.fit(train, epochs=40, batch_size=32)
    assert f.config.calibrate and f.offsets.shape == (3, 6) and f.n_windows["calibration"] == 55
    hits = []
    for origin in range(300, 594, 6):  # 49 forecasts from data the model never saw
        fc = f.predict(data=df.iloc[:origin])
        y = df["value"].to_numpy()[origin : origin + 6]
        hits.append((fc["q0.1"].to_numpy() <= y) & (y <= fc["q0.9"].to_numpy()))
    coverage = float(np.mean(hits))
    assert 0.72 <= coverage <= 0.88, coverage


def test_calibration_fits_on_the_past_and_scores_only_the_last_steps():
    df = _noisy(80)
    seen = {}
    real = forecaster_module.conformal_offsets

    def spy(y, q, levels, per_step=None):
        seen["y"], seen["q"] = y, q
        return real(y, q, levels, per_step)

    f = Forecaster(
        lookback=12, horizon=6, units=4, quantiles=[0.1, 0.9], seed=0, calibration_size=18
    )
    with mock.patch.object(forecaster_module, "conformal_offsets", spy):
        f.fit(df, epochs=2)
    # calibration targets: the windows whose 6 targets lie in the last 18 steps (13 of them)
    st = f.states[0]
    actual = f._decode(seen["y"], st)
    expected = np.lib.stride_tricks.sliding_window_view(df["value"].to_numpy(), 6)[
        80 - 18 : 80 - 6 + 1
    ]
    np.testing.assert_allclose(actual, expected)
    # and the forecasts of those windows come from a model that never saw those 18 steps: changing
    # them changes the calibration targets but not the uncalibrated first-window inputs' model
    later = df.copy()
    later.loc[80 - 18 :, "value"] += 100.0
    g = Forecaster(
        lookback=12, horizon=6, units=4, quantiles=[0.1, 0.9], seed=0, calibration_size=18
    )
    with mock.patch.object(forecaster_module, "conformal_offsets", spy):
        g.fit(later, epochs=2)
    np.testing.assert_allclose(
        g._decode(seen["q"][0], g.states[0]), f._decode(_q0(f, df), st), rtol=1e-5
    )


def _q0(f, df):
    """f's calibration-stage quantile forecast of the first calibration window, in f's model units."""
    probe = Forecaster.from_config({**f.get_config(), "calibrate": False})
    probe._fit_panel(_panel(df.iloc[: len(df) - 18]), epochs=2)
    s = _panel(df).series[0]
    pred = probe._window_forecasts(s, probe.states[0], np.array([len(df) - 18]))
    return f._encode(pred[0, 1:], f.states[0])


def _panel(df):
    from grunet.forecast import load_panel

    return load_panel(df)


def test_backtest_calibration_never_sees_the_test_period():
    """Changing every value after a fold's cut-off changes none of that fold's forecasts."""
    df = pd.DataFrame(
        {"date": pd.date_range("2000-01-01", periods=72, freq="MS"), "value": _noisy(72)["value"]}
    )
    later = df.copy()
    later.loc[60:, "value"] *= 3.0  # the last fold's test year
    f = Forecaster(lookback=12, horizon=6, units=4, quantiles=[0.1, 0.5, 0.9], seed=0)
    kw = {"date": "date", "epochs": 2, "baselines": ("naive",)}
    a = f.backtest(df, start=54, stride=6, folds=2, **kw).forecasts
    b = f.backtest(later, start=54, stride=6, folds=2, **kw).forecasts
    cols = ["grunet", "grunet_q0.1", "grunet_q0.5", "grunet_q0.9"]
    pd.testing.assert_frame_equal(
        a[a["fold"] == 0][cols], b[b["fold"] == 0][cols]
    )  # cut 54: data < 54 only
    first_of_fold1 = a[a["fold"] == 1]["date"].min()
    assert first_of_fold1 == pd.Timestamp(
        "2005-01-01"
    )  # fold 1 cut at 60: its inputs are unchanged too
    pd.testing.assert_frame_equal(a[a["fold"] == 1][cols], b[b["fold"] == 1][cols])


def test_ensemble_log_and_season_relative_round_trip(tmp_path):
    df = pd.DataFrame(
        {
            "date": pd.date_range("2000-01-01", periods=60, freq="MS"),
            "value": np.exp(_noisy(60, sd=0.05)["value"] / 3),
        }
    )
    f = Forecaster(
        lookback=12,
        horizon=6,
        units=4,
        quantiles=[0.1, 0.5, 0.9],
        seed=0,
        n_models=2,
        log=True,
        relative="season",
    )
    f.fit(df, date="date", epochs=2)
    assert len(f.models) == 2 and f.get_config()["relative"] == "season"
    out = f.predict()
    assert (
        (out["q0.1"] <= out["q0.5"]).all()
        and (out["q0.5"] <= out["q0.9"]).all()
        and (out["q0.1"] > 0).all()
    )
    f.save(tmp_path / "m")
    assert {"model.grunet", "model_1.grunet"} <= {p.name for p in (tmp_path / "m").iterdir()}
    g = load(tmp_path / "m")
    pd.testing.assert_frame_equal(g.predict(), out)
    np.testing.assert_array_equal(g.offsets, f.offsets)
    assert Forecaster(relative=True).get_config()["relative"] == "last"


def test_calibration_and_log_errors():
    with pytest.raises(ValueError, match="calibrate=True needs quantiles"):
        Forecaster(calibrate=True)
    with pytest.raises(ValueError, match="calibration_size must be an integer >= the horizon 12"):
        Forecaster(quantiles=[0.1, 0.9], calibration_size=5)
    with pytest.raises(ValueError, match="relative must be"):
        Forecaster(relative="yearly")
    short = _noisy(40)
    with pytest.raises(
        DataError, match="calibration fits the forecaster on each series without its last 12"
    ):
        Forecaster(lookback=12, horizon=6, units=4, quantiles=[0.1, 0.9]).fit(
            short.iloc[:28], epochs=1
        )
    with pytest.raises(DataError, match="log=True needs strictly positive"):
        Forecaster(lookback=12, horizon=6, units=4, log=True).fit(short - 5.5, epochs=1)
    with pytest.raises(ValueError, match="relative='season' needs a seasonal period"):
        Forecaster(lookback=12, horizon=6, units=4, relative="season").fit(
            short, epochs=1
        )  # integer steps: m=1
    assert not Forecaster(
        lookback=12, horizon=6, quantiles=[0.1, 0.9], calibrate=False
    ).config.calibrate
