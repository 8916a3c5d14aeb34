"""grunet.bench.cuda: the grid, the ratios and targets derived from timings, and a rehearsal run.

The rehearsal times two tiny points on the CPU under the Triton interpreter (the numbers mean
nothing; the code paths and the JSON are those of the GPU run). Without triton it is skipped.
"""

import json
import os

import pytest
import torch

from grunet.bench.cuda import IMPLS, derive, format_table, points, run_cuda_bench, summarize

_CUDA = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "0") != "1"


@pytest.mark.skipif(_CUDA, reason="checks the message given without a GPU")
def test_says_it_needs_a_gpu():
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        run_cuda_bench(quick=True)


def test_rehearsal_needs_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        run_cuda_bench(rehearsal=True)


def test_points_put_the_quick_corners_first():
    grid, quick = points(), points(quick=True)
    assert len(grid) == 48 and len({(p.B, p.T, p.H) for p in grid}) == 48
    assert grid[:4] == quick and len(points(rehearsal=True)) == 2


def _row(B, tri_ra, tri_rb, cudnn):
    row = {"B": B, "T": 24, "I": 32, "H": 32, "reference_infer_us": None}
    row["reference_train_us"] = None
    for mode in ("infer", "train"):
        row |= {f"triton_ra_true_{mode}_us": tri_ra, f"triton_ra_false_{mode}_us": tri_rb}
        row[f"cudnn_{mode}_us"] = cudnn
    row |= {"triton_ra_true_train_peak_mb": 1.0, "cudnn_train_peak_mb": 2.0}
    return derive(row)


def test_ratios_targets_and_routing_from_timings():
    fast, slow = _row(1, 1.0, 1.5, 4.0), _row(16, 8.0, 4.0, 4.0)
    assert fast["triton_ra_true_train_x_cudnn"] == 4.0 and fast["rb_over_ra_infer"] == 1.5
    assert fast["auto_ra_true_train"] == "triton" and slow["auto_ra_true_infer"] == "cudnn"
    assert fast["reference_infer_x_cudnn"] is None
    s = summarize([fast, slow])
    assert s["triton_ra_true_infer_x_cudnn_geomean"] == pytest.approx(2**0.5)  # sqrt(4 * 0.5)
    assert s["rb_over_ra_train_geomean"] == pytest.approx((1.5 * 0.5) ** 0.5)
    assert s["rb_over_ra_train_max"] == 1.5 and s["reference_train_points"] == 0
    assert s["ra_true_train_triton_faster_at"] == ["H32-T24-B1"]
    assert s["ra_true_train_cudnn_faster_at"] == ["H32-T24-B16"]
    assert s["ra_false_infer_slower_than_cudnn_at"] == []
    targets = s["targets"]
    assert not targets["triton_ra_true_train_x_cudnn_geomean"]["met"]  # 1.41 < 3
    assert targets["rb_over_ra_infer_geomean"]["met"]  # 0.87 <= 1.2
    assert "4.00x" in format_table([fast])[1]


def test_no_rows_meet_no_target():
    s = summarize([])
    assert not any(t["met"] for t in s["targets"].values())


def test_rehearsal_writes_the_json_the_routing_table_is_written_from(monkeypatch, tmp_path):
    pytest.importorskip("triton", reason="triton is not installed (pip install 'grunet[triton]')")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    path = tmp_path / "bench.json"
    lines = []
    rows = run_cuda_bench(
        json_path=str(path), print_fn=lines.append, rehearsal=True, repeats=1, budget_s=1e-4
    )
    doc = json.loads(path.read_text())
    assert doc["complete"] and doc["not_measured"] == [] and len(doc["rows"]) == len(rows) == 2
    assert doc["environment"]["device"] == "cpu" and doc["environment"]["interpreter"]
    for row in doc["rows"]:
        for impl in IMPLS:
            assert row[f"{impl}_infer_us"] > 0 and row[f"{impl}_train_us"] > 0
        assert row["auto_ra_true_train"] in ("triton", "cudnn")
        assert row["triton_ra_true_maxdiff"] < 1e-5  # same weights as torch.nn.GRU
    assert set(doc["summary"]["targets"]) == {
        "triton_ra_true_infer_x_cudnn_geomean",
        "triton_ra_true_train_x_cudnn_geomean",
        "rb_over_ra_infer_geomean",
        "rb_over_ra_train_geomean",
    }
    assert any(line.startswith("target ") for line in lines)


def test_a_time_limit_leaves_the_rest_listed(monkeypatch, tmp_path):
    pytest.importorskip("triton", reason="triton is not installed (pip install 'grunet[triton]')")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    path = tmp_path / "bench.json"
    run_cuda_bench(json_path=str(path), print_fn=lambda s: None, rehearsal=True, max_seconds=0)
    doc = json.loads(path.read_text())
    assert not doc["complete"] and len(doc["not_measured"]) == 2 and doc["rows"] == []


def test_an_implementation_that_fails_is_recorded_and_the_rest_timed(monkeypatch, tmp_path):
    pytest.importorskip("triton", reason="triton is not installed (pip install 'grunet[triton]')")
    from grunet.ops import triton_gru

    def broken(*args, **kwargs):
        raise RuntimeError("out of resources: shared memory (simulated)")

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(triton_gru, "gru", broken)
    rows = run_cuda_bench(print_fn=lambda s: None, rehearsal=True, repeats=1, budget_s=1e-4)
    for row in rows:
        assert (
            "shared memory" in row["triton_ra_true_error"]
            and row["triton_ra_true_infer_us"] is None
        )
        assert row["cudnn_train_us"] > 0 and row["reference_train_us"] > 0
    assert summarize(rows)["triton_ra_false_failed_at"] == ["H16-T3-B1", "H16-T3-B3"]
