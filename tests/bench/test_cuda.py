"""The CUDA benchmark (grunet bench --device cuda): its grid, summary and table, and its message
without a GPU. The timings themselves need a GPU and are not unit-tested."""

import pytest
import torch

from grunet.bench.cuda import format_table, points, run_cuda_bench, summarize


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without a GPU")
def test_cuda_bench_says_it_needs_a_gpu():
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        run_cuda_bench(quick=True)


def test_cuda_bench_summary_and_table():
    assert len(points()) == 48 and len(points(quick=True)) == 4
    row = {
        "B": 1,
        "T": 24,
        "I": 32,
        "H": 32,
        "triton_ra_true_train_peak_mb": 1.0,
        "cudnn_train_peak_mb": 2.0,
        "reference_infer_us": None,
        "reference_train_us": None,
    }
    row.update(
        {
            f"{i}_{m}_us": v
            for i, v in (("triton_ra_true", 1.0), ("triton_ra_false", 2.0), ("cudnn", 4.0))
            for m in ("infer", "train")
        }
    )
    summary = summarize([row, dict(row, cudnn_infer_us=1.0)])
    assert summary["triton_ra_true_infer_speedup_vs_cudnn_geomean"] == pytest.approx(2.0)
    assert summary["triton_ra_false_train_speedup_vs_cudnn_geomean"] == pytest.approx(2.0)
    assert summary["reference_infer_points"] == 0
    assert "4.00x" in format_table([row])[1]
