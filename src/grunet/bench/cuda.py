"""Benchmark grunet's triton GRU against torch.nn.GRU (cuDNN) on a CUDA GPU, called as users do.

Every timing is an eager module call: ``grunet.nn.GRU(..., backend="triton")`` (both variants),
``torch.nn.GRU`` (cuDNN) and ``grunet.nn.GRU(..., backend="reference")`` with the same weights,
batch-first input (B, T, I), float32. Inference runs under ``torch.no_grad()``; training is
``zero_grad(); out, h = gru(x); out.sum().backward()``. Each case is warmed up (the first call
compiles the Triton kernels), then timed with CUDA events as the median of several repeats of a
calibrated number of calls; host overhead counts, as it does for a user. Times are microseconds per
time step (call time / T); ``x_cudnn`` ratios are cuDNN time / grunet time (above 1: grunet is
faster); ``rb_over_ra`` is the article's variant's time over reset_after=True's (triton both).
Peak memory is ``torch.cuda.max_memory_allocated`` during one training call, above what was
allocated before it. cuDNN keeps torch's TF32 default (``torch.backends.cudnn.allow_tf32``);
grunet's kernels and torch's matmuls run exact fp32 unless ``tf32=True``.

The rows say, per point and mode, which of triton and cuDNN was faster for reset_after=True
(``auto_ra_true_<mode>``): the data the registry's auto-routing table is written from.

``rehearsal=True`` runs two tiny points on the CPU under the Triton interpreter
(``TRITON_INTERPRET=1``; "cudnn" is then torch.nn.GRU on the CPU): the numbers mean nothing, the
code paths are those of the GPU run.

Legend:  B: batch  T: time steps  I: input features  H: hidden units

Triton is imported only when the benchmark runs; importing this module needs no GPU.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict

import torch

from grunet._files import write_text  # atomic: a run stopped from outside leaves whole JSON
from grunet.bench.timing import Point, cases, geomean, timer  # shared with the CPU benchmark

IMPLS = ("triton_ra_true", "triton_ra_false", "cudnn", "reference")
MODES = ("infer", "train")
TARGETS = {"train_x_cudnn": 3.0, "infer_x_cudnn": 2.0, "rb_over_ra": 1.2}  # from the issue
_GRID_H = (32, 64, 128, 256)
_GRID_T = (24, 96, 512)
_GRID_B = (1, 16, 128, 1024)
_I = 32


def points(quick: bool = False, rehearsal: bool = False) -> list[Point]:
    """The H x T x B grid at I=32, its quick subset first (quick: H {32, 256} x T {24} x B {1, 128}).

    A run cut short by its time limit has then measured the corners of the grid. Rehearsal: two
    tiny points (I=4) for the interpreter.
    """
    if rehearsal:
        return [Point(B, 3, 4, 16) for B in (1, 3)]
    first = [Point(B, T, _I, H) for H in (32, 256) for T in (24,) for B in (1, 128)]
    if quick:
        return first
    grid = [Point(B, T, _I, H) for H in _GRID_H for T in _GRID_T for B in _GRID_B]
    return first + [p for p in grid if p not in first]


def reference_runs(p: Point) -> bool:
    """The reference (a plain torch loop, ~10 launches a step) runs only at T <= 96 and B <= 128."""
    return p.T <= 96 and p.B <= 128


def _modules(p: Point, device: str) -> dict[str, torch.nn.Module]:
    from grunet.nn import GRU

    cudnn = torch.nn.GRU(p.I, p.H, batch_first=True).to(device)
    mods: dict[str, torch.nn.Module] = {"cudnn": cudnn}
    for name, backend, reset_after in (
        ("triton_ra_true", "triton", True),
        ("triton_ra_false", "triton", False),
        ("reference", "reference", True),
    ):
        if name == "reference" and not reference_runs(p):
            continue
        m = GRU(p.I, p.H, batch_first=True, reset_after=reset_after, backend=backend).to(device)
        m.load_state_dict(cudnn.state_dict())
        mods[name] = m
    return mods


def _cuda_timer(fn: Callable[[], None], repeats: int, budget_s: float) -> tuple[float, float]:
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


def _cpu_timer(fn: Callable[[], None], repeats: int, budget_s: float) -> tuple[float, float]:
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    return timer(fn, repeats, budget_s, lambda: None)[0], first


def _peak_mb(fn: Callable[[], None], device: str) -> float | None:
    if device != "cuda":
        return None
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def _max_diff(mods: dict[str, torch.nn.Module], x: torch.Tensor, name: str) -> float:
    """max |out - cuDNN's out| of a reset_after=True implementation (a sanity check)."""
    with torch.no_grad():
        return (mods[name](x)[0] - mods["cudnn"](x)[0]).abs().max().item()


