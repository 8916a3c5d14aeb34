import numpy as np
import pandas as pd
import pytest

from grunet.errors import DataError
from grunet.forecast import Forecaster
from grunet.forecast.backtest import backtest, markdown_table
from helpers import seasonal


def test_gru_beats_the_naive_baseline_on_a_clean_seasonal_series():
    df = pd.DataFrame(
        {"date": pd.date_range("2000-01-01", periods=120, freq="MS"), "value": seasonal(120)}
    )
    f = Forecaster(lookback=24, horizon=12, units=16, seed=0)
    result = f.backtest(
        df, folds=2, date="date", epochs=60, batch_size=16, baselines=("naive", "seasonal_naive")
    )
    mase = result.overall["mase"]
    assert mase["grunet"] < mase["naive"]
    assert mase["grunet"] < 1.0  # better than the in-sample seasonal naive too
    assert result.season_length == 12 and result.horizon == 12
    # every model is scored on the same folds
    cutoffs = result.scores.groupby("model")["cutoff"].apply(tuple)
    assert cutoffs.nunique() == 1 and list(cutoffs.iloc[0]) == [
        pd.Timestamp("2008-01-01"),
        pd.Timestamp("2009-01-01"),
    ]


def test_quantile_backtest_reports_pinball_and_coverage_and_refit_false(monthly):
    f = Forecaster(lookback=12, horizon=6, units=4, seed=0, quantiles=[0.1, 0.5, 0.9])
    folds_seen = []
    result = backtest(
        f,
        monthly,
        folds=3,
        date="date",
        epochs=2,
        refit=False,
        baselines=("naive",),
        on_fold=lambda k, n: folds_seen.append((k, n)),
    )
    assert folds_seen == [(0, 3), (1, 3), (2, 3)]
    cols = set(result.overall.columns)
    assert {
        "mae",
        "rmse",
        "mape",
        "smape",
        "mase",
        "pinball_q0.1",
        "pinball_q0.9",
        "coverage_0.1-0.9",
    } <= cols
    cov = result.overall.loc["grunet", "coverage_0.1-0.9"]
    assert 0.0 <= cov <= 1.0 and np.isnan(result.overall.loc["naive", "coverage_0.1-0.9"])
    assert len(result.forecasts) == 3 * 6 and "grunet_q0.9" in result.forecasts.columns
    assert "| grunet |" in result.to_markdown()


def test_backtest_many_series_from_a_start_date(long_table):
    f = Forecaster(lookback=14, horizon=7, units=4, seed=0)
    result = f.backtest(
        long_table, start="2021-04-10", date="date", id="id", epochs=1, baselines=("naive",)
    )
    assert result.scores["cutoff"].min() == pd.Timestamp("2021-04-10")
    assert (
        set(result.scores["id"]) == {"a", "b"} and result.scores["fold"].nunique() == 2
    )  # cuts at steps 40 and 47 of 60


def test_backtest_errors(monthly):
    f = Forecaster(lookback=48, horizon=12, units=4)
    with pytest.raises(DataError, match="too short for this backtest"):
        f.backtest(monthly, folds=5, date="date", epochs=1)
    with pytest.raises(ValueError, match="unknown option"):
        f.backtest(monthly, folds=1, date="date", epoch=1)
    with pytest.raises(ValueError, match="exceeds the forecaster's horizon"):
        f.backtest(monthly, folds=1, horizon=13, date="date")


def test_markdown_table():
    df = pd.DataFrame({"mase": [0.5, np.nan]}, index=pd.Index(["a", "b"], name="model"))
    assert markdown_table(df) == "| model | mase |\n|---|---:|\n| a | 0.500 |\n| b | – |"
