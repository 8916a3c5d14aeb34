"""Every forecasting command under typer's CliRunner."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from grunet.cli import app
from helpers import seasonal

runner = CliRunner()
FAST = ["--lookback", "12", "--horizon", "6", "--units", "4", "--epochs", "2", "-q"]


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "series.csv"
    pd.DataFrame(
        {"date": pd.date_range("2000-01-01", periods=60, freq="MS"), "value": seasonal(60)}
    ).to_csv(path, index=False)
    return path


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_fit_then_forecast(csv, tmp_path):
    out = tmp_path / "model"
    res = run(
        "fit",
        csv,
        "--date",
        "date",
        *FAST,
        "--quantiles",
        "0.1,0.5,0.9",
        "--val-size",
        "6",
        "--out",
        out,
    )
    assert res.exit_code == 0, res.output
    assert {"forecaster.json", "model.grunet", "history.png", "fit.png", "metrics.json"} <= {
        p.name for p in out.iterdir()
    }
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["final_val_loss"] is not None
    res = run("forecast", out, "--out", tmp_path / "f.csv", "--plot", tmp_path / "f.png")
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(tmp_path / "f.csv")
    assert (
        list(frame.columns) == ["date", "forecast", "q0.1", "q0.5", "q0.9"]
        and frame["date"][0] == "2005-01-01"
    )
    # outputs are never replaced without --force
    res = run("forecast", out, "--out", tmp_path / "f.csv")
    assert res.exit_code == 1 and "--force" in res.output
    assert (
        run("forecast", out, "--out", tmp_path / "f.csv", "--horizon", "3", "--force").exit_code
        == 0
    )
    res = run("fit", csv, "--date", "date", *FAST, "--out", out)
    assert res.exit_code == 1 and "already exists" in res.output


def test_backtest_prints_a_table_and_writes_files(csv, tmp_path):
    res = run(
        "backtest",
        csv,
        "--date",
        "date",
        *FAST,
        "--folds",
        "2",
        "--baselines",
        "naive,seasonal_naive",
        "--out",
        tmp_path / "bt",
    )
    assert res.exit_code == 0, res.output
    assert "metric" in res.output and "mase" in res.output and "seasonal_naive" in res.output
    scores = pd.read_csv(tmp_path / "bt" / "backtest.csv")
    assert (
        set(scores["model"]) == {"grunet", "naive", "seasonal_naive"}
        and scores["fold"].nunique() == 2
    )
    assert (tmp_path / "bt" / "backtest.png").exists()


def test_compare_writes_markdown_and_png(csv, tmp_path):
    res = run(
        "compare",
        csv,
        "--date",
        "date",
        "--lookback",
        "12",
        "--horizon",
        "6",
        "--units",
        "4",
        "--epochs",
        "1",
        "--seeds",
        "0",
        "--cells",
        "gru,rnn",
        "-q",
        "--out",
        tmp_path / "cmp",
    )
    assert res.exit_code == 0, res.output
    assert "| GRU | 3 |" in res.output and "| SimpleRNN | 1 |" in res.output
    assert {"compare.md", "compare.csv", "compare.png"} <= {
        p.name for p in (tmp_path / "cmp").iterdir()
    }


def _bad_inputs(tmp_path):
    good = pd.DataFrame(
        {"date": pd.date_range("2000-01-01", periods=60, freq="MS"), "value": seasonal(60)}
    )
    nan = good.assign(value=good["value"].where(good.index != 7))
    files = {
        "missing column": (
            "ok.csv",
            good,
            ["--target", "sales"],
            "target column 'sales' not found",
        ),
        "NaN target": ("nan.csv", nan, [], "1 missing or infinite value"),
        "too-short series": ("short.csv", good.head(10), [], "too short"),
        "empty file": ("empty.csv", None, [], "is empty"),
        "non-CSV file": ("data.xlsx", None, [], "unsupported file type '.xlsx'"),
        "binary in .parquet": ("bad.parquet", None, [], "could not read"),
        "irregular dates": ("gaps.csv", good.drop(index=[3, 9]), [], "irregular"),
    }
    for name, (fname, df, extra, match) in files.items():
        path = tmp_path / fname
        if df is not None:
            df.to_csv(path, index=False)
        elif fname.endswith(".csv"):
            path.write_text("")
        else:
            path.write_bytes(b"PK\x03\x04 not a table")
        yield pytest.param(path, extra, match, id=name)


@pytest.mark.parametrize("command", ["fit", "backtest"])
def test_bad_inputs_exit_with_one_clear_line(tmp_path, command):
    for path, extra, match in (p.values for p in _bad_inputs(tmp_path)):
        res = run(command, path, "--date", "date", *FAST, *extra, "--out", tmp_path / "out")
        assert res.exit_code == 1, (path, res.output)
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], (
            path,
            res.output,
        )
        assert "Traceback" not in res.output
        assert not (tmp_path / "out").exists()


def test_forecast_with_a_missing_model_and_bad_options(tmp_path, csv):
    res = run("forecast", tmp_path / "nope", "--out", tmp_path / "f.csv")
    assert res.exit_code == 1 and res.output.startswith("error: no saved forecaster")
    res = run(
        "fit", csv, "--date", "date", *FAST, "--quantiles", "0.1,abc", "--out", tmp_path / "m"
    )
    assert res.exit_code == 1 and "comma-separated numbers" in res.output
    res = run("fit", csv, "--date", "date", *FAST, "--cell", "transformer", "--out", tmp_path / "m")
    assert res.exit_code == 2 and "transformer" in res.output  # typer's own usage error
