"""The triton GRU's parity matrix on a real GPU, and the checks that the parity runner can fail.

The matrix (`grunet.bench.parity`, profile "gpu": both variants, float32/float16/bfloat16, B {1, 3,
16, 128, 1024} x H {32, 50, 64, 128, 256} x T {1, 24, 96, 512}, NaN-poisoned buffers) runs compiled
on CUDA and is skipped without a GPU; benchmarks/gpu_check.sh runs the same cases without pytest.
The runner's own tests (a wrong output, an unwritten element and a kernel that raises are each
reported as failures) run anywhere: on the CPU under the Triton interpreter, on tiny shapes.
"""

import json
import os

import pytest
import torch

pytest.importorskip("triton", reason="triton is not installed (pip install 'grunet[triton]')")

from grunet.bench import parity  # noqa: E402
from grunet.ops import triton_gru  # noqa: E402

_CUDA = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "0") != "1"
DEVICE = "cuda" if _CUDA else "cpu"
if not _CUDA and type(triton_gru._gru_fwd_kernel).__name__ != "InterpretedFunction":
    pytest.skip("triton_gru was imported before TRITON_INTERPRET=1", allow_module_level=True)


@pytest.fixture(autouse=True)
def _interpreter(monkeypatch):
    """The backend accepts CPU tensors only while TRITON_INTERPRET=1 (read at each call)."""
    if not _CUDA:
        monkeypatch.setenv("TRITON_INTERPRET", "1")


def _explain(row: dict) -> str:
    errors = ", ".join(f"{k} {v:.1e}" for k, v in row["errors"].items())
    return f"{row['name']}: {row.get('exception') or errors} (tol {row['tol']:.0e})"


@pytest.mark.cuda
@pytest.mark.skipif(not _CUDA, reason="needs a CUDA GPU (and TRITON_INTERPRET unset)")
@pytest.mark.parametrize("case", parity.cases("gpu"), ids=lambda c: c.name)
def test_cuda_parity_matrix(monkeypatch, case):
    """Outputs, final state and every gradient (training) and the outputs (inference) vs float64."""
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    row = parity.run_case(case, "cuda")
    assert row["ok"], _explain(row)


# A small case with every input present, on the device these tests have.
_SMALL = parity.Case(T=4, B=3, H=16, I=5, dtype="float32", reset_after=False, reverse=True)


def test_small_case_passes_and_reports_every_tensor():
    row = parity.run_case(_SMALL, DEVICE)
    assert row["ok"], _explain(row)
    names = {f"train_{n}" for n in parity.NAMES} | {"infer_out", "infer_h_n"}
    assert set(row["errors"]) == names


def _perturbed(monkeypatch, change):
    real = triton_gru.gru

    def wrong(*args, **kwargs):
        out, h_n = real(*args, **kwargs)
        return change(out), h_n

    monkeypatch.setattr(triton_gru, "gru", wrong)


def test_a_wrong_output_fails():
    with pytest.MonkeyPatch.context() as mp:
        _perturbed(mp, lambda out: out + 1e-3)
        row = parity.run_case(_SMALL, DEVICE)
    assert not row["ok"] and row["worst"]["name"] in ("train_out", "infer_out")
    assert row["worst"]["error"] == pytest.approx(1e-3, rel=0.01)


def test_an_unwritten_element_fails(monkeypatch):
    """The buffers are poisoned: an element a kernel skipped reads NaN and fails the case."""
    real = triton_gru._forward

    def skips_one(*args):
        out, h_n, gates = real(*args)
        out[0, 0, 0] = triton_gru._empty((1,), out.dtype, out.device)[0]  # as if never written
        return out, h_n, gates

    monkeypatch.setattr(triton_gru, "_forward", skips_one)
    row = parity.run_case(_SMALL, DEVICE)
    assert not row["ok"] and row["errors"]["infer_out"] == float("inf")


def test_a_kernel_that_raises_fails_and_the_matrix_goes_on(monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise RuntimeError("PTX compile failed (simulated)")

    monkeypatch.setattr(triton_gru, "gru", broken)
    path = tmp_path / "parity.json"
    report = parity.run_parity("rehearsal", DEVICE, shard=(0, 6), json_path=str(path))
    assert len(report["rows"]) == 2 and report["passed"] == 0
    assert all("PTX compile failed" in r["exception"] for r in report["rows"])
    written = json.loads(path.read_text())
    assert written["failed"] == [r["name"] for r in report["rows"]] and written["passed"] == 0


def test_gpu_matrix_covers_the_issue():
    cases = parity.cases("gpu")
    for reset_after in (True, False):
        fp32 = [c for c in cases if c.dtype == "float32" and c.reset_after == reset_after]
        assert {c.B for c in fp32} >= set(parity.GPU_B)
        assert {c.H for c in fp32} >= set(parity.GPU_H)
        for B in parity.GPU_B:  # every batch size meets every sequence length
            assert {c.T for c in fp32 if c.B == B} >= set(parity.GPU_T)
        assert {(c.T, c.B, c.H) for c in fp32} >= {(63, 3, 50)}
        assert {c.reverse for c in fp32} == {True, False}
        assert {c.bias for c in fp32} == {"both", "ih", "none"}
        for dtype in ("float16", "bfloat16"):
            half = [c for c in cases if c.dtype == dtype and c.reset_after == reset_after]
            assert {c.T for c in half} == set(parity.GPU_T) and {1024, 1} <= {c.B for c in half}


def test_shards_partition_the_cases():
    every = parity.cases("gpu")
    shards = [parity.cases("gpu", (k, 3)) for k in range(3)]
    assert sorted(c.name for s in shards for c in s) == sorted(c.name for c in every)
    assert len({c.name for c in every}) == len(every)
    with pytest.raises(ValueError, match="shard"):
        parity.cases("gpu", (3, 3))
    with pytest.raises(ValueError, match="profile"):
        parity.cases("nope")


def test_merge_counts_cases_no_shard_reported_as_not_run():
    case = parity.cases("rehearsal")[0]
    row = {"name": case.name, "dtype": case.dtype, "ok": True, "errors": {"train_out": 1e-7}}
    merged = parity.merge([{"environment": {}, "rows": [row], "not_run": []}], "rehearsal")
    assert merged["passed"] == 1 and merged["failed"] == []
    assert len(merged["not_run"]) == len(parity.cases("rehearsal")) - 1
    assert merged["worst_error_by_dtype"] == {"float32": {"train_out": 1e-7}}
