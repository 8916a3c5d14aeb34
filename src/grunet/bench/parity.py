"""Parity of the triton GRU against the reference: the case matrix and the runner behind the GPU check.

Each case runs ``grunet.ops.triton_gru.gru`` twice, training (forward + backward) and inference
(``torch.no_grad()``), with every buffer the kernels write poisoned with NaN first, so an element
left unwritten shows. The reference (``grunet.ops.reference.gru``) runs in float64 on the same
inputs rounded to the case's dtype, so what is measured is the kernels' own error. For out, h_n
and the gradient of a random projection of both w.r.t. every input, the error is
``max |actual - expected| / max(1, max |expected|)`` and must stay below the dtype's tolerance.

Two profiles: ``"gpu"`` (compiled on CUDA: both variants; float32 over every B {1, 3, 16, 128, 1024}
x H {32, 50, 64, 128, 256} with T rotating through {1, 24, 96, 512}; float16/bfloat16 on a sample;
T=63, B=3, H=50) and ``"rehearsal"`` (tiny shapes, for the CPU under ``TRITON_INTERPRET=1``).
Used by ``benchmarks/cuda_parity.py`` (plain runner, writes JSON) and tests/ops/test_triton_cuda.py.

Legend:  T: time steps  B: batch  I: input features  H: hidden units
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import torch

from grunet._files import write_text  # atomic: a shard stopped from outside leaves whole JSON
from grunet.ops import reference

F64 = torch.float64
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Largest error allowed, relative to max(1, max |expected|). Without TF32 (the check turns it off).
TOL = {"float32": 1e-4, "float16": 5e-3, "bfloat16": 4e-2}
NAMES = ("out", "h_n", "x", "h0", "w_ih", "w_hh", "b_ih", "b_hh")
GPU_B = (1, 3, 16, 128, 1024)
GPU_H = (32, 50, 64, 128, 256)
GPU_T = (1, 24, 96, 512)
_I = 32


@dataclass(frozen=True)
class Case:
    """One parity case; `bias` is "both", "ih" (Keras's reset_after=False layout) or "none"."""

    T: int
    B: int
    H: int
    I: int  # noqa: E741
    dtype: str
    reset_after: bool
    reverse: bool = False
    bias: str = "both"

    @property
    def name(self) -> str:
        variant = "ra" if self.reset_after else "rb"
        return (
            f"{self.dtype}-{variant}-T{self.T}-B{self.B}-H{self.H}-I{self.I}"
            f"{'-rev' if self.reverse else ''}-bias_{self.bias}"
        )


def _gpu_cases() -> list[Case]:
    cases = []
    biases = ("both", "both", "ih", "both", "none")
    for v, reset_after in enumerate((True, False)):
        # Every (B, H) pair; T rotates so that each B and each H meets every T in each variant.
        for ib, B in enumerate(GPU_B):
            for ih, H in enumerate(GPU_H):
                T = GPU_T[(ib + ih + v) % len(GPU_T)]
                rev, bias = (ib + ih) % 2 == 1, biases[(2 * ib + ih) % len(biases)]
                cases.append(Case(T, B, H, _I, "float32", reset_after, rev, bias))
        cases.append(Case(63, 3, 50, 5, "float32", reset_after, v == 1))  # the house's awkward size
        for dtype in ("float16", "bfloat16"):
            for k, (T, B, H) in enumerate(
                ((24, 3, 50), (96, 128, 256), (512, 16, 64), (1, 1024, 128), (96, 1, 32))
            ):
                cases.append(Case(T, B, H, _I, dtype, reset_after, (k + v) % 2 == 1))
    return cases


def _rehearsal_cases() -> list[Case]:
    """Tiny shapes for the interpreter: the same code paths, a few seconds each on a CPU."""
    cases = []
    for reset_after in (True, False):
        # (2, 3, 100): W_hh streamed (HP 128 above the few-row resident limit); B=17: tl.dot.
        for k, (T, B, H) in enumerate(((5, 3, 50), (1, 17, 16), (3, 1, 16), (2, 3, 100))):
            cases.append(Case(T, B, H, 5, "float32", reset_after, k == 1, ("both", "ih")[k % 2]))
        # bfloat16 only below 9 rows: the interpreter's tl.dot multiplies bf16 bit patterns as ints.
        cases.append(Case(3, 3, 16, 5, "float16", reset_after, False))
        cases.append(Case(3, 3, 16, 5, "bfloat16", reset_after, True))
    return cases


PROFILES: dict[str, Callable[[], list[Case]]] = {"gpu": _gpu_cases, "rehearsal": _rehearsal_cases}


def cases(profile: str = "gpu", shard: tuple[int, int] = (0, 1)) -> list[Case]:
    """The cases of `profile`, most expensive first; `shard` (k, n) keeps every n-th from the k-th.

    Raises:
        ValueError: an unknown profile, or a shard k outside 0..n-1.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown parity profile {profile!r}; choose one of {sorted(PROFILES)}.")
    k, n = shard
    if not 0 <= k < n:
        raise ValueError(f"shard must be (k, n) with 0 <= k < n, got {shard}.")
    ordered = sorted(PROFILES[profile](), key=lambda c: -c.T * c.B * c.H * (c.H + c.I))
    return ordered[k::n]


def _inputs(case: Case, device: str, seed: int) -> list[torch.Tensor | None]:
    """(x, h0, w_ih, w_hh, b_ih, b_hh) in float64, already rounded to the case's dtype."""
    g = torch.Generator().manual_seed(seed)
    H, dt = case.H, DTYPES[case.dtype]

    def rnd(*shape: int, s: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=g, dtype=F64) * s).to(dt).to(device, F64)

    k = H**-0.5
    return [
        rnd(case.T, case.B, case.I),
        rnd(case.B, H, s=0.5),
        rnd(3 * H, case.I, s=k),
        rnd(3 * H, H, s=k),
        rnd(3 * H, s=k) if case.bias != "none" else None,
        rnd(3 * H, s=k) if case.bias == "both" else None,
    ]


