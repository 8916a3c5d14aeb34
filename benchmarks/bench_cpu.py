"""Benchmark the numba CPU GRU backend against ONNX Runtime and torch.nn.GRU.

Usage:
    python benchmarks/bench_cpu.py [--quick] [--json results.json] [--repeats N] [--budget S]
        [--threads 1,all] [--no-train] [--stat median|min]

Prints a table of microseconds per time step for each thread setting, the ratios other / grunet
and their geometric means over the grid, and under the article's row its per-observation costs:
the one-step module call (no_grad held), `streaming.Stepper`, `ops.cpu.GRUStepper` and ONNX Runtime
running the same GRU + Dense with its state fed back; see `grunet.bench.cpu.run_bench`.
"""

from __future__ import annotations

import argparse

from grunet.bench.cpu import run_bench


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small subset of the grid")
    parser.add_argument("--json", dest="json_path", default=None, help="write rows as JSON here")
    parser.add_argument("--repeats", type=int, default=None, help="timed blocks per case")
    parser.add_argument("--budget", type=float, default=None, help="seconds of timing per case")
    parser.add_argument("--threads", default="1,all", help="'1', 'all' or '1,all'")
    parser.add_argument("--no-train", action="store_true", help="inference only")
    parser.add_argument("--stat", choices=("median", "min"), default="median", help="per case")
    args = parser.parse_args(argv)
    run_bench(
        "cpu",
        quick=args.quick,
        json_path=args.json_path,
        repeats=args.repeats,
        budget_s=args.budget,
        threads=tuple(args.threads.split(",")),
        train=not args.no_train,
        stat=args.stat,
    )


if __name__ == "__main__":
    main()
