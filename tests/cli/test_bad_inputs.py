"""Every command, every bad input: exit non-zero with ONE `error: ...` line and no traceback.

Inputs: an empty file, random bytes, values near the float64 limit, a misspelled column, Latin-1
and UTF-16 text, corrupt or truncated model folders and files, and paths that do not exist.
"""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from grunet.cli import app

runner = CliRunner()
FAST = [
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
    "-q",
]


def _good() -> pd.DataFrame:
    t = np.arange(60)
    return pd.DataFrame(
        {
            "date": pd.date_range("2000-01-01", periods=60, freq="MS"),
            "value": 10 + np.sin(2 * np.pi * t / 12),
        }
    )


# name -> (writer of the data file, text the error line must contain, extra options)
DATA = {
    "empty file": (lambda p: p.write_bytes(b""), "is empty", []),
    "random bytes": (
        lambda p: p.write_bytes(np.random.default_rng(0).bytes(4000)),
        "binary data",
        [],
    ),
    "huge values": (lambda p: _good().assign(value=1e308).to_csv(p, index=False), "too large", []),
    "misspelled column": (
        lambda p: _good().to_csv(p, index=False),
        "did you mean 'value'?",
        ["--target", "vaule"],
    ),
    "latin-1 text": (
        lambda p: p.write_bytes(
            _good().rename(columns={"value": "débit"}).to_csv(index=False).encode("latin-1")
        ),
        "not UTF-8",
        [],
    ),
    "utf-16 text": (
        lambda p: p.write_bytes(_good().to_csv(index=False).encode("utf-16")),
        "UTF-16",
        [],
    ),
    "missing path": (lambda p: None, "no data file at", []),
}


def _data(tmp_path, name):
    write, match, extra = DATA[name]
    path = tmp_path / "data.csv"
    write(path)
    return path, match, extra


def assert_one_error_line(res, match: str) -> None:
    assert res.exit_code != 0, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert match in lines[0], res.output
    assert "Traceback" not in res.output


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("name", list(DATA))
@pytest.mark.parametrize("command", ["fit", "backtest", "compare"])
def test_training_commands_refuse_bad_data(tmp_path, command, name):
    path, match, extra = _data(tmp_path, name)
    opts = FAST if command != "compare" else [*FAST, "--seeds", "0", "--cells", "gru"]
    res = invoke(command, path, *opts, *extra, "--out", tmp_path / "out")
    assert_one_error_line(res, match)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    _good().to_csv(root / "good.csv", index=False)
    res = invoke("fit", root / "good.csv", *FAST, "--out", root / "m")
    assert res.exit_code == 0, res.output
    return root / "m"


@pytest.mark.parametrize("name", list(DATA))
def test_forecast_refuses_bad_data(tmp_path, model_dir, name):
    path, match, extra = _data(tmp_path, name)
    if extra:  # the saved model names its columns; a table without them is the analogue
        _good().rename(columns={"value": "vaule"}).to_csv(path, index=False)
        match = "target column 'value' not found; did you mean 'vaule'?"
    res = invoke("forecast", model_dir, "--data", path, "--out", tmp_path / "f.csv")
    assert_one_error_line(res, match)
    assert not (tmp_path / "f.csv").exists()


def _damage(folder, name, where):
    import shutil

    bad = where / f"bad-{name.replace(' ', '-')}"
    shutil.copytree(folder, bad)
    config, weights = bad / "forecaster.json", bad / "model.grunet"
    if name == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:300])
    elif name == "random weights":
        weights.write_bytes(np.random.default_rng(1).bytes(3000))
    elif name == "no weights":
        weights.unlink()
    elif name == "truncated config":
        config.write_text(config.read_text()[:200])
    elif name == "utf-16 config":
        config.write_bytes(config.read_text().encode("utf-16"))
    elif name == "empty folder":
        shutil.rmtree(bad)
        bad.mkdir()
    elif name == "missing folder":
        shutil.rmtree(bad)
    return bad


MODELS = {
    "truncated weights": "not a readable grunet model file",
    "random weights": "not a readable grunet model file",
    "no weights": "no model file at",
    "truncated config": "is not valid JSON",
    "utf-16 config": "is not valid JSON",
    "empty folder": "no saved forecaster",
    "missing folder": "no saved forecaster",
}


@pytest.mark.parametrize("name", list(MODELS))
def test_forecast_refuses_a_damaged_model(tmp_path, model_dir, name):
    res = invoke("forecast", _damage(model_dir, name, tmp_path), "--out", tmp_path / "f.csv")
    assert_one_error_line(res, MODELS[name])


@pytest.mark.parametrize(
    "name", ["truncated weights", "random weights", "no weights", "empty file", "missing path"]
)
def test_export_refuses_a_damaged_model_file(tmp_path, model_dir, name):
    if name in ("empty file", "missing path"):
        path = tmp_path / "model.grunet"
        if name == "empty file":
            path.write_bytes(b"")
        match = "no model file at" if name == "missing path" else "not a readable grunet model file"
    else:
        path = _damage(model_dir, name, tmp_path) / "model.grunet"
        match = MODELS[name]
    res = invoke("export", path, "--out", tmp_path / "m.onnx")
    assert_one_error_line(res, match)
    assert not (tmp_path / "m.onnx").exists()


def test_demo_refuses_an_output_that_is_a_file(tmp_path):
    (tmp_path / "afile").write_text("")
    assert_one_error_line(
        invoke("demo", "--out", tmp_path / "afile", "--epochs", "1", "-q"), "not a folder"
    )


def test_demo_refuses_an_output_inside_a_file(tmp_path):
    (tmp_path / "afile").write_text("")
    assert_one_error_line(
        invoke("demo", "--out", tmp_path / "afile" / "d", "--epochs", "1", "-q"), "error"
    )


@pytest.mark.parametrize("command", ["fit", "backtest"])
def test_training_commands_refuse_an_output_inside_a_file(tmp_path, command):
    _good().to_csv(tmp_path / "good.csv", index=False)
    (tmp_path / "afile").write_text("")
    res = invoke(command, tmp_path / "good.csv", *FAST, "--out", tmp_path / "afile" / "m")
    assert_one_error_line(res, "afile is a file")


def test_debug_shows_the_traceback(tmp_path):
    path, _, _ = _data(tmp_path, "latin-1 text")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    plain = subprocess.run(
        [sys.executable, "-m", "grunet", "fit", str(path), *FAST, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert (
        plain.returncode == 1
        and plain.stderr.strip().count("\n") == 0
        and "Traceback" not in plain.stderr
    )
    debug = subprocess.run(
        [
            sys.executable,
            "-m",
            "grunet",
            "--debug",
            "fit",
            str(path),
            *FAST,
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "DataError" in debug.stderr
