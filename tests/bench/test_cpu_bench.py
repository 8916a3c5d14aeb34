"""The CPU benchmark's ONNX Runtime column computes the same GRU, and its tables add up."""

import contextlib

import numpy as np
import pytest
import torch

import grunet
from grunet.bench import cpu as bench_cpu
from grunet.bench import onnx_runtime
from helpers import assert_close


@pytest.mark.skipif(not onnx_runtime.available(), reason="needs onnx and onnxruntime")
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_onnx_runtime_session_equals_grunet(reset_after, bias):
    torch.manual_seed(int(reset_after) + 2 * int(bias))
    m = grunet.nn.GRU(5, 50, batch_first=True, reset_after=reset_after, bias=bias)
    x = torch.randn(3, 63, 5)  # (B, T, I)
    run = onnx_runtime.session(m, 1, reset_after)
    y, y_h = run(x.transpose(0, 1).contiguous().numpy())  # (T, 1, B, H), (1, B, H)
    with torch.no_grad():
        out, h_n = m(x)
    assert_close(torch.from_numpy(np.ascontiguousarray(y[:, 0])).transpose(0, 1), out)
    assert_close(torch.from_numpy(y_h), h_n)


def test_onnx_model_refuses_stacked_modules():
    with pytest.raises(ValueError, match="num_layers=1"):
        onnx_runtime.gru_model(torch.nn.GRU(2, 3, num_layers=2))


def _row(B, T, H, gn, ort, torch_, group="grid"):
    return {
        "B": B, "T": T, "I": 8, "H": H, "group": group, "threads": 1,
        "grunet_infer_us": gn, "grunet_ra_false_infer_us": gn * 1.1, "ort_infer_us": ort,
        "torch_infer_us": torch_, "ort_over_grunet_infer": ort / gn,
        "torch_over_grunet_infer": torch_ / gn, "ra_false_over_true_infer": 1.1,
    }  # fmt: skip


def test_summary_geomeans_over_the_grid_only():
    rows = [_row(1, 1, 50, 1.0, 100.0, 100.0, "article"), _row(1, 24, 32, 1.0, 2.0, 8.0)]
    rows.append(_row(16, 24, 32, 2.0, 2.0, 2.0))
    s = bench_cpu.summarize(rows)
    assert s["geomean_ort_over_grunet_infer_grid"] == pytest.approx(2**0.5)
    assert s["min_ort_over_grunet_infer"] == pytest.approx(1.0)
    assert s["max_ra_false_over_true_infer"] == pytest.approx(1.1)
    lines = bench_cpu.format_table(rows, train=False)
    assert len(lines) == 4 and "ort/gn" in lines[0] and "2.00" in lines[2]


def test_points_cover_the_issue_grid():
    grid = [p for p in bench_cpu.points() if p.group == "grid"]
    assert len(grid) == 48
    assert {p.B for p in grid} == {1, 16, 128} and {p.T for p in grid} == {1, 24, 96, 512}
    with pytest.raises(ValueError, match="threads"):
        bench_cpu.run_bench(threads=("2",))


@pytest.mark.skipif(not onnx_runtime.available(), reason="needs onnx and onnxruntime")
def test_streaming_cases_run_and_ort_streams_the_same_model():
    torch.manual_seed(0)
    gru = grunet.nn.GRU(1, 50, batch_first=True, backend="cpu")
    row: dict = {}
    cases = bench_cpu._streaming(gru, torch.randn(1, 1, 1), False, row)
    assert set(cases) == set(bench_cpu.STREAM)
    for run in cases.values():
        run()
    assert row["ort_stream_max_abs_diff"] < 1e-5  # 5 steps, state fed back, against Stepper
    row.update({f"{k}_us": 1.5 for k in bench_cpu.STREAM})
    assert "Stepper GRU+Dense 1.5" in bench_cpu.format_streaming(row)


def test_interleaved_times_one_block_of_each_case_per_round(monkeypatch):
    from grunet.bench import timing

    monkeypatch.setattr(timing, "SETTLE_S", 0.0)
    log: list[str] = []
    entered: list[str] = []

    @contextlib.contextmanager
    def context(name):
        entered.append(name)
        yield

    fns = {"a": lambda: log.append("a"), "b": lambda: log.append("b")}
    secs = timing.interleaved(fns, repeats=3, budget_s=1e-9, stat="min", context=context)
    assert set(secs) == {"a", "b"} and all(s > 0 for s in secs.values())
    # warm-up and calibration (3 calls each: inner is 1 block call), then a, b, a, b, a, b
    assert log[6:] == ["a", "b"] * 3
    assert entered == ["a", "b"] + ["a", "b"] * 3
    with pytest.raises(ValueError, match="stat"):
        timing.interleaved(fns, 1, 1e-9, stat="mean")
