"""Large training calls: grunet's buffers pooled in huge pages, or from malloc, against torch.nn.GRU.

Usage:
    python benchmarks/train_buffers.py [--shape 128x512x256] [--rounds 3]

One thread, float32, I = 8, ``out.sum().backward()``: seconds of the forward and of the backward
of each call, per round one call of each case with both variants (reset_after True and False),
the order of the variants alternating between rounds (the first call after other work is the one
that finds no buffer at hand). "malloc" sets `pool.HUGE_BYTES` out of reach, so every buffer
comes from torch.empty.
"""

from __future__ import annotations

import argparse
import time

import numba
import torch

from grunet.nn import GRU
from grunet.ops.cpu import pool as P


def _call(m, x) -> tuple[float, float]:
    m.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    out = m(x)[0]
    t1 = time.perf_counter()
    out.sum().backward()
    return t1 - t0, time.perf_counter() - t1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="128x512x256", help="BxTxH")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    B, T, H = (int(v) for v in args.shape.split("x"))
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    torch.manual_seed(0)
    ref = torch.nn.GRU(8, H, batch_first=True)
    mods = {}
    for ra in (True, False):
        mods[ra] = GRU(8, H, batch_first=True, backend="cpu", reset_after=ra)
        mods[ra].load_state_dict(ref.state_dict())
    x = torch.randn(B, T, 8)
    huge = P.HUGE_BYTES
    print(f"B={B} T={T} H={H}: forward / backward seconds")
    for r in range(args.rounds):
        for mode in ("pooled", "malloc"):
            P.HUGE_BYTES = huge if mode == "pooled" else 1 << 62
            for ra in (True, False) if r % 2 == 0 else (False, True):
                f, b = _call(mods[ra], x)
                print(f"  round {r} {mode:7s} reset_after={ra!s:5s} {f:.3f} / {b:.3f}")
        P.HUGE_BYTES = huge
        f, b = _call(ref, x)
        print(f"  round {r} torch.nn.GRU                {f:.3f} / {b:.3f}")


if __name__ == "__main__":
    main()
