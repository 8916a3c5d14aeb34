"""Benchmark grunet's GRU backends against torch.nn.GRU, called the way users call them.

Every timing is a module call: ``grunet.nn.GRU(..., backend=...)`` and ``torch.nn.GRU`` with the
same weights, batch-first input (B, T, I). Inference runs under ``torch.no_grad()``; training is
``out, _ = gru(x); out.sum().backward()``. Each case is warmed up, then timed as the median of
several repeats of a calibrated number of calls. Times are reported in microseconds per time step
(call time / T); ratios are torch time / grunet time (above 1: grunet is faster).

Legend:  B: batch  T: time steps  I: input features  H: hidden units
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict

import torch

from grunet.bench.timing import Point, cases, geomean, timer

IMPLS = ("cpu_ra_true", "cpu_ra_false", "reference", "torch")
_GRID_H = (32, 64, 128, 256)
_GRID_B = (1, 16, 128)
_GRID_T = (24, 96)
_GRID_I = 8


def points(quick: bool = False) -> list[Point]:
    """The benchmark shapes: the H x B x T grid (I=8), the article's shape and a long sequence."""
    if quick:
        grid = [Point(B, T, _GRID_I, H) for H in (32, 128) for B in (1, 16) for T in (24,)]
    else:
        grid = [Point(B, T, _GRID_I, H) for H in _GRID_H for B in _GRID_B for T in _GRID_T]
    return grid + [Point(1, 1, 1, 50, "article"), Point(1, 512, _GRID_I, 64, "long")]


def _modules(p: Point, device: str) -> dict[str, torch.nn.Module]:
    from grunet.nn import GRU

    ref = torch.nn.GRU(p.I, p.H, batch_first=True).to(device)
    mods: dict[str, torch.nn.Module] = {"torch": ref}
    for name, backend, reset_after in (
        ("cpu_ra_true", "cpu", True),
        ("cpu_ra_false", "cpu", False),
        ("reference", "reference", True),
    ):
        m = GRU(p.I, p.H, batch_first=True, reset_after=reset_after, backend=backend).to(device)
        m.load_state_dict(ref.state_dict())
        mods[name] = m
    return mods


def cpu_info() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else platform's description."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Threads, versions and CPU that the numbers were measured with."""
    import numba

    return {
        "cpu": cpu_info(),
        "logical_cpus": __import__("os").cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": numba.config.THREADING_LAYER,
        "torch": torch.__version__,
        "numba": numba.__version__,
        "python": platform.python_version(),
    }


