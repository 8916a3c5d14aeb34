"""Benchmark the numba CPU GRU backend against torch.nn.GRU (and the reference backend).

Usage:
    python benchmarks/bench_cpu.py [--quick] [--json results.json] [--repeats N] [--budget S]

Prints a table of microseconds per time step, the torch / grunet ratios, their geometric mean
over the grid and the reset_after False / True ratio; see `grunet.bench.run_bench`.
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
    args = parser.parse_args(argv)
    run_bench(
        "cpu",
        quick=args.quick,
        json_path=args.json_path,
        repeats=args.repeats,
        budget_s=args.budget,
    )


if __name__ == "__main__":
    main()
