"""CPU GRU backend: fused numba kernels for the recurrence, forward and backward (BPTT).

Legend:  T: time steps  B: batch  I: input features  H: hidden units

Anatomy: the kernels live in `_cpu_kernels` (forward recurrence, backward recurrence); here are
their launch functions, the `torch.autograd.Function`, the public `gru` (registered as backend
"cpu"), and the streaming path `gru_step` / `GRUStepper`.

What runs where, per call:
  torch   gi = x @ W_ih^T + b_ih for all steps: one GEMM (T*B, I) x (I, 3H)
  numba   the recurrence: per step (B, H) x (H, 3H) and the gates; saves r, z, n, a, h_prev
  numba   BPTT: d_gi (T, B, 3H), d_gh (T, B, 3H) and dh0
  torch   dW_ih = d_gi^T x, dW_hh = d_gh^T h_prev, dx = d_gi W_ih, biases: one GEMM/sum each
For at most `_SMALL_ROWS` rows (T * B; the article trains at T = B = 1) the same products run
inside the numba call instead: there torch's per-call cost (~2-5 us an op) is the whole bill.
Batches of >= 2 * `_PAR_MIN_ROWS` rows with enough work run one block of rows per thread.

Tensors and numpy arrays share memory (`Tensor.numpy()`, `torch.from_numpy`): nothing is copied
between torch and the kernels. Outputs are allocated through `_empty` (tests swap it for a
NaN-filled allocator so that an element a kernel fails to write shows up).
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import torch
import torch.nn.functional as F

from grunet.ops import _cpu_kernels as K
from grunet.ops.registry import Call, register

_DTYPES = (torch.float32, torch.float64)
# Below these a call stays on one thread: rows per thread, and T * B * H * H (~ multiply-adds / 3).
_PAR_MIN_ROWS = 8
_PAR_MIN_WORK = 1 << 20
# Up to this many rows (T * B), the input projection (forward) and the parameter gradients
# (backward) are computed inside the numba call: for so few rows, torch's per-call cost dominates.
_SMALL_ROWS = 4


def _empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Allocator for every buffer a kernel writes (tests poison it with NaN)."""
    return torch.empty(shape, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Compile-once bookkeeping: numba compiles a kernel per dtype on first use, then loads it from the
# on-disk cache. Say so (once per process) when a compile really happens: it takes seconds.
# ---------------------------------------------------------------------------------------------

_seen: set = set()
_announced = False
_COMPILE_S = 15  # measured: float32 forward + backward, both paths, empty cache: 13 s (2 cores)


def _in_cache(kernel, args) -> bool:
    try:
        sig = tuple(numba.typeof(a) for a in args)
        cache = kernel._cache
        index = cache._cache_file._load_index()
        return cache._index_key(sig, kernel.targetctx.codegen()) in index
    except Exception:  # numba internals moved: assume cached, report after the fact
        return True


def _first_call(kernel, args) -> None:
    """Run `kernel(*args)` for the first time with these types in this process.

    Prints one line per process to stderr when a compile happens: before it, when the cache
    index shows the kernel missing; otherwise after it, with the time it took.
    """
    global _announced
    if not _announced and not _in_cache(kernel, args):
        print(
            f"grunet: compiling CPU kernels (once per machine, ~{_COMPILE_S} s)...", file=sys.stderr
        )
        _announced = True
    misses = sum(kernel._cache_misses.values())
    t0 = time.perf_counter()
    kernel(*args)
    if not _announced and sum(kernel._cache_misses.values()) > misses:
        print(
            f"grunet: compiled CPU kernels in {time.perf_counter() - t0:.1f} s (cached for "
            "later runs).",
            file=sys.stderr,
        )
        _announced = True


def _launch(kernel, dtype, *args) -> None:
    key = (kernel, dtype)
    if key in _seen:
        kernel(*args)
        return
    _first_call(kernel, args)
    _seen.add(key)


_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _get_pool(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    if _pool is None or _pool_size < workers:
        _pool, _pool_size = ThreadPoolExecutor(workers, thread_name_prefix="grunet-cpu"), workers
    return _pool


def _threads(T: int, B: int, H: int) -> int:
    """How many threads `_rows` will use for this call (1: the calling thread only)."""
    n = min(numba.get_num_threads(), B // _PAR_MIN_ROWS)
    return n if n >= 2 and T * B * H * H >= _PAR_MIN_WORK else 1


class _TorchSerial:
    """Run torch single-threaded inside the block, when `on`.

    torch's OpenMP workers busy-wait for several ms after each parallel op; if the torch calls
    that prepare a threaded kernel call wake them, they then compete with our threads for the
    cores (measured: the threaded kernel ran no faster than one thread). Preparing on one thread
    leaves them asleep.
    """

    __slots__ = ("on", "n")

    def __init__(self, on: bool):
        self.on = on

    def __enter__(self):
        if self.on:
            self.n = torch.get_num_threads()
            torch.set_num_threads(1)

    def __exit__(self, *exc):
        if self.on:
            torch.set_num_threads(self.n)


def _rows(kernel, dtype, T: int, B: int, H: int, args: tuple) -> None:
    """Run `kernel(b0, b1, *args)` over all B rows: one block of rows per thread when it pays.

    The kernels release the GIL, and rows are independent through the whole recurrence, so
    threads need no synchronisation until the end (numba's prange would do the same, but its
    parallel kernels cannot be cached on disk here, and its OpenMP pool spins against torch's).
    """
    n = _threads(T, B, H)
    if n < 2 or (kernel, dtype) not in _seen:
        _launch(kernel, dtype, 0, B, *args)
        return
    pool = _get_pool(n - 1)
    tiles = -(-B // K._TILE)
    per = -(-tiles // n) * K._TILE  # rows per block, whole tiles
    futures = [pool.submit(kernel, b0, min(B, b0 + per), *args) for b0 in range(per, B, per)]
    kernel(0, per, *args)
    for f in futures:
        f.result()


# ---------------------------------------------------------------------------------------------
# Buffers and layouts the kernels want
# ---------------------------------------------------------------------------------------------


def _transpose_pays(T: int, B: int, H: int) -> bool:
    """Whether to hand the forward kernel W_hh transposed (see `_cpu_kernels._fwd_rows`).

    The transposed copy costs ~0.4-0.7 ns per weight, every call (a cache keyed on the tensor's
    version would miss in-place edits made through `.data`, which gradcheck makes); it saves
    ~0.2 ns per weight per step per 4-row tile, and for single rows only at small H (measured).
    """
    if B >= 4:
        return T * (B // 4) >= 8
    return H <= 64 and T >= 16


def _w_hh(w_hh: torch.Tensor, transposed: bool) -> np.ndarray:
    """W_hh as numpy for the forward kernel: (3H, H), or (H, 3H) when `transposed`."""
    w = w_hh.detach()
    return (w.t() if transposed else w).contiguous().numpy()


_zeros_cache: dict[tuple, np.ndarray] = {}


def _zeros(n: int, dtype: torch.dtype) -> np.ndarray:
    z = _zeros_cache.get((n, dtype))
    if z is None:
        z = _zeros_cache[(n, dtype)] = torch.zeros(n, dtype=dtype).numpy()
    return z


def _np(t: torch.Tensor) -> np.ndarray:
    return t.numpy(force=True)  # CPU, real dtype: a view, never a copy


# ---------------------------------------------------------------------------------------------
# Launch functions
# ---------------------------------------------------------------------------------------------


def _forward(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, training):
    """Input GEMM + forward kernel. Returns out (T, B, H), h_n (B, H), saved (T, B, 5H) | None."""
    T, B, I = x.shape
    H = h0.shape[1]
    dtype = x.dtype
    out = _empty((T, B, H), dtype)
    h_n = _empty((B, H), dtype)
    saved = _empty((T, B, 5 * H), dtype) if training else None
    b = _zeros(3 * H, dtype) if b_hh is None else _np(b_hh.contiguous())
    transposed = _transpose_pays(T, B, H)
    serial = _TorchSerial(_threads(T, B, H) > 1)
    with serial:
        w = _w_hh(w_hh, transposed)
    tail = (
        _np(h0.contiguous()),
        w,
        transposed,
        b,
        out.numpy(),
        h_n.numpy(),
        saved.numpy() if training else out.numpy(),
        reset_after,
        reverse,
        training,
    )
    if T * B <= _SMALL_ROWS:  # projection inside the kernel call: one call instead of three
        x_np = _np(x.contiguous())
        b_i = _zeros(3 * H, dtype) if b_ih is None else _np(b_ih.contiguous())
        _launch(K._fwd_small, dtype, x_np, _np(w_ih.contiguous()), b_i, *tail)
        return out, h_n, saved
    with serial:
        gi = F.linear(x.detach(), w_ih.detach(), None if b_ih is None else b_ih.detach())
        gi = gi.contiguous()  # (T, B, 3H)
    _rows(K._fwd_rows, dtype, T, B, H, (gi.numpy(), *tail))
    return out, h_n, saved


def _backward(saved, w_hh, dout, dh_n, reset_after, reverse):
    """Backward kernel. Returns d_gi (T, B, 3H), d_gh (T, B, 3H) (= d_gi if not reset_after), dh0."""
    T, B, H5 = saved.shape
    H = H5 // 5
    dtype = saved.dtype
    d_gi = _empty((T, B, 3 * H), dtype)
    d_gh = _empty((T, B, 3 * H), dtype) if reset_after else d_gi
    with _TorchSerial(_threads(T, B, H) > 1):
        dh = dh_n.clone(memory_format=torch.contiguous_format)  # carry: d h_n in, d h0 out
        args = (
            saved.numpy(),
            _np(w_hh.contiguous()),
            _np(dout.contiguous()),
            dh.numpy(),
            d_gi.numpy(),
            d_gh.numpy(),
            reset_after,
            reverse,
        )
    _rows(K._bwd_rows, dtype, T, B, H, args)
    return d_gi, d_gh, dh


class _GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse):
        out, h_n, saved = _forward(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, True)
        ctx.save_for_backward(x, w_ih, w_hh, saved)
        ctx.reset_after = reset_after
        ctx.reverse = reverse
        return out, h_n

    @staticmethod
    def backward(ctx, dout, dh_n):
        x, w_ih, w_hh, saved = ctx.saved_tensors
        need_x, need_h0, need_wih, need_whh, need_bih, need_bhh = ctx.needs_input_grad[:6]
        T, B, _ = x.shape
        if T * B <= _SMALL_ROWS:
            dx, dh0, dw_ih, dw_hh, db_ih, db_hh = _backward_small(
                saved, x, w_ih, w_hh, dout, dh_n, ctx.reset_after, ctx.reverse
            )
        else:
            dx, dh0, dw_ih, dw_hh, db_ih, db_hh = _backward_large(
                saved,
                x,
                w_ih,
                w_hh,
                dout,
                dh_n,
                ctx.reset_after,
                ctx.reverse,
                need_x,
                need_wih,
                need_whh,
                need_bih,
                need_bhh,
            )
        return (
            dx if need_x else None,
            dh0 if need_h0 else None,
            dw_ih if need_wih else None,
            dw_hh if need_whh else None,
            db_ih if need_bih else None,
            db_hh if need_bhh else None,
            None,
            None,
        )


def _backward_large(
    saved,
    x,
    w_ih,
    w_hh,
    dout,
    dh_n,
    reset_after,
    reverse,
    need_x,
    need_wih,
    need_whh,
    need_bih,
    need_bhh,
):
    """Backward kernel, then each parameter gradient as one GEMM / sum over all T * B rows.

    When the kernels run threaded, the GEMMs run single-threaded on two threads of ours
    (`_TorchSerial`): torch's own OpenMP workers would otherwise spin on, after the last GEMM,
    into the next forward's threaded kernel and halve its speed (measured).
    """
    T, B, I = x.shape
    H = w_hh.shape[1]
    d_gi, d_gh, dh0 = _backward(saved, w_hh, dout, dh_n, reset_after, reverse)
    g_i = d_gi.view(T * B, 3 * H)
    g_h = d_gh.view(T * B, 3 * H)
    flat = saved.view(T * B, 5 * H)
    h_prev = flat[:, 4 * H :]  # (T*B, H) strided view: BLAS reads it in place

    def input_side():
        dx = torch.mm(g_i, w_ih).view(T, B, I) if need_x else None
        dw_ih = torch.mm(g_i.t(), x.reshape(T * B, I)) if need_wih else None
        db_ih = g_i.sum(0) if (need_bih or (need_bhh and not reset_after)) else None
        return dx, dw_ih, db_ih

    def recurrent_side():
        if not need_whh:
            return None
        if reset_after:
            return torch.mm(g_h.t(), h_prev)
        dw_hh = torch.empty((3 * H, H), dtype=x.dtype)
        torch.mm(g_h[:, : 2 * H].t(), h_prev, out=dw_hh[: 2 * H])
        torch.mm(g_h[:, 2 * H :].t(), flat[:, 3 * H : 4 * H], out=dw_hh[2 * H :])
        return dw_hh

    if _threads(T, B, H) > 1:
        with _TorchSerial(True):
            future = _get_pool(1).submit(input_side)
            dw_hh = recurrent_side()
            dx, dw_ih, db_ih = future.result()
    else:
        dx, dw_ih, db_ih = input_side()
        dw_hh = recurrent_side()
    db_hh = None
    if need_bhh:  # for reset_after=False the recurrent pre-activation gradient is d_gi
        db_hh = g_h.sum(0) if reset_after else db_ih.clone()
    return dx, dh0, dw_ih, dw_hh, db_ih, db_hh


def _backward_small(saved, x, w_ih, w_hh, dout, dh_n, reset_after, reverse):
    """Backward and every gradient in one numba call (a few rows: torch calls cost more)."""
    T, B, I = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    dh0 = dh_n.clone(memory_format=torch.contiguous_format)
    d_gi = _empty((T, B, 3 * H), dtype)
    d_gh = _empty((T, B, 3 * H), dtype) if reset_after else d_gi
    dx, dw_ih, dw_hh = (
        _empty((T, B, I), dtype),
        _empty((3 * H, I), dtype),
        _empty((3 * H, H), dtype),
    )
    db_ih, db_hh = _empty((3 * H,), dtype), _empty((3 * H,), dtype)
    _launch(
        K._bwd_small,
        dtype,
        saved.numpy(),
        _np(w_hh.contiguous()),
        _np(dout.contiguous()),
        dh0.numpy(),
        d_gi.numpy(),
        d_gh.numpy(),
        reset_after,
        reverse,
        _np(x.contiguous()),
        _np(w_ih.contiguous()),
        dx.numpy(),
        dw_ih.numpy(),
        dw_hh.numpy(),
        db_ih.numpy(),
        db_hh.numpy(),
    )
    return dx, dh0, dw_ih, dw_hh, db_ih, db_hh


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------


def _why_not(call: Call) -> str | None:
    if call.device != "cpu":
        return f"the cpu backend needs CPU tensors, got a {call.device} tensor."
    if call.dtype not in _DTYPES:
        return f"the cpu backend runs float32 and float64, got {call.dtype}."
    if not call.default_activations:
        return "the cpu backend runs only the default activations (tanh, sigmoid)."
    if call.recurrent_mask:
        return "the cpu backend does not support recurrent dropout (use backend='reference')."
    return None


def _check(x, h0, w_ih, w_hh, b_ih, b_hh) -> None:
    dt = x.dtype
    if not (h0.dtype is dt and w_ih.dtype is dt and w_hh.dtype is dt) or any(
        b is not None and b.dtype is not dt for b in (b_ih, b_hh)
    ):
        raise TypeError(
            "grunet cpu gru: x, h0 and all weights must share one dtype; got "
            f"x {x.dtype}, h0 {h0.dtype}, w_ih {w_ih.dtype}, w_hh {w_hh.dtype}."
        )


@register("gru", "cpu", priority=30, why_not=_why_not)
def gru(
    x: torch.Tensor,
    h0: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None = None,
    b_hh: torch.Tensor | None = None,
    *,
    reset_after: bool = True,
    reverse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One GRU layer in one direction on CPU with fused numba kernels (same contract as reference).

    Args:
        x: (T, B, I) inputs, time-major (any strides).
        h0: (B, H) initial state.
        w_ih: (3H, I) and w_hh: (3H, H), rows (r, z, n).
        b_ih, b_hh: (3H,) or None.
        reset_after: True: n = tanh(W_in x + b_in + r * (W_hn h + b_hn));
            False: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn).
        reverse: run t = T-1 .. 0; outputs stay in input time order.

    Returns:
        out (T, B, H) and h_n (B, H); differentiable w.r.t. every tensor argument.

    Examples:
        >>> import torch
        >>> from grunet.ops import cpu
        >>> x, h0 = torch.randn(5, 2, 3), torch.zeros(2, 4)
        >>> w_ih, w_hh = torch.randn(12, 3), torch.randn(12, 4)
        >>> out, h_n = cpu.gru(x, h0, w_ih, w_hh, reset_after=False)
        >>> tuple(out.shape), torch.equal(out[-1], h_n)
        ((5, 2, 4), True)
    """
    _check(x, h0, w_ih, w_hh, b_ih, b_hh)
    reset_after, reverse = bool(reset_after), bool(reverse)
    if torch.is_grad_enabled() and (
        x.requires_grad
        or h0.requires_grad
        or w_ih.requires_grad
        or w_hh.requires_grad
        or (b_ih is not None and b_ih.requires_grad)
        or (b_hh is not None and b_hh.requires_grad)
    ):
        return _GRUFunction.apply(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse)
    out, h_n, _ = _forward(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, False)
    return out, h_n


@torch.no_grad()
def gru_step(
    x_t: torch.Tensor,
    h: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None = None,
    b_hh: torch.Tensor | None = None,
    reset_after: bool = True,
) -> torch.Tensor:
    """One GRU step for streaming inference, input projection included, in one numba call.

    No autograd. Args: x_t (B, I), h (B, H), weights as in `gru`. Returns h_new (B, H).
    """
    dtype = x_t.dtype
    H3 = w_ih.shape[0]
    h_new = _empty(tuple(h.shape), dtype)
    _launch(
        K._step,
        dtype,
        _np(x_t.contiguous()),
        _np(h.contiguous()),
        _np(w_ih.contiguous()),
        _zeros(H3, dtype) if b_ih is None else _np(b_ih.contiguous()),
        _w_hh(w_hh, False),
        False,
        _zeros(H3, dtype) if b_hh is None else _np(b_hh.contiguous()),
        h_new.numpy(),
        bool(reset_after),
    )
    return h_new


class GRUStepper:
    """Streaming GRU inference: weights converted to numpy once, state carried between steps.

    Args:
        w_ih: (3H, I), w_hh: (3H, H), b_ih, b_hh: (3H,) or None; rows (r, z, n).
        reset_after: the GRU variant.
        h0: (B, H) initial state (tensor or array); zeros of (batch, H) when None.
        batch: B when `h0` is None.

    Examples:
        >>> import torch
        >>> from grunet.ops.cpu import GRUStepper
        >>> w_ih, w_hh = torch.randn(12, 3), torch.randn(12, 4)
        >>> stepper = GRUStepper(w_ih, w_hh)
        >>> h = stepper.step(torch.randn(1, 3))
        >>> tuple(h.shape)
        (1, 4)
    """

    def __init__(self, w_ih, w_hh, b_ih=None, b_hh=None, *, reset_after=True, h0=None, batch=1):
        w_ih = torch.as_tensor(w_ih).detach()
        dtype = w_ih.dtype
        if dtype not in _DTYPES:
            raise TypeError(f"GRUStepper: weights must be float32 or float64, got {dtype}.")
        H3 = w_ih.shape[0]
        w_hh = torch.as_tensor(w_hh).detach().to(dtype)
        self.w_ih = w_ih.contiguous().numpy()
        self.w_t = w_hh.t().contiguous().numpy()
        zero = np.zeros(H3, dtype=self.w_ih.dtype)
        self.b_ih = zero if b_ih is None else torch.as_tensor(b_ih).detach().to(dtype).numpy()
        self.b_hh = zero if b_hh is None else torch.as_tensor(b_hh).detach().to(dtype).numpy()
        self.b_ih, self.b_hh = np.ascontiguousarray(self.b_ih), np.ascontiguousarray(self.b_hh)
        self.reset_after = bool(reset_after)
        self.hidden_size = H3 // 3
        self.reset(h0, batch)

    @classmethod
    def from_module(cls, module: torch.nn.GRU, *, h0=None, batch=1) -> GRUStepper:
        """Stepper for a one-layer, one-direction `torch.nn.GRU` / `grunet.nn.GRU`."""
        if module.num_layers != 1 or module.bidirectional:
            raise ValueError("GRUStepper.from_module: needs num_layers=1 and bidirectional=False.")
        bias = module.bias
        return cls(
            module.weight_ih_l0,
            module.weight_hh_l0,
            module.bias_ih_l0 if bias else None,
            module.bias_hh_l0 if bias else None,
            reset_after=getattr(module, "reset_after", True),
            h0=h0,
            batch=batch,
        )

    def reset(self, h0=None, batch: int = 1) -> None:
        """Set the state to `h0` (B, H), or to zeros of (batch, H)."""
        if h0 is None:
            self.h = np.zeros((batch, self.hidden_size), dtype=self.w_ih.dtype)
        else:
            h0 = h0.detach().numpy() if isinstance(h0, torch.Tensor) else np.asarray(h0)
            self.h = np.ascontiguousarray(h0, dtype=self.w_ih.dtype)

    def step(self, x_t):
        """Advance one step. x_t (B, I) or (I,), numpy or tensor -> the new state h (B, H).

        Returns a tensor for tensor input, else an array; it is the carried state, so treat it
        as read-only.
        """
        is_tensor = isinstance(x_t, torch.Tensor)
        x = x_t.detach().numpy() if is_tensor else x_t
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.dtype != self.w_ih.dtype or not x.flags.c_contiguous:
            x = np.ascontiguousarray(x, dtype=self.w_ih.dtype)
        h_new = np.empty_like(self.h)
        _launch(
            K._step,
            x.dtype,
            x,
            self.h,
            self.w_ih,
            self.b_ih,
            self.w_t,
            True,
            self.b_hh,
            h_new,
            self.reset_after,
        )
        self.h = h_new
        return torch.from_numpy(h_new) if is_tensor else h_new


__all__ = ["GRUStepper", "gru", "gru_step"]
