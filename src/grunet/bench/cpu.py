"""Benchmark grunet's CPU GRU against ONNX Runtime and torch.nn.GRU, called as users call them.

Same weights everywhere, batch-first input (B, T, I), float32. grunet runs as
``grunet.nn.GRU(..., backend="cpu")`` (reset_after True, and False: the article's variant),
torch as ``torch.nn.GRU``, ONNX Runtime as an ``InferenceSession`` of one ONNX GRU node
(`grunet.bench.onnx_runtime`). Inference runs under ``torch.no_grad()``; training (grunet and
torch only) is ``out, _ = gru(x); out.sum().backward()``. Each case is warmed up, then timed as
the median (or fastest) of several blocks of a calibrated number of calls, in one process, the
blocks of a point's cases interleaved (`timing.interleaved`), once with one thread for everyone
and once with all cores. Times are microseconds per
time step (call time / T); ratios are other / grunet (above 1: grunet is faster).

Legend:  B: batch  T: time steps  I: input features  H: hidden units
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
from collections.abc import Callable
from dataclasses import asdict

import numba
import torch

from grunet.bench import onnx_runtime
from grunet.bench.timing import Point, cases, geomean, interleaved

INFER = ("grunet", "grunet_ra_false", "ort", "torch")
TRAIN = ("grunet", "grunet_ra_false", "torch")
GRID_B, GRID_T, GRID_H, GRID_I = (1, 16, 128), (1, 24, 96, 512), (32, 64, 128, 256), 8
# The article's model one observation at a time (`_streaming`): timed with no_grad held, as a
# serving loop would hold it (the grid's ``infer`` cases enter it per call).
STREAM = ("grunet_call", "stepper_stream", "gru_stepper_stream", "ort_stream")


def points(quick: bool = False) -> list[Point]:
    """The issue's grid (B x T x H, I=8) and the article's model (B=T=I=1, H=50)."""
    if quick:
        grid = [Point(B, T, GRID_I, H) for H in (32, 128) for B in (1, 16) for T in (1, 96)]
    else:
        grid = [Point(B, T, GRID_I, H) for B in GRID_B for T in GRID_T for H in GRID_H]
    return [Point(1, 1, 1, 50, "article")] + grid


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
    """Versions and CPU the numbers were measured with."""
    env = {
        "cpu": cpu_info(),
        "logical_cpus": os.cpu_count(),
        "torch": torch.__version__,
        "numba": numba.__version__,
        "python": platform.python_version(),
    }
    if onnx_runtime.available():
        import onnxruntime

        env["onnxruntime"] = onnxruntime.__version__
    return env


def _set_threads(n: int) -> None:
    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def _point(p: Point, all_cores: bool, train: bool, repeats, budget_s, stat: str) -> dict:
    from grunet.nn import GRU

    torch.manual_seed(p.B * 1000 + p.T + p.H)
    ref = torch.nn.GRU(p.I, p.H, batch_first=True)
    mods = {"torch": ref}
    for name, reset_after in (("grunet", True), ("grunet_ra_false", False)):
        m = GRU(p.I, p.H, batch_first=True, reset_after=reset_after, backend="cpu")
        m.load_state_dict(ref.state_dict())
        mods[name] = m
    x = torch.randn(p.B, p.T, p.I)
    row: dict = {**asdict(p), "threads": "all" if all_cores else 1}
    fns: dict[str, Callable[[], None]] = {}
    for name, mod in mods.items():
        c = cases(mod, x)
        fns[f"{name}_infer"] = c["infer"]
        if train:
            fns[f"{name}_train"] = c["train"]
    if onnx_runtime.available():
        x_np = x.transpose(0, 1).contiguous().numpy()  # (T, B, I): ORT's CPU GRU layout
        for name, reset_after in (("ort", True), ("ort_ra_false", False)):
            run = onnx_runtime.session(ref, 0 if all_cores else 1, reset_after)
            with torch.no_grad():
                want = mods["grunet" if reset_after else "grunet_ra_false"](x)[0]
            got = torch.from_numpy(run(x_np)[0][:, 0]).transpose(0, 1)  # (B, T, H)
            row[f"{name}_max_abs_diff"] = float((got - want).abs().max())
            fns[f"{name}_infer"] = lambda run=run, x_np=x_np: run(x_np)
    if p.group == "article":
        fns.update(_streaming(mods["grunet"], x, all_cores, row))
    secs = interleaved(
        fns,
        repeats,
        budget_s,
        stat,
        lambda key: torch.no_grad() if key in STREAM else contextlib.nullcontext(),
    )
    for key, sec in secs.items():
        row[f"{key}_us"] = sec / p.T * 1e6
    for other in ("ort", "torch"):
        if f"{other}_infer_us" in row:
            row[f"{other}_over_grunet_infer"] = row[f"{other}_infer_us"] / row["grunet_infer_us"]
    row["ra_false_over_true_infer"] = row["grunet_ra_false_infer_us"] / row["grunet_infer_us"]
    if train:
        row["torch_over_grunet_train"] = row["torch_train_us"] / row["grunet_train_us"]
        row["ra_false_over_true_train"] = row["grunet_ra_false_train_us"] / row["grunet_train_us"]
    return row


def _streaming(gru, x: torch.Tensor, all_cores: bool, row: dict) -> dict[str, Callable[[], None]]:
    """The article's model one observation at a time (B = T = 1): the cases of issue 15.

    ``call``: the one-step module call (timed with ``no_grad`` held, see `STREAM`; the ``infer``
    column enters it per call, ~1 us more);
    ``stepper``: ``grunet.streaming.Stepper`` of GRU(50) + Dense(1), numpy in and out;
    ``gru_stepper``: ``grunet.ops.cpu.GRUStepper`` (the GRU layer alone);
    ``ort_stream``: ONNX Runtime running GRU + Dense on x and the carried state, the state fed
    back each step (its outputs are checked against the Stepper's).
    """
    import numpy as np

    from grunet import layers
    from grunet.models import Sequential
    from grunet.ops.cpu import GRUStepper
    from grunet.streaming import Stepper

    model = Sequential([layers.GRU(gru.hidden_size, input_shape=(1, 1)), layers.Dense(1)])
    rnn, dense = model.layers
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(rnn, name).copy_(getattr(gru, f"{name}_l0"))
    stepper = Stepper(model)
    gru_stepper = GRUStepper.from_module(gru)  # the same weights
    x_np = x[0, 0].numpy()  # (1,): one observation of one feature
    x_row = x_np.reshape(1, 1)
    cases: dict[str, Callable[[], None]] = {
        "stepper_stream": lambda: stepper.step(x_np),
        "gru_stepper_stream": lambda: gru_stepper.step(x_row),
        "grunet_call": lambda: gru(x),
    }
    if onnx_runtime.available():
        kernel, bias = dense.kernel.detach().numpy(), dense.bias.detach().numpy()
        ort_step = onnx_runtime.stream_session(gru, kernel, bias, 0 if all_cores else 1)
        x_ort = x_row.reshape(1, 1, 1)
        diff = 0.0
        for _ in range(5):
            diff = max(diff, float(np.abs(ort_step(x_ort) - stepper.step(x_np)).max()))
        row["ort_stream_max_abs_diff"] = diff
        cases["ort_stream"] = lambda: ort_step(x_ort)
    return cases


def run_bench(
    device: str = "cpu",
    quick: bool = False,
    json_path: str | None = None,
    print_fn: Callable[[str], None] = print,
    *,
    repeats: int | None = None,
    budget_s: float | None = None,
    threads: tuple[str, ...] = ("1", "all"),
    train: bool = True,
    stat: str = "median",
) -> list[dict]:
    """Time grunet's cpu backend (both variants) against ONNX Runtime and torch.nn.GRU.

    Args:
        device: "cpu" (the cpu backend runs on CPU only).
        quick: a small subset of the grid, fewer repeats.
        json_path: where to write the rows, summaries and environment as JSON, or None.
        print_fn: receives the table and summary lines (text).
        repeats: timed blocks per case (median taken); default 5 (3 when quick).
        budget_s: seconds of timed calls per case; default 0.2 (0.05 when quick).
        threads: "1" (everyone on one thread) and/or "all" (every core).
        train: also time training (grunet and torch).
        stat: "median" of the timed blocks, or "min" (steadier on a shared, busy machine).

    Returns:
        One dict per (threads, shape): B, T, I, H, group, threads, ``{impl}_{infer|train}_us``
        (microseconds per time step) and the ratios other / grunet.
    """
    if device != "cpu":
        raise ValueError(f"run_bench: the cpu backend benchmarks on CPU only, got {device!r}.")
    bad = [t for t in threads if t not in ("1", "all")]
    if bad:
        raise ValueError(f"run_bench: threads must be '1' or 'all', got {bad}.")
    repeats = repeats or (3 if quick else 5)
    budget_s = budget_s or (0.05 if quick else 0.2)
    env = environment()
    if not onnx_runtime.available():
        print_fn("onnxruntime is not installed (pip install grunet[onnx]): no ORT columns.")
    print_fn(
        f"grunet bench on {env['cpu']} ({env['logical_cpus']} logical CPUs), float32, batch-first "
        f"modules, us per time step ({stat} of {repeats} blocks); ratios: other / grunet"
    )
    rows, summaries = [], {}
    saved = (torch.get_num_threads(), numba.get_num_threads())
    try:
        for t in threads:
            all_cores = t == "all"
            _set_threads((os.cpu_count() or 1) if all_cores else 1)
            print_fn(f"-- threads: {t}")
            part = []
            for line in format_table([], train)[:1]:
                print_fn(line)
            for p in points(quick):
                part.append(_point(p, all_cores, train, repeats, budget_s, stat))
                print_fn(format_table(part[-1:], train)[-1])
                if p.group == "article":
                    print_fn(format_streaming(part[-1]))
            summaries[t] = summarize(part)
            for line in format_summary(summaries[t]):
                print_fn(line)
            rows += part
    finally:
        torch.set_num_threads(saved[0])
        numba.set_num_threads(saved[1])
    if json_path is not None:
        with open(json_path, "w") as f:
            json.dump({"environment": env, "summary": summaries, "rows": rows}, f, indent=1)
    return rows


def summarize(rows: list[dict]) -> dict:
    """Geometric means over the grid, the worst ratios anywhere, reset_after False/True."""
    grid = [r for r in rows if r["group"] == "grid"]
    out: dict = {}
    keys = [k for k in rows[0] if k.endswith(("_over_grunet_infer", "_over_grunet_train"))]
    for k in keys:
        out[f"geomean_{k}_grid"] = geomean([r[k] for r in grid])
        out[f"min_{k}"] = min(r[k] for r in rows)
    for k in ("ra_false_over_true_infer", "ra_false_over_true_train"):
        if k in rows[0]:
            out[f"max_{k}"] = max(r[k] for r in rows)
    return out


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def format_table(rows: list[dict], train: bool = True) -> list[str]:
    """Header and one aligned line per row (us per step, then ratios)."""
    cols = [f"{n}_infer" for n in INFER] + ([f"{n}_train" for n in TRAIN] if train else [])
    ratios = ["ort_over_grunet_infer", "torch_over_grunet_infer", "ra_false_over_true_infer"]
    ratios += ["torch_over_grunet_train", "ra_false_over_true_train"] if train else []
    names = ["B", "T", "H"] + cols + ratios
    short = ["B", "T", "H"] + [
        c.replace("grunet_ra_false", "gn_F").replace("grunet", "gn") for c in cols
    ]
    short += ["ort/gn", "torch/gn", "F/T", "torch/gn_tr", "F/T_tr"][: len(ratios)]
    table = [short]
    for r in rows:
        table.append(
            [str(r[k]) for k in ("B", "T", "H")]
            + [_fmt(r.get(f"{c}_us")) for c in cols]
            + [f"{r[k]:.2f}" if k in r else "-" for k in ratios]
        )
    widths = [max(len(x[i]) for x in table) for i in range(len(names))]
    widths = [max(w, 7) for w in widths]
    return ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in table]


def format_streaming(row: dict) -> str:
    """The article's model per observation (us): module call, Stepper, GRUStepper, ORT."""
    names = {
        "grunet_call": "nn.GRU call (no_grad held)",
        "stepper_stream": "Stepper GRU+Dense",
        "gru_stepper_stream": "GRUStepper",
        "ort_stream": "ORT GRU+Dense, state fed back",
    }
    parts = [f"{names[k]} {_fmt(row[k + '_us'])}" for k in STREAM if f"{k}_us" in row]
    return "  per observation (us): " + "; ".join(parts)


def format_summary(s: dict) -> list[str]:
    return [f"{k}: {v:.2f}" for k, v in s.items()]
