"""Backend registry: names map to implementations; `auto` picks the fastest that can run the call.

A backend implements one recurrence (one layer, one direction) for one cell. It declares what it
can run through `why_not(call)`, which returns None when it can run the call and otherwise a
sentence saying why not. A named backend that cannot run raises that sentence; `auto` skips it.

Optional features a call may need (`FEATURES`, e.g. ``step_mask``: per-row, per-step masks for
packed sequences and Keras masking) are declared at register time with ``supports={...}``. A backend
that does not declare a feature the call needs is skipped by `auto` and refused by name, with a
message naming the feature, so a backend never silently ignores one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

CELLS = ("gru", "lstm", "rnn")
FEATURES = ("step_mask", "projection")


class Call(NamedTuple):
    """What a backend needs to know to say whether it can run a recurrence.

    A NamedTuple rather than a dataclass: one is built per call, and this is the cheapest.
    """

    cell: str
    device: str  # torch device type: "cpu", "cuda", ...
    dtype: torch.dtype
    reset_after: bool = True
    default_activations: bool = True  # tanh candidate, sigmoid gates
    recurrent_mask: bool = False  # Keras recurrent dropout during training
    step_mask: bool = False  # (T, B) bool mask: state carried over False steps (packed, Keras mask)
    projection: bool = False  # LSTM proj_size: h = W_hr (o * tanh(c)), kwarg w_hr (P, H)

    @classmethod
    def of(cls, cell: str, x: torch.Tensor, **kwargs) -> Call:
        return cls(cell, x.device.type, x.dtype, **kwargs)


@dataclass(frozen=True)
class Backend:
    name: str
    cell: str
    fn: Callable
    priority: int  # higher wins under "auto"
    why_not: Callable[[Call], str | None]
    auto_devices: tuple[str, ...] | None = None  # where "auto" may pick it; None: anywhere
    supports: frozenset[str] = frozenset()  # optional FEATURES it implements


def _needs(call: Call) -> list[str]:
    """The optional FEATURES `call` uses."""
    return [f for f in FEATURES if getattr(call, f)]


def _why_not(backend: Backend, call: Call) -> str | None:
    missing = {f for f in _needs(call) if f not in backend.supports}
    if missing:
        able = [n for n in backends(call.cell) if missing <= _REGISTRY[call.cell][n].supports]
        return (
            f"it does not implement {', '.join(sorted(missing))} (step_mask: PackedSequence input "
            f"and Keras masking; projection: LSTM proj_size); use backend='auto' or one of: "
            f"{', '.join(able)}."
        )
    return backend.why_not(call)


_REGISTRY: dict[str, dict[str, Backend]] = {cell: {} for cell in CELLS}
_ORDER: dict[str, list[str]] = {cell: [] for cell in CELLS}  # names by priority, kept on register


def register(
    cell: str,
    name: str,
    *,
    priority: int,
    why_not: Callable[[Call], str | None] = lambda c: None,
    auto_devices: tuple[str, ...] | None = None,
    supports: frozenset[str] | set[str] | tuple[str, ...] = (),
) -> Callable[[Callable], Callable]:
    """Decorator: register `fn` as backend `name` for `cell`.

    `auto_devices` limits where ``backend="auto"`` may choose it (e.g. Triton's interpreter can run
    on the CPU when asked by name, but is never the fast choice there). `supports` names the
    optional `FEATURES` `fn` implements (e.g. ``{"step_mask"}``: `fn` takes ``step_mask=`` (T, B)).
    """
    unknown = set(supports) - set(FEATURES)
    if unknown:
        raise ValueError(f"register: unknown features {sorted(unknown)}; known: {FEATURES}.")

    def deco(fn: Callable) -> Callable:
        _REGISTRY[cell][name] = Backend(
            name, cell, fn, priority, why_not, auto_devices, frozenset(supports)
        )
        _ORDER[cell] = sorted(_REGISTRY[cell], key=lambda n: -_REGISTRY[cell][n].priority)
        _AUTO.clear()
        return fn

    return deco


def backends(cell: str) -> list[str]:
    """Names registered for `cell`, fastest first."""
    return list(_ORDER[cell])


def _auto_ok(backend: Backend, call: Call) -> bool:
    if backend.auto_devices is not None and call.device not in backend.auto_devices:
        return False
    return _why_not(backend, call) is None


_AUTO: dict[Call, str | None] = {}  # auto_choice's answers; cleared when a backend registers


def auto_choice(call: Call) -> str | None:
    """The name ``backend="auto"`` runs `call` with (None: none can), remembered until the next
    `register` (the per-call shortcuts of ``ops.cpu`` ask it on every call)."""
    try:
        return _AUTO[call]
    except KeyError:
        pass
    names = available(call)
    choice = _AUTO[call] = names[0] if names else None
    return choice


def available(call: Call) -> list[str]:
    """Names of the backends "auto" may choose for `call`, fastest first."""
    return [n for n in backends(call.cell) if _auto_ok(_REGISTRY[call.cell][n], call)]


def resolve(call: Call, backend: str = "auto") -> Backend:
    """Return the backend to run `call` with.

    Raises:
        ValueError: `backend` is not a registered name.
        RuntimeError: the named backend cannot run this call (the message says why).
    """
    table = _REGISTRY[call.cell]
    if backend == "auto":
        for name in _ORDER[call.cell]:
            if _auto_ok(table[name], call):
                return table[name]
        raise RuntimeError(f"No {call.cell} backend can run on {call.device} with {call.dtype}.")
    if backend not in table:
        raise ValueError(
            f"Unknown backend {backend!r} for {call.cell}; choose one of: "
            f"auto, {', '.join(backends(call.cell))}."
        )
    reason = _why_not(table[backend], call)
    if reason is not None:
        raise RuntimeError(f"backend={backend!r} cannot run this {call.cell}: {reason}")
    return table[backend]