def _train(fn: Callable, case: Case, tensors: list, dtype: torch.dtype, seed: int) -> list:
    """out, h_n and the gradients of a random projection of both w.r.t. every given input."""
    leaves = [None if t is None else t.detach().to(dtype).requires_grad_() for t in tensors]
    out, h_n = fn(*leaves, reset_after=case.reset_after, reverse=case.reverse)
    g = torch.Generator().manual_seed(seed)
    w_out = torch.randn(out.shape, generator=g, dtype=F64).to(out.device)
    w_h = torch.randn(h_n.shape, generator=g, dtype=F64).to(out.device)
    loss = (out.double() * w_out).sum() + (h_n.double() * w_h).sum()
    grads = torch.autograd.grad(loss, [t for t in leaves if t is not None])
    return [out, h_n, *grads]


def _error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |a - e| / max(1, max |e|); inf when `actual` holds a NaN or has the wrong shape."""
    if actual.shape != expected.shape or torch.isnan(actual).any():
        return float("inf")
    scale = max(1.0, expected.abs().max().item())
    return (actual.double() - expected).abs().max().item() / scale


@contextlib.contextmanager
def poisoned_buffers() -> Iterator[None]:
    """Every buffer the triton kernels write starts as NaN while this is active."""
    from grunet.ops import triton_gru  # imports triton: only when a check runs

    def nan_empty(shape, dtype, device):
        return torch.full(shape, float("nan"), dtype=dtype, device=device)

    real = triton_gru._empty
    triton_gru._empty = nan_empty
    try:
        yield
    finally:
        triton_gru._empty = real


def run_case(case: Case, device: str, seed: int = 0) -> dict:
    """Check one case: training (out, h_n, every gradient) and inference (out, h_n).

    Returns:
        The case's fields, ``errors`` (``train_<name>`` and ``infer_<name>`` -> error), ``tol``,
        ``worst`` (the largest error and its name), ``ok``, ``seconds``; ``exception`` (the last
        lines of the traceback) when the kernels raised, e.g. failed to compile.
    """
    from grunet.ops import triton_gru  # imports triton: only when a check runs

    row: dict = {"name": case.name, **asdict(case), "tol": TOL[case.dtype], "errors": {}}
    t0 = time.perf_counter()
    try:
        dtype = DTYPES[case.dtype]
        tensors = _inputs(case, device, seed)
        names = ["out", "h_n"] + [
            n for n, t in zip(NAMES[2:], tensors, strict=True) if t is not None
        ]
        expected = _train(reference.gru, case, tensors, F64, seed + 1)
        with poisoned_buffers():
            actual = _train(triton_gru.gru, case, tensors, dtype, seed + 1)
            with torch.no_grad():
                leaves = [None if t is None else t.to(dtype) for t in tensors]
                infer = triton_gru.gru(*leaves, reset_after=case.reset_after, reverse=case.reverse)
        for name, a, e in zip(names, actual, expected, strict=True):
            if a.dtype != dtype:
                raise TypeError(f"{name}: dtype {a.dtype}, want {dtype}")
            row["errors"][f"train_{name}"] = _error(a, e)
        for name, a, e in zip(("out", "h_n"), infer, expected, strict=False):
            row["errors"][f"infer_{name}"] = _error(a, e)
        if device == "cuda":
            torch.cuda.synchronize()  # an asynchronous fault belongs to this case
    except Exception as e:  # recorded as a failure of this case; the matrix goes on
        row["exception"] = "".join(traceback.format_exception(e)[-6:])[-3000:]
    row["seconds"] = round(time.perf_counter() - t0, 3)
    worst = max(row["errors"].items(), key=lambda kv: kv[1], default=(None, float("inf")))
    row["worst"] = {"name": worst[0], "error": worst[1]}
    row["ok"] = "exception" not in row and worst[1] < row["tol"]
    return row


def run_parity(
    profile: str = "gpu",
    device: str = "cuda",
    shard: tuple[int, int] = (0, 1),
    json_path: str | None = None,
    max_seconds: float | None = None,
    print_fn: Callable[[str], None] = print,
) -> dict:
    """Run the cases of `profile` (one shard of them) and report; JSON rewritten after each case.

    Args:
        profile: "gpu" or "rehearsal".
        device: "cuda", or "cpu" under the Triton interpreter (``TRITON_INTERPRET=1``).
        shard: (k, n): run every n-th case from the k-th (parallel processes share the compiles).
        json_path: where to write the report, or None.
        max_seconds: start no case after this many seconds; the rest are listed as not run.
        print_fn: receives one line per case.

    Returns:
        ``{"environment", "rows", "not_run", "passed", "failed"}``.
    """
    todo = cases(profile, shard)
    prev = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # parity is against exact float32 products
    report: dict = {"environment": _environment(profile, device, shard), "rows": [], "not_run": []}
    t0 = time.perf_counter()
    try:
        for case in todo:
            if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
                report["not_run"].append(case.name)
                continue
            row = run_case(case, device)
            report["rows"].append(row)
            worst = row["worst"]
            print_fn(
                f"{'ok  ' if row['ok'] else 'FAIL'} {case.name}: worst {worst['name']} "
                f"{worst['error']:.2e} (tol {row['tol']:.0e}) {row['seconds']:.1f}s"
                + (f"\n{row['exception']}" if "exception" in row else "")
            )
            _finish(report, json_path)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev
    return _finish(report, json_path)


def _version(*distributions: str) -> str:
    """The installed version of the first of `distributions` found (read without importing it)."""
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def _environment(profile: str, device: str, shard: tuple[int, int]) -> dict:
    env = {
        "profile": profile,
        "device": device,
        "shard": list(shard),
        "torch": torch.__version__,
        "triton": _version("triton", "pytorch-triton"),
        "interpreter": os.environ.get("TRITON_INTERPRET", "0") == "1",
    }
    if device == "cuda":
        env["gpu"] = torch.cuda.get_device_name()
    return env


def _finish(report: dict, json_path: str | None) -> dict:
    report["passed"] = sum(r["ok"] for r in report["rows"])
    report["failed"] = [r["name"] for r in report["rows"] if not r["ok"]]
    if json_path is not None:
        write_text(json_path, json.dumps(report, indent=1, default=str))
    return report


def merge(reports: list[dict], profile: str | None = None) -> dict:
    """One report from the shards' reports: every row, the not-run cases, the failures, the worst
    error per dtype and tensor. With `profile`, a case of it that no report has (a shard killed
    from outside) counts as not run."""
    rows = [r for rep in reports for r in rep["rows"]]
    not_run = {n for rep in reports for n in rep["not_run"]}
    if profile is not None:
        not_run |= {c.name for c in cases(profile)} - {r["name"] for r in rows}
    worst: dict[str, dict[str, float]] = {}
    for r in rows:
        for name, err in r["errors"].items():
            per = worst.setdefault(r["dtype"], {})
            per[name] = max(per.get(name, 0.0), err)
    return {
        "environments": [rep["environment"] for rep in reports],
        "cases": len(rows),
        "passed": sum(r["ok"] for r in rows),
        "failed": sorted(r["name"] for r in rows if not r["ok"]),
        "not_run": sorted(not_run),
        "worst_error_by_dtype": worst,
        "tolerance": TOL,
        "rows": sorted(rows, key=lambda r: r["name"]),
    }


__all__ = [
    "Case",
    "PROFILES",
    "TOL",
    "cases",
    "merge",
    "poisoned_buffers",
    "run_case",
    "run_parity",
]
