"""Packed (variable-length) batches: grunet.nn.GRU vs torch.nn.GRU, packed vs padded, on the CPU.

Usage:
    python benchmarks/bench_packed.py [--repeats N] [--budget S]

For each shape, a batch of B rows with lengths spread evenly over [T/4, T] runs as a padded tensor
(every row T steps) and as a PackedSequence, through torch.nn.GRU and grunet.nn.GRU with the same
weights, forward only (infer) and forward + backward (train). Prints milliseconds per call and
the backend ``auto`` picked for grunet's packed run (a step-masked call goes only to backends
that declare the "step_mask" capability).
"""

from __future__ import annotations

import argparse

import torch
from torch.nn.utils.rnn import pack_padded_sequence

import grunet
from grunet import ops
from grunet.bench.timing import cases, timer

SHAPES = [(16, 64, 8, 32), (64, 100, 8, 64)]  # (B, T, I, H)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks per case")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of timing per case")
    args = parser.parse_args(argv)
    print("B    T    I   H   | mode  | torch padded | torch packed | grunet padded | grunet packed")
    for B, T, I, H in SHAPES:  # noqa: E741
        torch.manual_seed(0)
        theirs = torch.nn.GRU(I, H)
        ours = grunet.nn.GRU.from_torch(theirs)
        x = torch.randn(T, B, I)
        lengths = torch.linspace(T, T // 4, B).round().long()  # sorted, longest first
        packed = pack_padded_sequence(x, lengths)
        call = ops.Call(cell="gru", device="cpu", dtype=x.dtype, step_mask=True)
        auto = ops.resolve(call).name
        runs = {
            "torch padded": (theirs, x),
            "torch packed": (theirs, packed),
            "grunet padded": (ours, x),
            "grunet packed": (ours, packed),
        }
        for mode in ("infer", "train"):
            ms = []
            for mod, inp in runs.values():
                fn = cases(mod, inp)[mode] if mode == "infer" else _train(mod, inp)
                ms.append(timer(fn, args.repeats, args.budget, lambda: None)[0] * 1e3)
            cells = " | ".join(f"{m:12.2f}" for m in ms)
            print(f"{B:<4} {T:<4} {I:<3} {H:<3} | {mode:5} | {cells}   (packed auto: {auto})")


def _train(mod: torch.nn.Module, inp):
    """forward + backward; a PackedSequence output's data is summed."""

    def train() -> None:
        mod.zero_grad(set_to_none=True)
        out, _ = mod(inp)
        (out.data if isinstance(out, torch.nn.utils.rnn.PackedSequence) else out).sum().backward()

    return train


if __name__ == "__main__":
    main()
