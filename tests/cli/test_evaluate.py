"""``grunet evaluate``: a leaderboard from two small series; each bad input gives one error line."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from grunet.cli import app

runner = CliRunner()


def _write(folder, n_monthly=120, n_steps=60):
    folder.mkdir(exist_ok=True)
    t = np.arange(n_monthly)
    pd.DataFrame(
        {
            "date": pd.date_range("2000-01-01", periods=n_monthly, freq="MS"),
            "value": 20 + np.sin(2 * np.pi * t / 12) + 0.05 * t,
        }
    ).to_csv(folder / "monthly.csv", index=False)
    pd.DataFrame({"t": np.arange(n_steps), "value": np.cos(np.arange(n_steps) / 3)}).to_csv(
        folder / "steps.csv", index=False
    )
    return folder


def test_evaluate_prints_the_leaderboard_and_writes_its_files(tmp_path):
    corpus = _write(tmp_path / "corpus")
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        ["evaluate", str(corpus), "--epochs", "1", "--baselines", "naive", "-q", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert "| grunet | 2/2 |" in res.output and "| AutoETS | 2/2 |" in res.output
    names = {"leaderboard.csv", "summary.csv", "forecasts.csv", "leaderboard.md", "leaderboard.png"}
    assert names <= {p.name for p in out.iterdir()}
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["series"]) == {"monthly", "steps"}
    assert set(board["method"]) == {"grunet", "SeasonalNaive", "AutoETS", "Naive"}
    again = runner.invoke(app, ["evaluate", str(corpus), "-q", "--out", str(out)])
    assert again.exit_code == 1 and "--force" in again.output  # never replaces without --force


def _bad_dates(tmp_path):
    path = tmp_path / "dates.csv"
    path.write_text("date,value\n2020-01-01,1\n2020-02-01,2\n31/31/2020,3\n")
    return [str(path)]


def _no_csv(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("nothing here")
    return [str(tmp_path / "empty")]


BAD = {
    "folder without CSVs": (_no_csv, "holds no .csv or .parquet files"),
    "series too short": (
        lambda p: [str(_write(p / "c", n_monthly=30) / "monthly.csv")],
        "monthly has 30 points; holding out the last 18 needs at least 36",
    ),
    "horizon not a number": (
        lambda p: [str(_write(p / "c")), "--horizon", "soon"],
        "horizon must be a positive integer",
    ),
    "horizon zero": (
        lambda p: [str(_write(p / "c")), "--horizon", "0"],
        "horizon must be a positive integer",
    ),
    "unparseable dates": (
        _bad_dates,
        "dates.csv: date column 'date' has a value that is not a date in data row 3",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_inputs_give_one_error_line(tmp_path, case):
    make, expected = BAD[case]
    res = runner.invoke(app, ["evaluate", *make(tmp_path), "-q", "--out", str(tmp_path / "o")])
    assert res.exit_code == 1, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], res.output
