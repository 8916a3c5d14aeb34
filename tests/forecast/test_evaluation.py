"""The corpus benchmark on two small series (tiny training budget: this checks the plumbing)."""

import numpy as np
import pandas as pd
import pytest

from conftest import seasonal
from grunet.errors import DataError, OptionError
from grunet.forecast import metrics as M
from grunet.forecast.baselines import forecast_baseline
from grunet.forecast.evaluation import check_horizon, data_files, default_horizon, evaluate

FAST = {"epochs": 2, "batch_size": 16}


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    dates = pd.date_range("2000-01-01", periods=120, freq="MS")
    pd.DataFrame({"date": dates, "value": seasonal(120, 12, seed=1, level=20)}).to_csv(
        folder / "monthly.csv", index=False
    )
    steps = pd.DataFrame({"t": np.arange(60), "value": 5 + np.cumsum(np.ones(60))})
    steps.to_csv(folder / "undated.csv", index=False)
    (folder / "notes.txt").write_text("not data")
    return folder


def test_evaluate_two_series_writes_a_leaderboard(corpus, tmp_path):
    out = tmp_path / "out"
    board = evaluate(corpus, out=out, fit_options=FAST, progress=False)
    assert board.series == ["monthly", "undated"]
    assert board.methods[0] == "grunet" and "AutoETS" in board.methods
    # the horizon by frequency: monthly 18, integer steps 8
    assert board.scores.groupby("series")["horizon"].first().to_dict() == {
        "monthly": 18,
        "undated": 8,
    }
    # AutoETS's row is what statsforecast gives on the training part, scored on the held-out part
    y = pd.read_csv(corpus / "monthly.csv")["value"].to_numpy()
    ets = forecast_baseline("ets", y[:-18], 18, 12)
    row = board.scores.query("series == 'monthly' and method == 'AutoETS'").iloc[0]
    assert row["mase"] == pytest.approx(M.mase(y[-18:], ets.mean, y[:-18], 12))
    assert row["coverage"] == pytest.approx(M.coverage(y[-18:], ets.lower, ets.upper))
    summary = board.summary()
    assert summary.loc["AutoETS", "rel. MASE"] == pytest.approx(1.0)
    assert summary.loc["grunet", "fits"] == "2/2"
    assert 0.0 <= summary.loc["grunet", "80% coverage"] <= 1.0
    for name in ("leaderboard.csv", "summary.csv", "forecasts.csv", "leaderboard.md"):
        assert (out / name).stat().st_size > 0
    assert (out / "leaderboard.png").read_bytes()[:4] == b"\x89PNG"
    written = pd.read_csv(out / "leaderboard.csv")
    assert set(written["method"]) == set(board.methods) and "rel_mase" in written.columns
    assert "| grunet | 2/2 |" in board.to_markdown()


def test_variants_and_a_fixed_horizon(corpus):
    board = evaluate(
        corpus / "undated.csv",
        horizon="5",
        variants={"small": {"units": 4}, "wide": {"units": 8}},
        baselines=("naive",),
        fit_options=FAST,
        progress=False,
    )
    assert board.methods == ["small", "wide", "SeasonalNaive", "AutoETS", "Naive"]
    assert set(board.scores["horizon"]) == {5}
    assert list(board.wins().index) == ["small", "wide"]


def test_horizon_rules():
    assert [default_horizon(f) for f in ("MS", "QS-OCT", "YS-JAN", "W-SUN", "D", "B", "h")] == [
        18,
        8,
        6,
        13,
        14,
        14,
        48,
    ]
    assert default_horizon("30min") == 48 and default_horizon(None) == 8
    assert check_horizon("auto") is None and check_horizon(" 12 ") == 12
    for bad in (0, -3, "abc", "2.5", 2.5, True):
        with pytest.raises(OptionError, match="horizon must be a positive integer"):
            check_horizon(bad)


def test_bad_inputs_say_what_to_do(tmp_path, corpus):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("# nothing")
    with pytest.raises(DataError, match="holds no .csv or .parquet files"):
        data_files([empty])
    with pytest.raises(DataError, match="no file or folder at"):
        data_files([tmp_path / "missing"])
    with pytest.raises(DataError, match=r"undated has 60 points; .* needs at least 80"):
        evaluate(corpus / "undated.csv", horizon=40, progress=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("date,value\n2020-01-01,1\n2020-02-01,2\nnot a day,3\n")
    with pytest.raises(DataError, match=r"^bad\.csv: .*data row 3 \('not a day'\)"):
        evaluate(bad, progress=False)


def test_a_run_stopped_early_keeps_the_series_it_scored(corpus, tmp_path, monkeypatch):
    from grunet.forecast import evaluation

    real = evaluation._grunet
    seen: list[str] = []

    def stop_on_second(task, *args, **kwargs):
        seen.append(task.name)
        if len(seen) == 2:
            raise KeyboardInterrupt  # as a user's Ctrl-C, or a time limit, would stop it
        return real(task, *args, **kwargs)

    monkeypatch.setattr(evaluation, "_grunet", stop_on_second)
    out = tmp_path / "partial"
    with pytest.raises(KeyboardInterrupt):
        evaluate(corpus, out=out, fit_options=FAST, progress=False)
    written = pd.read_csv(out / "leaderboard.csv")
    assert set(written["series"]) == {"monthly"}
    assert (out / "leaderboard.png").read_bytes()[:4] == b"\x89PNG"


def test_a_baseline_that_runs_past_the_time_limit_is_scored_as_timed_out(
    corpus, monkeypatch, endless_model
):
    import grunet.forecast.baselines as baselines

    real = baselines.make_model
    monkeypatch.setattr(
        baselines,
        "make_model",
        lambda name, m=1: endless_model if name == "arima" else real(name, m),
    )
    board = evaluate(
        corpus / "undated.csv",
        variants={"tiny": {"train_steps": 2, "n_models": 1, "units": 4}},
        baselines=("arima",),
        progress=False,
        time_limit=0.2,
    )
    rows = board.scores.set_index("method")
    assert rows.loc["AutoARIMA", "error"].startswith("AutoARIMA timed out: no forecast within 0.2")
    # scored with the seasonal naive forecast, and not counted as a fit
    assert rows.loc["AutoARIMA", "mase"] == rows.loc["SeasonalNaive", "mase"]
    assert board.summary().loc["AutoARIMA", "fits"] == "0/1"
    assert rows.loc["AutoETS", "error"] == ""