def run_bench(
    device: str = "cpu",
    quick: bool = False,
    json_path: str | None = None,
    print_fn: Callable[[str], None] = print,
    *,
    repeats: int | None = None,
    budget_s: float | None = None,
    reference_limit_s: float = 0.05,
) -> list[dict]:
    """Time grunet (cpu backend, both variants; reference backend) against torch.nn.GRU.

    Args:
        device: "cpu" (the cpu backend runs on CPU only).
        quick: a small subset of the grid, fewer repeats.
        json_path: where to write the rows and the environment as JSON, or None.
        print_fn: receives the table and summary lines (text).
        repeats: timed blocks per case (median taken); default 5 (3 when quick).
        budget_s: seconds of timed calls per case; default 0.25 (0.08 when quick).
        reference_limit_s: the reference backend is skipped for a case whose single call takes
            longer than this (it is a plain torch loop, there for scale only).

    Returns:
        One dict per shape: B, T, I, H, group, and ``{impl}_{infer|train}_us`` (microseconds per
        time step, None where skipped) for impl in `IMPLS`, plus the torch/grunet ratios.
    """
    if device != "cpu":
        raise ValueError(f"run_bench: the cpu backend benchmarks on CPU only, got {device!r}.")
    repeats = repeats or (3 if quick else 5)
    budget_s = budget_s or (0.08 if quick else 0.25)
    sync = (lambda: None) if device == "cpu" else torch.cuda.synchronize
    env = environment()
    print_fn(
        f"grunet bench on {env['cpu']}: torch threads {env['torch_threads']}, "
        f"numba threads {env['numba_threads']}, float32, batch-first modules, us per time step"
    )
    rows = []
    torch.manual_seed(0)
    for p in points(quick):
        x = torch.randn(p.B, p.T, p.I, device=device)
        row: dict = asdict(p)
        for name, mod in _modules(p, device).items():
            for mode, fn in cases(mod, x).items():
                key = f"{name}_{mode}_us"
                if name == "reference":
                    t0 = time.perf_counter()
                    fn()
                    if time.perf_counter() - t0 > reference_limit_s:
                        row[key] = None
                        continue
                sec, _ = timer(fn, repeats, budget_s, sync)
                row[key] = sec / p.T * 1e6
        for mode in ("infer", "train"):
            row[f"ratio_{mode}"] = row[f"torch_{mode}_us"] / row[f"cpu_ra_true_{mode}_us"]
            row[f"ra_false_over_true_{mode}"] = (
                row[f"cpu_ra_false_{mode}_us"] / row[f"cpu_ra_true_{mode}_us"]
            )
        rows.append(row)
    for line in format_table(rows):
        print_fn(line)
    summary = summarize(rows)
    for line in format_summary(summary):
        print_fn(line)
    if json_path is not None:
        with open(json_path, "w") as f:
            json.dump({"environment": env, "summary": summary, "rows": rows}, f, indent=1)
    return rows


def summarize(rows: list[dict]) -> dict:
    """Geometric means over the grid, the worst ratios anywhere, reset_after False/True."""
    grid = [r for r in rows if r["group"] == "grid"]
    out = {}
    for mode in ("infer", "train"):
        out[f"geomean_ratio_{mode}_grid"] = geomean([r[f"ratio_{mode}"] for r in grid])
        out[f"min_ratio_{mode}"] = min(r[f"ratio_{mode}"] for r in rows)
        out[f"geomean_ra_false_over_true_{mode}_grid"] = geomean(
            [r[f"ra_false_over_true_{mode}"] for r in grid]
        )
        out[f"max_ra_false_over_true_{mode}"] = max(r[f"ra_false_over_true_{mode}"] for r in rows)
    return out


def _fmt(v: float | None) -> str:
    if v is None:
        return "skipped"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def format_table(rows: list[dict]) -> list[str]:
    """The rows as aligned text lines (us per step; ratios torch / grunet cpu reset_after=True)."""
    head = ["group", "B", "T", "I", "H"]
    cols = [f"{n}_{m}" for m in ("infer", "train") for n in IMPLS]
    names = head + [c.replace("_ra_", "_") for c in cols] + ["x_infer", "x_train", "F/T_tr"]
    table = [names]
    for r in rows:
        table.append(
            [str(r[k]) for k in head]
            + [_fmt(r[f"{c}_us"]) for c in cols]
            + [
                f"{r['ratio_infer']:.2f}",
                f"{r['ratio_train']:.2f}",
                f"{r['ra_false_over_true_train']:.2f}",
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(names))]
    return ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=False)) for row in table]


def format_summary(s: dict) -> list[str]:
    return [
        f"geomean torch/grunet over the grid: inference {s['geomean_ratio_infer_grid']:.2f}x, "
        f"training {s['geomean_ratio_train_grid']:.2f}x",
        f"worst case anywhere: inference {s['min_ratio_infer']:.2f}x, "
        f"training {s['min_ratio_train']:.2f}x",
        f"reset_after False/True time: geomean inference "
        f"{s['geomean_ra_false_over_true_infer_grid']:.2f}, training "
        f"{s['geomean_ra_false_over_true_train_grid']:.2f}; worst "
        f"{s['max_ra_false_over_true_infer']:.2f} / {s['max_ra_false_over_true_train']:.2f}",
        "(reference: 'skipped' where one call exceeds the time limit; it is a plain torch loop)",
    ]
