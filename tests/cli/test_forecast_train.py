"""`grunet fit` as a real process: killed and resumed from its checkpoint, and under torchrun."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from grunet.forecast import load
from helpers import seasonal

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
MODEL = [
    "--date",
    "date",
    "--lookback",
    "12",
    "--horizon",
    "6",
    "--units",
    "8",
    "--batch-size",
    "8",
    "--quantiles",
    "0.1,0.5,0.9",
    "-q",
]


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "series.csv"
    pd.DataFrame(
        {"date": pd.date_range("2000-01-01", periods=60, freq="MS"), "value": seasonal(60)}
    ).to_csv(path, index=False)
    return path


def grunet(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "grunet", *map(str, args)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


@pytest.mark.slow
def test_a_killed_fit_resumes_to_the_same_model(csv, tmp_path):
    fit = ["fit", csv, *MODEL, "--epochs", "100", "--checkpoint-every", "1"]
    whole = grunet(*fit, "--out", tmp_path / "whole")  # uninterrupted, alongside
    killed = grunet(*fit, "--out", tmp_path / "cut")
    # The calibration network trains first; kill during the final network's training.
    marker = tmp_path / "cut" / "checkpoint" / "model_0" / "checkpoint.safetensors"
    deadline = time.monotonic() + 120
    while not marker.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL, killed.stdout.read()
    assert not (tmp_path / "cut" / "model.grunet").exists()
    # Not without --resume: the folder is not empty
    refused = grunet(*fit, "--out", tmp_path / "cut")
    assert refused.wait() == 1 and "--resume" in refused.stdout.read()
    resumed = grunet(*fit, "--out", tmp_path / "cut", "--resume")
    assert resumed.wait() == 0, resumed.stdout.read()
    assert whole.wait() == 0, whole.stdout.read()
    a, b = (
        load_file(tmp_path / "whole" / "model.grunet"),
        load_file(tmp_path / "cut" / "model.grunet"),
    )
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)  # bit for bit
    np.testing.assert_array_equal(load(tmp_path / "whole").offsets, load(tmp_path / "cut").offsets)
    assert (
        tmp_path / "cut" / "checkpoint" / "calibration" / "model_0"
    ).is_dir()  # kept beside the model


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="torchrun with the gloo backend, on Linux")
def test_distributed_fit_under_torchrun_writes_once(csv, tmp_path):
    out = tmp_path / "m"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "grunet",
            "fit",
            csv,
            *MODEL,
            "--epochs",
            "3",
            "--distributed",
            "--out",
            out,
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("trained gru") == 1 and run.stdout.count("wrote ") == 1, run.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "fit.png",
        "forecaster.json",
        "history.png",
        "metrics.json",
        "model.grunet",
    ]
    assert len(load(out).predict()) == 6