def _measure(row, name, mods, x, time_it, repeats, budget_s, device) -> None:
    """Time `name` at one point into `row`: us/step per mode, first-call seconds, peak memory."""
    T = x.shape[1]
    if name in ("triton_ra_true", "reference"):
        row[f"{name}_maxdiff"] = _max_diff(mods, x, name)
    timed = cases(mods[name], x)
    for mode, fn in timed.items():
        sec, first = time_it(fn, repeats, budget_s)
        row[f"{name}_{mode}_us"] = sec / T * 1e6
        row[f"{name}_first_call_s"] = row[f"{name}_first_call_s"] or first
    row[f"{name}_train_peak_mb"] = _peak_mb(timed["train"], device)


def environment(device: str = "cuda") -> dict:
    """Device, versions and precision settings that the numbers were measured with."""
    import triton

    env = {
        "device": device,
        "interpreter": os.environ.get("TRITON_INTERPRET", "0") == "1",
        "torch": torch.__version__,
        "triton": triton.__version__,
        "python": platform.python_version(),
        "dtype": "float32",
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        env |= {
            "gpu": torch.cuda.get_device_name(),
            "capability": ".".join(map(str, torch.cuda.get_device_capability())),
            "sm_count": props.multi_processor_count,
            "gpu_memory_gb": round(props.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }
    return env


def derive(row: dict) -> dict:
    """Add ratios to one row: ``{impl}_{mode}_x_cudnn``, ``rb_over_ra_{mode}``, ``auto_ra_true_{mode}``."""
    for mode in MODES:
        base = row.get(f"cudnn_{mode}_us")
        for impl in IMPLS:
            us = row.get(f"{impl}_{mode}_us")
            if impl != "cudnn":
                row[f"{impl}_{mode}_x_cudnn"] = base / us if base and us else None
        ra, rb = row.get(f"triton_ra_true_{mode}_us"), row.get(f"triton_ra_false_{mode}_us")
        row[f"rb_over_ra_{mode}"] = rb / ra if ra and rb else None
        if ra and base:
            row[f"auto_ra_true_{mode}"] = "triton" if ra < base else "cudnn"
    return row


def summarize(rows: list[dict]) -> dict:
    """Geometric means over the rows, the issue's targets met or not, the routing evidence."""
    out: dict = {}
    for mode in MODES:
        for impl in IMPLS:
            if impl == "cudnn":
                continue
            ratios = [r[k] for r in rows if (r.get(k := f"{impl}_{mode}_x_cudnn"))]
            out[f"{impl}_{mode}_x_cudnn_geomean"] = geomean(ratios)
            out[f"{impl}_{mode}_points"] = len(ratios)
        rb = [r[k] for r in rows if r.get(k := f"rb_over_ra_{mode}")]
        out[f"rb_over_ra_{mode}_geomean"] = geomean(rb)
        out[f"rb_over_ra_{mode}_max"] = max(rb, default=None)
        wins = [_key(r) for r in rows if r.get(f"auto_ra_true_{mode}") == "triton"]
        out[f"ra_true_{mode}_triton_faster_at"] = wins
        out[f"ra_true_{mode}_cudnn_faster_at"] = [
            _key(r) for r in rows if r.get(f"auto_ra_true_{mode}") == "cudnn"
        ]
        out[f"ra_false_{mode}_slower_than_cudnn_at"] = [
            _key(r) for r in rows if _below_one(r.get(f"triton_ra_false_{mode}_x_cudnn"))
        ]
    for impl in IMPLS:
        out[f"{impl}_failed_at"] = [_key(r) for r in rows if f"{impl}_error" in r]
    targets = {}
    for mode in MODES:
        value = out[f"triton_ra_true_{mode}_x_cudnn_geomean"]
        want = TARGETS[f"{mode}_x_cudnn"]
        targets[f"triton_ra_true_{mode}_x_cudnn_geomean"] = _target(value, ">=", want)
        value = out[f"rb_over_ra_{mode}_geomean"]
        targets[f"rb_over_ra_{mode}_geomean"] = _target(value, "<=", TARGETS["rb_over_ra"])
    out["targets"] = targets
    return out


def _below_one(ratio: float | None) -> bool:
    return ratio is not None and ratio < 1


def _key(row: dict) -> str:
    return f"H{row['H']}-T{row['T']}-B{row['B']}"


def _target(value: float, op: str, want: float) -> dict:
    met = value == value and (value >= want if op == ">=" else value <= want)  # NaN: not met
    return {"value": value, "target": f"{op} {want}", "met": bool(met)}


def format_table(rows: list[dict]) -> list[str]:
    head = f"{'H':>4} {'T':>4} {'B':>5} | " + " | ".join(
        f"{mode} us/step: tri_ra tri_rb cudnn ref  (x cudnn) rb/ra" for mode in MODES
    )
    lines = [head]
    fmt = lambda v, w=7: f"{v:{w}.2f}" if v is not None else " " * (w - 1) + "-"  # noqa: E731
    for r in rows:
        parts = []
        for mode in MODES:
            us = [r.get(f"{i}_{mode}_us") for i in IMPLS]
            ratio, rb = r.get(f"triton_ra_true_{mode}_x_cudnn"), r.get(f"rb_over_ra_{mode}")
            parts.append(" ".join(fmt(v) for v in us) + f"  {fmt(ratio, 5)}x {fmt(rb, 5)}")
        mem = r.get("triton_ra_true_train_peak_mb"), r.get("cudnn_train_peak_mb")
        lines.append(
            f"{r['H']:>4} {r['T']:>4} {r['B']:>5} | "
            + " | ".join(parts)
            + f" | peak MB tri {fmt(mem[0], 1)} cudnn {fmt(mem[1], 1)}"
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
    max_seconds: float | None = None,
    rehearsal: bool = False,
) -> list[dict]:
    """Time the triton backend (both GRU variants), cuDNN and the reference on one CUDA GPU.

    Args:
        quick: a small subset of the grid, fewer repeats.
        json_path: where to write the environment, summary and rows as JSON (rewritten after
            every point, so a run stopped from outside keeps what it measured), or None.
        print_fn: receives the table and summary lines (text).
        repeats: timed blocks per case (median taken); default 5 (3 when quick).
        budget_s: seconds of timed calls per case; default 0.1 (0.05 when quick).
        tf32: allow TF32 in grunet's kernels and torch's matmuls (cuDNN keeps torch's default,
            recorded in the environment, either way).
        max_seconds: start no new point after this many seconds (the JSON says what was left).
        rehearsal: two tiny points on the CPU under the Triton interpreter (no GPU needed).

    Returns:
        One dict per shape: B, T, I, H, ``{impl}_{infer|train}_us`` (microseconds per time step,
        None where skipped), ratios (see `derive`), ``{impl}_train_peak_mb``,
        ``{impl}_first_call_s`` (the first inference call: Triton compiles then), sanity diffs
        and ``{impl}_error`` where an implementation failed at that point.

    Raises:
        RuntimeError: no CUDA GPU is available (or, rehearsing, TRITON_INTERPRET is not 1), or
            triton is not installed.
    """
    device = "cpu" if rehearsal else "cuda"
    if rehearsal and os.environ.get("TRITON_INTERPRET", "0") != "1":
        raise RuntimeError("a rehearsal runs under the Triton interpreter: set TRITON_INTERPRET=1.")
    if not rehearsal and not torch.cuda.is_available():
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
        pts = points(quick, rehearsal)
        repeats = repeats or (3 if quick or rehearsal else 5)
        budget_s = budget_s or (0.05 if quick or rehearsal else 0.1)
        return _run(pts, device, json_path, print_fn, repeats, budget_s, max_seconds)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = prev


def _run(pts, device, json_path, print_fn, repeats, budget_s, max_seconds) -> list[dict]:
    env = environment(device)
    print_fn(
        f"grunet bench ({device}) on {env.get('gpu', 'the CPU, Triton interpreter')}: float32, "
        f"batch-first modules, us per time step; TF32 matmul={env['matmul_allow_tf32']} "
        f"cudnn={env['cudnn_allow_tf32']}; reference only at T <= 96 and B <= 128"
    )
    print_fn(format_table([])[0])
    time_it = _cuda_timer if device == "cuda" else _cpu_timer
    rows: list[dict] = []
    left = [asdict(p) for p in pts]
    t_start = time.perf_counter()
    torch.manual_seed(0)
    for p in pts:
        if max_seconds is not None and time.perf_counter() - t_start > max_seconds:
            print_fn(f"time limit ({max_seconds:.0f} s): {len(left)} points not measured")
            break
        x = torch.randn(p.B, p.T, p.I, device=device)
        mods = _modules(p, device)
        row: dict = asdict(p)
        for name in IMPLS:
            for mode in MODES:
                row[f"{name}_{mode}_us"] = None
            row[f"{name}_train_peak_mb"] = None
            row[f"{name}_first_call_s"] = None
        for name in mods:
            try:
                _measure(row, name, mods, x, time_it, repeats, budget_s, device)
            except Exception as e:  # e.g. a kernel that does not compile: recorded, grid goes on
                row[f"{name}_error"] = f"{type(e).__name__}: {e}"[:2000]
                print_fn(f"{_key(row)} {name} FAILED: {row[f'{name}_error'][:300]}")
        rows.append(derive(row))
        left.remove(asdict(p))
        print_fn(format_table([row])[-1])
        _write(json_path, env, rows, left)
        del mods, x
        if device == "cuda":
            torch.cuda.empty_cache()
    summary = _write(json_path, env, rows, left)
    for key, value in summary.items():
        if key == "targets":
            for name, t in value.items():
                met = "met" if t["met"] else "MISSED"
                print_fn(f"target {name} {t['target']}: {t['value']:.3f} {met}")
        else:
            print_fn(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    if json_path is not None:
        print_fn(f"wrote {json_path}")
    return rows


def _write(json_path: str | None, env: dict, rows: list[dict], left: list[dict]) -> dict:
    summary = summarize(rows)
    if json_path is not None:
        ordered = sorted(rows, key=lambda r: (r["H"], r["T"], r["B"]))
        doc = {"environment": env, "summary": summary, "rows": ordered, "not_measured": left}
        write_text(json_path, json.dumps({"complete": not left, **doc}, indent=1))
    return summary


__all__ = ["IMPLS", "TARGETS", "Point", "derive", "points", "run_cuda_bench", "summarize"]
