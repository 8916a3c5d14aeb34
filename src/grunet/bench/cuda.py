"""Benchmark grunet's triton GRU against torch.nn.GRU (cuDNN) on a CUDA GPU, called as users do.

Every timing is an eager module call: ``grunet.nn.GRU(..., backend="triton")`` (both variants),
``torch.nn.GRU`` (cuDNN) and ``grunet.nn.GRU(..., backend="reference")`` with the same weights,
batch-first input (B, T, I), float32. Inference runs under ``torch.no_grad()``; training is
``zero_grad(); out, h = gru(x); (out.sum() + h.sum()).backward()``. Each case is warmed up (the
first call compiles the Triton kernels), then timed with CUDA events as the median of several
repeats of a calibrated number of calls; host overhead counts, as it does for a user. Times are
microseconds per time step (call time / T); ratios are cuDNN time / grunet time (above 1: grunet is
faster). Peak memory is ``torch.cuda.max_memory_allocated`` during one training call, above what
was allocated before it.

Legend:  B: batch  T: time steps  I: input features  H: hidden units

Triton is imported only when the benchmark runs; importing this module needs no GPU.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict

import torch

from grunet.bench.timing import Point, cases, geomean  # one definition for both benchmarks

IMPLS = ("triton_ra_true", "triton_ra_false", "cudnn", "reference")
MODES = ("infer", "train")
_GRID_H = (32, 64, 128, 256)
_GRID_T = (24, 96, 512)
_GRID_B = (1, 16, 128, 1024)
_I = 32


def points(quick: bool = False) -> list[Point]:
    """The H x T x B grid at I=32 (quick: H {32, 256} x T {24} x B {1, 128})."""
    if quick:
        return [Point(B, T, _I, H) for H in (32, 256) for T in (24,) for B in (1, 128)]
    return [Point(B, T, _I, H) for H in _GRID_H for T in _GRID_T for B in _GRID_B]


def reference_runs(p: Point) -> bool:
    """The reference (a plain torch loop, ~10 launches a step) runs only at T <= 96 and B <= 128."""
    return p.T <= 96 and p.B <= 128


def _modules(p: Point) -> dict[str, torch.nn.Module]:
    from grunet.nn import GRU

    cudnn = torch.nn.GRU(p.I, p.H, batch_first=True).cuda()
    mods: dict[str, torch.nn.Module] = {"cudnn": cudnn}
    for name, backend, reset_after in (
        ("triton_ra_true", "triton", True),
        ("triton_ra_false", "triton", False),
        ("reference", "reference", True),
    ):
        if name == "reference" and not reference_runs(p):
            continue
        m = GRU(p.I, p.H, batch_first=True, reset_after=reset_after, backend=backend).cuda()
        m.load_state_dict(cudnn.state_dict())
        mods[name] = m
    return mods


def _timer(fn: Callable[[], None], repeats: int, budget_s: float) -> tuple[float, float]:
    """(median seconds per call, seconds of the first call) with CUDA events."""
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()  # compiles on first use
    torch.cuda.synchronize()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    once = max(time.perf_counter() - t0, 1e-6)
    inner = max(1, min(1000, int(budget_s / repeats / once)))
    for _ in range(min(inner, 10)):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(inner):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3 / inner)
    return statistics.median(times), first


def _peak_bytes(fn: Callable[[], None]) -> int:
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def _max_diff(mods: dict[str, torch.nn.Module], x: torch.Tensor) -> dict[str, float]:
    """max |out - cuDNN's out| for the reset_after=True implementations (a sanity check)."""
    with torch.no_grad():
        want = mods["cudnn"](x)[0]
        return {
            f"{n}_maxdiff": (mods[n](x)[0] - want).abs().max().item()
            for n in ("triton_ra_true", "reference")
            if n in mods
        }


def environment() -> dict:
    """GPU, versions and precision settings that the numbers were measured with."""
    import triton

    return {
        "gpu": torch.cuda.get_device_name(),
        "capability": ".".join(map(str, torch.cuda.get_device_capability())),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "triton": triton.__version__,
        "python": platform.python_version(),
        "dtype": "float32",
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
    }


def summarize(rows: list[dict]) -> dict:
    """Geometric means over the grid of cuDNN time / impl time, per impl and mode."""
    out: dict = {}
    for impl in IMPLS:
        if impl == "cudnn":
            continue
        for mode in MODES:
            ratios = [
                r[f"cudnn_{mode}_us"] / r[f"{impl}_{mode}_us"]
                for r in rows
                if r.get(f"{impl}_{mode}_us")
            ]
            out[f"{impl}_{mode}_speedup_vs_cudnn_geomean"] = geomean(ratios)
            out[f"{impl}_{mode}_points"] = len(ratios)
    return out


