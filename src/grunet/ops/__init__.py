"""grunet.ops: the recurrences, computed in one place, with several backends.

``gru``, ``lstm`` and ``rnn`` run stacked and bidirectional recurrences through the backend
registry. ``reference`` holds the plain-torch specification of each cell. Backends:

- ``reference``: plain torch loop (any device, dtype, activation; autograd through it).
- ``torch`` / ``cudnn``: PyTorch's own kernels (GRU with reset_after=True only).
- ``cpu``: fused numba kernels, forward and backward, both GRU variants.
- ``triton``: fused Triton kernels on CUDA (optional dependency, imported only on CUDA use).
"""

from grunet.ops import (  # noqa: F401  (registers backends)
    cpu,  # noqa: F401, E402  (registers backend "cpu")
    reference,
    torch_native,
    triton_backend,  # noqa: F401, E402  (registers "triton", lazily)
)
from grunet.ops.activations import ACTIVATIONS, get_activation
from grunet.ops.registry import Call, available, backends, register, resolve
from grunet.ops.stack import gru, lstm, rnn

for _cell in ("gru", "lstm", "rnn"):
    register(_cell, "reference", priority=0, supports={"step_mask", "projection"})(
        getattr(reference, _cell)
    )

__all__ = [
    "ACTIVATIONS",
    "Call",
    "available",
    "backends",
    "get_activation",
    "gru",
    "lstm",
    "reference",
    "register",
    "resolve",
    "rnn",
]
