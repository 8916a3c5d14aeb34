"""What a small grunet.nn.GRU call costs against the fixed costs no implementation on torch escapes.

Usage:
    python benchmarks/call_floor.py [--blocks N]

One thread, float32, us per call, the minimum over interleaved blocks (one process). Inference:
the article's one-step call (B = T = I = 1, H = 50) and B=1, T=24, H=64, each beside its parts:
the kernel alone (`kernels.bound_call` / `stream_kernels.module_call` on prepared arrays), the
least Python around it (plan look-up, the parameters' storage check, two outputs made as numpy
arrays and handed to torch), and the fixed costs themselves (two torch tensors, one numba call of
six arguments that does nothing, ``nn.Module.__call__`` over a forward that returns at once).
Training (``out.sum().backward()`` after ``zero_grad``): grunet through ``module(x)``, through
`GRUFunction.apply` directly, torch.nn.GRU, and the autograd floor: a ``torch.autograd.Function``
whose forward and backward only allocate their outputs, over the same four parameters.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
import torch
from numba import njit

from grunet.nn import GRU
from grunet.ops.cpu import autograd as A
from grunet.ops.cpu import infer
from grunet.ops.cpu import kernels as K
from grunet.ops.cpu import stream_kernels as SK

_DATA_PTR = torch.Tensor.data_ptr


@njit(nogil=True, cache=True)
def _nothing(tab, a, b, out, h_n, c):  # six arguments, as bound_call and module_call take
    return None


class _Floor(torch.autograd.Function):
    """Forward and backward that only allocate what they return."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh):
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh)
        T, B, _ = x.shape
        H = w_hh.shape[1]
        return torch.empty(T, B, H), torch.empty(B, H)

    @staticmethod
    def backward(ctx, dout, dh):
        x, h0, w_ih, w_hh, b_ih, b_hh = ctx.saved_tensors
        like = torch.empty_like
        return like(x), None, like(w_ih), like(w_hh), like(b_ih), like(b_hh)


class _Empty(torch.nn.Module):
    def forward(self, x):
        return x


def _time(cases: dict, blocks: int, budget_s: float = 0.02) -> dict[str, float]:
    """Minimum us per call of each case over `blocks` interleaved blocks."""
    counts = {}
    for name, fn in cases.items():
        fn()
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < budget_s:
            fn()
            n += 1
        counts[name] = max(n, 3)
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(blocks):
        for name, fn in cases.items():
            n = counts[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / n * 1e6)
    return best


def _inference(B: int, T: int, I: int, H: int, blocks: int) -> dict[str, float]:  # noqa: E741
    torch.manual_seed(0)
    m = GRU(I, H, batch_first=True, backend="cpu").eval()
    x = torch.randn(B, T, I)
    with torch.no_grad():
        m(x)
    plan = m.__dict__[infer._PLAN]
    out, h_n = np.empty((B, T, H), np.float32), np.empty((1, B, H), np.float32)
    xp = x.data_ptr()
    short = infer._short_pays(T, B, H)
    params = m._parameters

    def kernel():
        if short:
            SK.module_call(plan.tab, xp, 0, out, h_n, 1)
        else:
            K.bound_call(plan.tab_ptr, xp, 0, out, h_n, 1)

    def least_python():
        p = m.__dict__.get(infer._PLAN)
        if list(map(_DATA_PTR, params.values())) != p.ptrs:
            raise AssertionError("plan out of date")
        o, h = np.empty((B, T, H), np.float32), np.empty((1, B, H), np.float32)
        if short:
            SK.module_call(p.tab, x.data_ptr(), 0, o, h, 1)
        else:
            K.bound_call(p.tab_ptr, x.data_ptr(), 0, o, h, 1)
        return torch.from_numpy(o), torch.from_numpy(h)

    empty_module = _Empty()
    cases = {
        "module(x)": lambda: m(x),
        "least Python around the kernel": least_python,
        "kernel alone": kernel,
        "2 outputs: np.empty + torch.from_numpy": lambda: (
            torch.from_numpy(np.empty((B, T, H), np.float32)),
            torch.from_numpy(np.empty((1, B, H), np.float32)),
        ),
        "numba call of 6 arguments doing nothing": lambda: _nothing(plan.tab, xp, 0, out, h_n, 1),
        "nn.Module.__call__ of an empty forward": lambda: empty_module(x),
        "parameters' storage check": lambda: list(map(_DATA_PTR, params.values())) == plan.ptrs,
    }
    with torch.no_grad():
        return _time(cases, blocks)


def _training(B: int, T: int, I: int, H: int, blocks: int) -> dict[str, float]:  # noqa: E741
    torch.manual_seed(0)
    ref = torch.nn.GRU(I, H, batch_first=True)
    m = GRU(I, H, batch_first=True, backend="cpu")
    m.load_state_dict(ref.state_dict())
    x = torch.randn(B, T, I)
    xt, h0 = x.transpose(0, 1), torch.zeros(B, H)
    w = [m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0]

    def step(mod, call):
        def run():
            mod.zero_grad(set_to_none=True)
            call()[0].sum().backward()

        return run

    cases = {
        "grunet module(x)": step(m, lambda: m(x)),
        "grunet GRUFunction.apply": step(
            m, lambda: A.GRUFunction.apply(xt, h0, *w, True, False, None)
        ),
        "torch.nn.GRU": step(ref, lambda: ref(x)),
        "autograd floor (Function that only allocates)": step(m, lambda: _Floor.apply(xt, h0, *w)),
    }
    return _time(cases, blocks)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=15, help="interleaved timed blocks")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    for what, fn, shapes in (
        ("inference", _inference, [(1, 1, 1, 50), (1, 24, 8, 64)]),
        ("training", _training, [(16, 1, 8, 32), (128, 1, 8, 32), (1, 24, 8, 64)]),
    ):
        for B, T, I, H in shapes:  # noqa: E741
            print(f"{what}, B={B} T={T} I={I} H={H}: us per call (min of {args.blocks} blocks)")
            for name, us in fn(B, T, I, H, args.blocks).items():
                print(f"  {name:48s} {us:9.2f}")


if __name__ == "__main__":
    main()
