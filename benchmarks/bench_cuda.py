"""Time grunet's triton GRU (both variants) against torch.nn.GRU (cuDNN) and the reference on a GPU.

    python benchmarks/bench_cuda.py --json out.json [--quick] [--tf32] [--max-seconds S]
    TRITON_INTERPRET=1 python benchmarks/bench_cuda.py --rehearsal --json out.json  # CPU, no GPU

Grid: H {32, 64, 128, 256} x T {24, 96, 512} x B {1, 16, 128, 1024}, I=32, float32 (its quick
corners first); inference (no_grad) and training (forward + backward) per point, us per time step,
ratios vs cuDNN, the reset_after False/True ratio, peak memory of a training call, geometric means,
the issue's targets and which backend won each point. The work is
`grunet.bench.cuda.run_cuda_bench` (also behind `grunet bench --device cuda`). Needs a CUDA GPU and
triton (``--rehearsal``: two tiny points under the Triton interpreter; the numbers mean nothing).
"""

from __future__ import annotations

import argparse
import sys

from grunet.bench.cuda import run_cuda_bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", dest="json_path", default=None, help="write results here")
    parser.add_argument("--quick", action="store_true", help="4 points, fewer repeats")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 (default: exact fp32)")
    parser.add_argument("--max-seconds", type=float, default=None, help="start no point after")
    parser.add_argument("--rehearsal", action="store_true", help="CPU, TRITON_INTERPRET=1")
    args = parser.parse_args(argv)
    try:
        run_cuda_bench(
            quick=args.quick,
            json_path=args.json_path,
            tf32=args.tf32,
            max_seconds=args.max_seconds,
            rehearsal=args.rehearsal,
        )
    except RuntimeError as e:
        print(f"bench_cuda: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
