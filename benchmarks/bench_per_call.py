"""Per-call costs of the article's model (GRU(50) on 1 input + Dense(1)) beside ONNX Runtime.

Usage (one process, one thread; run it under two PYTHONPATHs for a before/after):
    PYTHONPATH=src python benchmarks/bench_per_call.py [label] [--rounds 30] [--calls 2000]

Cases, interleaved block by block (the fastest block of each counts, which is the steadiest
figure on a shared machine): ONNX Runtime's single call of the GRU; ``grunet.nn.GRU`` one-step
calls with ``no_grad`` entered per call and held around the calls; ``grunet.streaming.Stepper``
of the whole model; ``grunet.ops.cpu.GRUStepper``. Prints us per call and the ratio to ORT.
"""

from __future__ import annotations

import argparse
import time

import numba
import torch

import grunet as gn
from grunet.bench import onnx_runtime
from grunet.ops.cpu import GRUStepper
from grunet.streaming import Stepper


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label", nargs="?", default="grunet")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    torch.manual_seed(0)
    model = gn.Sequential([gn.layers.GRU(50, input_shape=(None, 1)), gn.layers.Dense(1)])
    rnn = model.layers[0]
    ref = torch.nn.GRU(1, 50)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, name + "_l0").copy_(getattr(rnn, name))
    module = gn.nn.GRU(1, 50, batch_first=True, backend="cpu")
    module.load_state_dict(ref.state_dict())
    x = torch.randn(1, 1, 1)
    x_np = x.numpy().reshape(1).copy()
    x_row, x_ort = x_np.reshape(1, 1), x_np.reshape(1, 1, 1)
    run = onnx_runtime.session(ref, 1)
    stepper, gru_stepper = Stepper(model), GRUStepper.from_module(ref)
    n = args.calls

    def ort() -> None:
        for _ in range(n):
            run(x_ort)

    def call_no_grad_per_call() -> None:
        for _ in range(n):
            with torch.no_grad():
                module(x)

    def call_no_grad_held() -> None:
        with torch.no_grad():
            for _ in range(n):
                module(x)

    def stepper_step() -> None:
        for _ in range(n):
            stepper.step(x_np)

    def gru_stepper_step() -> None:
        for _ in range(n):
            gru_stepper.step(x_row)

    cases = {
        "ort": ort,
        "call (no_grad per call)": call_no_grad_per_call,
        "call (no_grad held)": call_no_grad_held,
        "Stepper GRU+Dense": stepper_step,
        "GRUStepper": gru_stepper_step,
    }
    for fn in cases.values():
        fn()  # warm-up (compiles on a first run)
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(args.rounds):
        for key, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            best[key] = min(best[key], (time.perf_counter() - t0) / n * 1e6)
    print(
        args.label,
        "  ".join(f"{k}: {v:.2f} us ({v / best['ort']:.2f}x ORT)" for k, v in best.items()),
    )


if __name__ == "__main__":
    main()