def format_table(rows: list[dict]) -> list[str]:
    head = f"{'H':>4} {'T':>4} {'B':>5} | " + " | ".join(
        f"{mode} us/step: tri_ra tri_rb cudnn ref  (x cudnn)" for mode in MODES
    )
    lines = [head]
    fmt = lambda v: f"{v:7.2f}" if v is not None else "      -"  # noqa: E731
    for r in rows:
        parts = []
        for mode in MODES:
            us = [r.get(f"{i}_{mode}_us") for i in IMPLS]
            ratio = r[f"cudnn_{mode}_us"] / r[f"triton_ra_true_{mode}_us"]
            parts.append(" ".join(fmt(v) for v in us) + f"  {ratio:5.2f}x")
        mem = r["triton_ra_true_train_peak_mb"], r["cudnn_train_peak_mb"]
        lines.append(
            f"{r['H']:>4} {r['T']:>4} {r['B']:>5} | "
            + " | ".join(parts)
            + f" | peak MB tri {mem[0]:.1f} cudnn {mem[1]:.1f}"
        )
    return lines


def run_cuda_bench(
    quick: bool = False,
    json_path: str | None = None,
    print_fn: Callable[[str], None] = print,
    *,
    repeats: int | None = None,
    budget_s: float | None = None,
    tf32: bool = False,
) -> list[dict]:
    """Time the triton backend (both GRU variants), cuDNN and the reference on one CUDA GPU.

    Args:
        quick: a small subset of the grid, fewer repeats.
        json_path: where to write the environment, summary and rows as JSON, or None.
        print_fn: receives the table and summary lines (text).
        repeats: timed blocks per case (median taken); default 5 (3 when quick).
        budget_s: seconds of timed calls per case; default 0.2 (0.05 when quick).
        tf32: allow TF32 in matmuls and cuDNN (default: exact fp32 in grunet's kernels and
            torch's matmuls; cuDNN keeps torch's own default, recorded in the environment).

    Returns:
        One dict per shape: B, T, I, H, ``{impl}_{infer|train}_us`` (microseconds per time step,
        None where skipped), ``{impl}_train_peak_mb``, ``{impl}_first_call_s`` and sanity diffs.

    Raises:
        RuntimeError: no CUDA GPU is available, or triton is not installed.
    """
    if not torch.cuda.is_available():
        raise RuntimeError(
            "grunet bench --device cuda needs a CUDA GPU (torch.cuda.is_available() is False)."
        )
    try:
        import triton  # noqa: F401
    except ImportError as e:
        raise RuntimeError("the triton backend needs triton: pip install 'grunet[triton]'.") from e
    prev = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    if tf32:
        torch.backends.cudnn.allow_tf32 = True
    try:
        return _run(quick, json_path, print_fn, repeats, budget_s)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = prev


def _run(quick, json_path, print_fn, repeats, budget_s) -> list[dict]:
    repeats = repeats or (3 if quick else 5)
    budget_s = budget_s or (0.05 if quick else 0.2)
    env = environment()
    print_fn(
        f"grunet bench (cuda) on {env['gpu']}: float32, I={_I}, batch-first modules, us per time "
        f"step; TF32 matmul={env['matmul_allow_tf32']} cudnn={env['cudnn_allow_tf32']}; reference "
        "only at T <= 96 and B <= 128"
    )
    print_fn(format_table([])[0])
    rows = []
    torch.manual_seed(0)
    for p in points(quick):
        x = torch.randn(p.B, p.T, p.I, device="cuda")
        mods = _modules(p)
        row: dict = {**asdict(p), **_max_diff(mods, x)}
        for name in IMPLS:
            for mode in MODES:
                row[f"{name}_{mode}_us"] = None
            row[f"{name}_train_peak_mb"] = None
            row[f"{name}_first_call_s"] = None
        for name, mod in mods.items():
            timed = cases(mod, x)
            for mode, fn in timed.items():
                sec, first = _timer(fn, repeats, budget_s)
                row[f"{name}_{mode}_us"] = sec / p.T * 1e6
                if mode == "infer":
                    row[f"{name}_first_call_s"] = first
            row[f"{name}_train_peak_mb"] = _peak_bytes(cases["train"]) / 2**20
        rows.append(row)
        print_fn(format_table([row])[-1])
        del mods, x
        torch.cuda.empty_cache()
    summary = summarize(rows)
    for key, value in summary.items():
        print_fn(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    if json_path is not None:
        with open(json_path, "w") as f:
            json.dump({"environment": env, "summary": summary, "rows": rows}, f, indent=1)
        print_fn(f"wrote {json_path}")
    return rows


__all__ = ["IMPLS", "Point", "points", "run_cuda_bench"]
