"""The large buffers of a training call (saved gates, projections, their gradients): huge-page
mappings kept for the next call.

Legend:  T: time steps  B: batch  H: hidden units
"""

from __future__ import annotations

import math
import mmap
import sys
import threading

import torch

from grunet.ops.cpu import runtime

# Buffers of at least this many bytes come from anonymous mappings advised for transparent huge
# pages (Linux), kept for the next call (`_maps`). glibc's malloc (under torch.empty) maps every
# block this large afresh and unmaps it when freed, so each training call faulted in its saved
# gates and gradients 4 KB at a time: B=128, T=512, H=64 took 62,800 page faults a call, touching
# 84 MB that way took 26-30 ms against 5.5-6.9 ms in huge pages (measured on the 2-core KVM guest
# of BENCHMARKS.md). Mapped afresh per call, huge pages were fast only while the memory just freed
# by the last call was at hand: a call after other work paid up to ~1 s more (B=128, T=512, H=256,
# forward 1.1-2.7 s against 0.5 s; the first of two calls in a row paid, whichever variant it ran).
# Reused, a call's buffers are already mapped and touched. Below HUGE_BYTES, malloc reuses freed
# blocks, which is quicker still.
HUGE_BYTES = 32 << 20
# At most this much memory is kept mapped for reuse between calls (a B=128, T=512, H=256 training
# call uses ~0.95 GB of it); `release_memory` unmaps what no tensor uses.
POOL_BYTES = 1 << 30
_MADV_HUGEPAGE = getattr(mmap, "MADV_HUGEPAGE", None) if sys.platform == "linux" else None
_maps: list[mmap.mmap] = []  # every pooled mapping, in use or free (see `_is_free`)
_maps_lock = threading.Lock()


def empty_internal(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Allocator of a call's own large buffers (saved gates, projections, their gradients; never
    a tensor handed to the user, which must stay resizable as torch's are): `runtime.empty`, or, from
    `HUGE_BYTES` on, a pooled mapping in huge pages (not resizable; contents undefined, as
    `empty`'s)."""
    n = math.prod(shape)
    nbytes = n * dtype.itemsize
    if nbytes < HUGE_BYTES or _MADV_HUGEPAGE is None:
        return runtime.empty(shape, dtype)
    with _maps_lock:  # claimed (a tensor made on it) before another thread can look
        return torch.frombuffer(_mapping(nbytes), dtype=dtype, count=n).view(shape)


def _is_free(i: int) -> bool:
    """Whether no tensor uses pooled mapping i: a tensor made by torch.frombuffer holds a
    reference to its mapping for as long as any view of its storage lives (counted here: the
    list's reference and getrefcount's argument)."""
    return sys.getrefcount(_maps[i]) == 2


def _mapping(nbytes: int) -> mmap.mmap:
    """The smallest free pooled mapping of at least nbytes and at most twice what a new one
    would take, else a new one (pooled while the pool stays within POOL_BYTES, unmapping free
    ones to make room). Under `_maps_lock`."""
    want = -(-nbytes // (2 << 20)) * (2 << 20)  # a new mapping: whole huge pages
    best = None
    for i in range(len(_maps)):  # by index: a loop variable's reference would count as a user
        size = len(_maps[i])
        if nbytes <= size <= 2 * want and (best is None or size < len(_maps[best])):
            if _is_free(i):
                best = i
    if best is not None:
        return _maps[best]
    size = want
    mm = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        mm.madvise(_MADV_HUGEPAGE)
    except OSError:  # a kernel without transparent huge pages: plain pages
        pass
    total = sum(len(m) for m in _maps)
    dropped = set()
    for i in sorted(range(len(_maps)), key=lambda i: -len(_maps[i])):  # largest free first
        if total + size <= POOL_BYTES:
            break
        if _is_free(i):
            total -= len(_maps[i])
            _maps[i].close()
            dropped.add(i)
    _maps[:] = [_maps[i] for i in range(len(_maps)) if i not in dropped]
    if total + size <= POOL_BYTES:
        _maps.append(mm)
    return mm


def release_memory() -> int:
    """Unmap the pooled buffers no tensor uses (kept for the next training call otherwise);
    returns the bytes released."""
    with _maps_lock:
        free = [i for i in range(len(_maps)) if _is_free(i)]
        released = sum(len(_maps[i]) for i in free)
        for i in free:
            _maps[i].close()
        keep = set(range(len(_maps))) - set(free)
        _maps[:] = [_maps[i] for i in sorted(keep)]
    return released
