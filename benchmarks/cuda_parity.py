"""The triton GRU against the reference on one device, without pytest; writes JSON.

    python benchmarks/cuda_parity.py --json parity.json [--profile gpu|rehearsal] [--shard K/N]
    python benchmarks/cuda_parity.py --profile gpu --merge parity.json shard0.json shard1.json ...

The cases and the checks are `grunet.bench.parity` (the same ones tests/ops/test_triton_cuda.py
runs under pytest). ``--profile rehearsal --device cpu`` runs tiny shapes under the Triton
interpreter (set ``TRITON_INTERPRET=1``). Exit status: 0 every case passed, 1 some failed or were
not run, 2 bad arguments or no device.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from grunet.bench.parity import PROFILES, merge, run_parity


def _shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    return int(k), int(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", dest="json_path", default=None, help="write the report here")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="gpu")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--shard", type=_shard, default=(0, 1), help="K/N: every N-th case from K")
    parser.add_argument("--max-seconds", type=float, default=None, help="start no case after")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="OUT IN...: merge shard reports")
    args = parser.parse_args(argv)
    if args.merge:
        out, *inputs = args.merge
        reports = []
        for path in inputs:
            try:
                with open(path) as f:
                    reports.append(json.load(f))
            except (OSError, ValueError) as e:
                print(
                    f"cuda_parity: shard report {path} unreadable ({e}): its cases count as not run"
                )
                reports.append({"environment": {"unreadable": path}, "rows": [], "not_run": []})
        merged = merge(reports, args.profile)
        with open(out, "w") as f:
            json.dump(merged, f, indent=1, default=str)
        print(
            f"parity: {merged['passed']}/{merged['cases']} cases passed, "
            f"{len(merged['failed'])} failed, {len(merged['not_run'])} not run -> {out}"
        )
        for name in merged["failed"]:
            print(f"  FAIL {name}")
        for dtype, worst in merged["worst_error_by_dtype"].items():
            print(f"  worst {dtype}: " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
        return 0 if not merged["failed"] and not merged["not_run"] and merged["cases"] else 1
    if args.device == "cuda" and not torch.cuda.is_available():
        print("cuda_parity: --device cuda needs a CUDA GPU (torch.cuda.is_available() is False).")
        return 2
    report = run_parity(args.profile, args.device, args.shard, args.json_path, args.max_seconds)
    return 0 if not report["failed"] and not report["not_run"] else 1


if __name__ == "__main__":
    sys.exit(main())
