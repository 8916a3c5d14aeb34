"""Inference with the least Python per call: a plan bound once to a module's weights.

Legend:  T: time steps  B: batch  I: input features  H: hidden units  L: layers  D: directions

``grunet.nn.GRU.forward`` asks `module_forward` first when autograd has nothing to record; it
returns None for anything it does not take (and the general path then runs, validating and
raising as usual). What a call otherwise pays for at every step -- validation, backend
resolution, nine tensor-to-array conversions, zero initial states, output allocation through
torch -- is done once per module in `Plan` (numpy views of the weights: in-place edits are seen,
and a weight whose storage changed, e.g. ``.data = ...`` or ``.to(...)``, rebinds the plan) or
cut to numpy calls. Calls of up to a few rows (`_short_pays`) run in one kernel call for the
whole module with the weights in their own layout (`stream_kernels.module_call`); calls of a few
dozen rows (`_bound_pays`) in one `kernels.bound_call`, which keeps W_ih^T and the packed W_hh in
the plan and remakes them when the weights' bits change; larger calls project with torch GEMMs
over chunks of steps and run `kernels.fwd_rows` per layer and direction, on threads over rows.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from grunet.ops.cpu import kernels as K
from grunet.ops.cpu import runtime as R
from grunet.ops.cpu import stream_kernels as SK
from grunet.ops.cpu.autograd import NO_MASK, zeros
from grunet.ops.registry import Call, auto_choice

# Rows per call (T * B) that take `stream_kernels.module_call` (`_short_pays`), and up to which
# every call takes `kernels.bound_call` (`_bound_pays`).
SMALL_ROWS = 4
MID_ROWS = 64
FEW_ROWS = 1024  # and of several rows up to this many, on one thread, projections <= CHUNK_BYTES
_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
# Each module's plan lives in its __dict__ (a plain read: a WeakKeyDictionary look-up costs
# ~0.2 us a call); copies and pickles of the module carry None instead (`Plan.__reduce__`).
_PLAN = "_grunet_infer_plan"
_DATA_PTR = torch.Tensor.data_ptr


class Plan:
    """One module's weights as numpy views, bound once; `ptrs` tells when they moved."""

    __slots__ = (
        "ptrs",
        "call",
        "tab",
        "tab_ptr",
        "launched",
        "bound",
        "made",
        "weights",
        "dtype",
        "nd",
        "I",
        "H",
        "L",
        "D",
        "reset_after",
        "_zeros",
    )

    def __init__(self, module) -> None:
        params = module._parameters
        src = [params[n] for n in module._flat_weights_names]
        # Storage addresses of every parameter in ``_parameters``' order (what `module_forward`
        # compares per call: a map over the dict's values, ~0.5 us quicker than by names).
        self.ptrs = list(map(_DATA_PTR, params.values()))
        self.dtype = src[0].dtype
        self.nd = _DTYPES[self.dtype]
        self.I, self.H, self.L = module.input_size, module.hidden_size, module.num_layers
        self._zeros: dict[int, np.ndarray] = {}  # initial states per batch size (never written)
        self.D = 2 if module.bidirectional else 1
        self.reset_after = bool(getattr(module, "reset_after", True))
        # What "auto" is asked per call (`registry.auto_choice`: a backend registered since may
        # rank above "cpu", and then the general path runs it)
        self.call = Call("gru", "cpu", self.dtype, self.reset_after)
        k = 4 if module.bias else 2
        H3 = 3 * self.H
        self.weights = []
        for i in range(0, len(src), k):
            w_ih, w_hh = src[i].detach().numpy(), src[i + 1].detach().numpy()
            if module.bias:
                b_ih, b_hh = src[i + 2].detach().numpy(), src[i + 3].detach().numpy()
            else:
                b_ih = b_hh = zeros(H3, self.dtype)
            self.weights.append((w_ih, w_hh, b_ih, b_hh))
        # The kernels' table (`kernels.BOUND_HEAD`, `BOUND_ROW`): sizes, then per layer and
        # direction the weights' addresses and those of what `kernels.bound_call` derives from
        # them: W_ih^T, the packed W_hh, and the weights' bits they were made from (it remakes
        # them when the bits change, `kernels.refresh`); after the rows, whether each W_hh is
        # all finite. They are made here, before the plan is
        # published, so no kernel ever reads them half made (the kernels release the GIL: calls
        # from several threads run at once). `weights` and `made` keep every address alive, so
        # a moved weight always shows as a changed address (checked by `module_forward`).
        bits = np.uint32 if self.nd().itemsize == 4 else np.uint64
        self.made: list[tuple[np.ndarray, ...]] = []
        rows, pw = K.packed_shape(self.H, self.nd().itemsize)
        entries = [self.I, self.H, self.L, self.D, int(self.reset_after), rows, pw]
        for w_ih, w_hh, b_ih, b_hh in self.weights:
            derived = (
                R.transposed(w_ih),
                R.packed(w_hh),
                w_ih.reshape(-1).view(bits).copy(),
                w_hh.reshape(-1).view(bits).copy(),
            )
            self.made.append(derived)
            entries += [a.ctypes.data for a in (w_ih, w_hh, b_ih, b_hh, *derived)]
        entries += [int(np.isfinite(w_hh).all()) for _, w_hh, _, _ in self.weights]
        self.tab = np.array(entries, np.int64)
        self.tab_ptr = self.tab.ctypes.data
        self.launched = self.bound = False  # the first call of each kernel may compile

    def __reduce__(self):
        """Copies and pickles of a module drop its plan (the next call binds a new one)."""
        return _no_plan, ()

    def __call__(self, x: np.ndarray, h0: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """x (T, B, I) contiguous, h0 (L*D, B, H) contiguous or None -> out (T, B, D*H),
        h_n (L*D, B, H)."""
        T, B, _ = x.shape
        H, D = self.H, self.D
        nd = self.nd
        h_n = R.empty_np((self.L * D, B, H), nd)
        if _bound_pays(T, B, H, x.itemsize):  # the whole call in one kernel call
            out = R.empty_np((T, B, D * H), nd)
            self.call_bound(x.ctypes.data, 0 if h0 is None else h0.ctypes.data, out, h_n, 0)
            return out, h_n
        zero = None
        if h0 is None:
            zero = self._zeros.get(B)
            if zero is None:
                zero = self._zeros[B] = np.zeros((B, H), nd)
        for layer in range(self.L):
            outs = []
            for d in range(D):
                k = layer * D + d
                out = R.empty_np((T, B, H), nd)
                h = zero if h0 is None else h0[k]
                parts = R.split_parts(T, B, H, x.itemsize)
                if parts > 1:
                    _split(x, h, out, h_n[k], self, k, d == 1, parts)
                else:
                    _rows(x, h, out, h_n[k], self, k, d == 1)
                outs.append(out)
            x = outs[0] if D == 1 else np.concatenate(outs, axis=2)  # (T, B, D*H)
        return x, h_n

    def call_bound(self, x_ptr: int, h0_ptr: int, out: np.ndarray, h_n: np.ndarray, bf: int):
        """`kernels.bound_call` on this module's table (x, h0 by address; h0 0: zeros)."""
        if self.bound:
            K.bound_call(self.tab_ptr, x_ptr, h0_ptr, out, h_n, bf)
        else:  # first call: may compile (and says so)
            R.launch(K.bound_call, self.dtype, self.tab_ptr, x_ptr, h0_ptr, out, h_n, bf)
            self.bound = True

    def derived(self, k: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(W_ih^T, packed W_hh, whether W_hh is all finite: 1 or 0) of layer/direction k,
        remade first if the weights changed."""
        Iin = self.I if k < self.D else self.D * self.H
        finite = R.launch(K.refresh_call, self.dtype, self.tab, k, Iin, self.nd(0))
        return self.made[k][0], self.made[k][1], int(finite)


# Steps of input projections computed at a time: about this many bytes of them, so that they are
# still in the cache when the recurrence reads them (all T at once is tens of MB at B = 128).
CHUNK_BYTES = 1 << 21


def _rows(x, h, out, h_n, plan, k, reverse) -> None:
    """One layer and direction over many rows: the projection as torch GEMMs over chunks of
    steps (`CHUNK_BYTES`), each followed by the recurrence over it; the state carries over in h_n.
    The chunks go into one buffer kept per thread (`_scratch`)."""
    T, B, I = x.shape  # noqa: E741
    H3 = 3 * plan.H
    w_ih, _, b_ih, b_hh = plan.weights[k]
    serial = R.TorchSerial(R.threads(T, B, plan.H) > 1)
    _, w, w_finite = plan.derived(k)
    tw, tb = torch.from_numpy(w_ih), torch.from_numpy(b_ih)
    tc = max(1, CHUNK_BYTES // (B * H3 * x.itemsize))
    buf = _scratch(min(tc, T) * B * H3, plan.dtype)
    starts = list(range(0, T, tc))
    for i, t0 in enumerate(reversed(starts) if reverse else starts):
        n = min(T, t0 + tc) - t0
        gi = buf[: n * B * H3].view(n * B, H3)
        with serial:
            torch.addmm(tb, torch.from_numpy(x[t0 : t0 + n]).view(n * B, I), tw.t(), out=gi)
        R.rows(
            K.fwd_rows, plan.dtype, n, B, plan.H,
            (gi.numpy().reshape(n, B, H3), h if i == 0 else h_n, w, True, b_hh,
             out[t0 : t0 + n], h_n, out, plan.reset_after, reverse, False, NO_MASK,
             w_finite),
        )  # fmt: skip


def _split(x, h, out, h_n, plan, k, reverse, parts) -> None:
    """One layer and direction of one row, each step split over `parts` threads by units
    (`split_kernels.fwd_part`, projections included), over chunks of steps as `_rows`."""
    T, B, _ = x.shape
    H = plan.H
    w_t, w, _ = plan.derived(k)
    _, _, b_ih, b_hh = plan.weights[k]
    tc = max(1, CHUNK_BYTES // (B * 3 * H * x.itemsize))
    gi = _scratch(min(tc, T) * B * 3 * H, plan.dtype).numpy()
    hbuf, qbuf = np.empty((2, B, H), x.dtype), np.empty((B, H), x.dtype)
    starts = list(range(0, T, tc))
    for i, t0 in enumerate(reversed(starts) if reverse else starts):
        n = min(T, t0 + tc) - t0
        g3 = gi[: n * B * 3 * H].reshape(n, B, 3 * H)
        args = (x[t0 : t0 + n], w_t, b_ih, g3, h if i == 0 else h_n, w, b_hh, out[t0 : t0 + n])
        R.split(plan.dtype, parts, (*args, h_n, hbuf, qbuf, plan.reset_after, reverse))


_local = threading.local()


def _scratch(n: int, dtype: torch.dtype) -> torch.Tensor:
    """n elements of a flat buffer kept per thread between calls (a fresh ~2 MB buffer per chunk
    went back to the OS and was faulted in again on every call in some processes: ~2,000 page
    faults a call and up to 2x slower calls at B = 128, T = 96, H = 64)."""
    buf = getattr(_local, "buf", None)
    if buf is None or buf.dtype != dtype or buf.numel() < n:
        buf = _local.buf = torch.empty(n, dtype=dtype)
    return buf[:n]


def _no_plan() -> None:
    return None


def module_forward(module, input: torch.Tensor, hx: torch.Tensor | None):
    """``module(input, hx)`` for a grunet.nn.GRU on CPU when autograd records nothing; else None.

    None means "not taken here": the caller runs its general path (which also raises the
    errors for bad input, so this function never has to). Every check here is a cheap
    attribute read; what does not change between calls lives in the `Plan`. It runs before
    the module refreshes its flat weights: the plan reads ``_parameters`` itself (a parametrized
    module computes its weights on access and takes the general path).
    """
    if type(input) is not torch.Tensor or input.ndim != 3 or not input.is_cpu:
        return None
    grad = torch.is_grad_enabled()
    if grad and (input.requires_grad or (hx is not None and hx.requires_grad)):
        return None
    if module.backend not in ("auto", "cpu") or (module.training and module.dropout):
        return None
    params = module._parameters
    names = module._flat_weights_names
    if grad and True in [getattr(params.get(n), "requires_grad", False) for n in names]:
        return None  # training: autograd records the call
    plan = module.__dict__.get(_PLAN)
    try:  # the parameters still have the storage bound in the plan (a swapped, added or
        # removed parameter changes the list)
        valid = plan is not None and list(map(_DATA_PTR, params.values())) == plan.ptrs
    except TypeError:  # a parameter set to None, or no longer a tensor
        valid = False
    if not valid:
        if (
            "parametrizations" in module._modules
            or input.dtype not in _DTYPES
            or any(not isinstance(params.get(n), torch.Tensor) for n in names)
            or any(not isinstance(p, torch.Tensor) for p in params.values())
            or any(
                w.dtype is not input.dtype or not w.is_contiguous() or not w.is_cpu
                for w in (params[n] for n in names)
            )
        ):
            return None
        plan = module.__dict__[_PLAN] = Plan(module)  # makes the packed copies: only when taken
    if input.dtype is not plan.dtype:
        return None
    if module.backend == "auto" and auto_choice(plan.call) != "cpu":
        return None
    if module.batch_first:
        B, T, I = input.shape  # noqa: E741
    else:
        T, B, I = input.shape  # noqa: E741
    if I != plan.I or T == 0 or B == 0:
        return None
    if input.is_contiguous():
        if _short_pays(T, B, plan.H):
            return _short(plan, module, input, hx, T, B)
        if _bound_pays(T, B, plan.H, input.element_size()):
            return _short(plan, module, input, hx, T, B, bound=True)
    return _numpy_call(plan, module, input, hx)


def _short_pays(T: int, B: int, H: int) -> bool:
    """Whether `stream_kernels.module_call` (row by row, weights in their own layout, nothing to
    check or remake) beats `kernels.bound_call` (tiles of rows on the packed W_hh, whose bits it
    compares first). Measured side by side (one thread, I = 8): 1.0-1.3x for calls of up to
    four rows (T * B; at one step H = 256, 2.9x), 0.5-1.0x beyond."""
    return T * B <= SMALL_ROWS


def _bound_pays(T: int, B: int, H: int, itemsize: int) -> bool:
    """Whether the whole call in one `kernels.bound_call` (the projection inside, one thread)
    beats torch GEMMs over chunks and `fwd_rows`. Measured side by side through the benchmark's
    call, one thread, I = 8: 1.05-1.8x up to 64 rows (T * B), 1.1-1.3x for one step of 128 rows,
    1.0-1.2x for one row of up to 512 steps (its projections, all steps at once, up to
    `CHUNK_BYTES`). Several steps of several rows, us a step, bound / GEMM route (ONNX Runtime):
    8x24x32 2.14 / 3.31 (2.95), 16x24x32 5.48 / 7.08 (7.69), 32x24x32 7.28 / 7.95, 4x96x64
    2.48 / 2.62, 16x24x128 23.2 / 25.2, 16x96x64 8.52 / 8.64; beyond ~1,000 rows torch's GEMM
    projects faster than the micro-kernel's narrow tiles (16x512x32 3.83 / 3.30, 128x24x64
    61.8 / 58.8), and `fwd_rows` can run on several threads."""
    if R.split_parts(T, B, H, itemsize) > 1:
        return False
    rows = T * B
    if rows <= MID_ROWS:
        return True
    few = rows * 3 * H * itemsize <= CHUNK_BYTES and (B == 1 or rows <= FEW_ROWS)
    return (T == 1 or few) and R.threads(T, B, H) == 1


def _short(plan: Plan, module, input: torch.Tensor, hx, T: int, B: int, bound: bool = False):
    """A short call in one kernel call with addresses for arguments: `stream_kernels.module_call`
    (weights in their own layout), or when `bound`, `kernels.bound_call` (packed, tiles of rows)."""
    L, D, H = plan.L, plan.D, plan.H
    h0 = 0
    if hx is not None:
        if (
            type(hx) is not torch.Tensor
            or not hx.is_cpu
            or hx.dtype is not plan.dtype
            or hx.shape != (L * D, B, H)
            or not hx.is_contiguous()
        ):
            return _numpy_call(plan, module, input, hx)
        h0 = hx.data_ptr()
    bf = 1 if module.batch_first else 0  # an int: numba types a bool argument ~0.1 us slower
    nd = plan.nd
    out = R.empty_np((B, T, D * H) if bf else (T, B, D * H), nd)  # numpy: ~2x quicker than torch
    h_n = R.empty_np((L * D, B, H), nd)
    if bound:
        plan.call_bound(input.data_ptr(), h0, out, h_n, bf)
    elif plan.launched:
        SK.module_call(plan.tab, input.data_ptr(), h0, out, h_n, bf)
    else:  # first call: may compile (and says so)
        R.launch(SK.module_call, plan.dtype, plan.tab, input.data_ptr(), h0, out, h_n, bf)
        plan.launched = True
    return torch.from_numpy(out), torch.from_numpy(h_n)


def _numpy_call(plan: Plan, module, input: torch.Tensor, hx: torch.Tensor | None):
    """The general inference call through numpy arrays (`Plan.__call__`)."""
    x = input.detach().numpy() if input.requires_grad else input.numpy()
    if module.batch_first:
        x = x.swapaxes(0, 1)  # (T, B, I); a view, contiguous when B = 1
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    h0 = None
    if hx is not None:
        if (
            not hx.is_cpu
            or hx.dtype is not plan.dtype
            or hx.shape != (plan.L * plan.D, x.shape[1], plan.H)
        ):
            return None
        h0 = np.ascontiguousarray(hx.detach().numpy())
    out, h_n = plan(x, h0)
    if module.batch_first:
        out = out.swapaxes(0, 1)  # (B, T, D*H), a strided view (torch takes any strides)
    return torch.from_numpy(out), torch.from_numpy(h_n)
