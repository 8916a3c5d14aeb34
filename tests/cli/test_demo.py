"""grunet demo: the article end to end, under a test runner."""

import json

import pytest
from typer.testing import CliRunner

from grunet.cli import app

runner = CliRunner()


def test_demo_writes_everything_the_issue_lists(tmp_path):
    out = tmp_path / "d"
    result = runner.invoke(app, ["demo", "--out", str(out), "--epochs", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "Total params: 8,001" in result.output and "final loss" in result.output
    for name in ("history.png", "predictions.png", "model.grunet", "metrics.json"):
        assert (out / name).stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["total_params"] == 8001 and metrics["epochs"] == 2
    assert {"final_loss", "final_val_loss", "fit_seconds"} <= set(metrics)
    assert (out / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("flags", "params"),
    [
        (["--no-reset-after"], 7851),
        (["--cell", "lstm"], 10451),
        (["--cell", "rnn", "--synthetic"], 2651),
    ],
)
def test_demo_variants(tmp_path, flags, params):
    out = tmp_path / "d"
    result = runner.invoke(app, ["demo", "--out", str(out), "--epochs", "1", "-q", *flags])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["total_params"] == params


def test_demo_does_not_overwrite_without_force(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "model.grunet").write_text("an earlier model")
    result = runner.invoke(app, ["demo", "--out", str(out), "--epochs", "1", "-q"])
    assert result.exit_code == 1
    assert "--force" in result.output and "Traceback" not in result.output
    assert (out / "model.grunet").read_text() == "an earlier model"
    assert (
        runner.invoke(app, ["demo", "--out", str(out), "--epochs", "1", "-q", "--force"]).exit_code
        == 0
    )


@pytest.mark.parametrize("flags", [["--epochs", "0"], ["--cell", "transformer"], ["--units", "-3"]])
def test_demo_bad_options_exit_nonzero_without_traceback(tmp_path, flags):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), *flags])
    assert result.exit_code != 0
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_full_demo_reaches_keras_loss_range(tmp_path):
    """DESIGN.md: Keras reaches loss 0.055 +- 0.01 and val_loss 0.049 +- 0.015 on this data."""
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "-q"])
    assert result.exit_code == 0, result.output
    m = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert m["epochs"] == 100 and m["optimizer_steps"] == 7900
    assert abs(m["final_loss"] - 0.055) <= 0.01
    assert abs(m["final_val_loss"] - 0.049) <= 0.015


def test_export_command_writes_onnx_and_never_overwrites(tmp_path):
    pytest.importorskip("onnx")
    out = tmp_path / "d"
    assert runner.invoke(app, ["demo", "--out", str(out), "--epochs", "1", "-q"]).exit_code == 0
    onnx_path = tmp_path / "m.onnx"
    args = ["export", str(out / "model.grunet"), "--format", "onnx", "--out", str(onnx_path)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0 and onnx_path.stat().st_size > 0, first.output
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "--force" in again.output and "Traceback" not in again.output
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0
    bad = runner.invoke(app, ["export", str(tmp_path / "missing.grunet"), "--out", str(onnx_path)])
    assert bad.exit_code == 1 and "no model file" in bad.output


def test_warmup_runs_the_steps_it_names(monkeypatch):
    from grunet.article import precompile as warmup_module

    ran = []
    steps = {k: (what, lambda k=k: ran.append(k)) for k, (what, _) in warmup_module.STEPS.items()}
    monkeypatch.setattr(warmup_module, "STEPS", steps)
    result = runner.invoke(app, ["warmup"])
    assert result.exit_code == 0, result.output
    assert ran == ["fit"] and "ready in" in result.output
    assert runner.invoke(app, ["warmup", "--all"]).exit_code == 0
    assert ran == ["fit", "fit", "call", "stepper"]
    with pytest.raises(ValueError, match="unknown steps"):
        warmup_module.warmup(("nope",))


def test_warmup_inference_steps_compile_or_load():
    from grunet.article import warmup

    seconds = warmup(("call", "stepper"), print_fn=lambda line: None)
    assert set(seconds) == {"call", "stepper"} and min(seconds.values()) > 0
