"""Registers GRU backend "triton" without importing triton: the kernels load on first use.

`grunet.ops.triton_gru` (the kernels, the autograd.Function and the public function) imports
triton at module level, so it is imported here only inside `gru`, when a call actually runs on this
backend. `import grunet` never imports triton; CPU users need not install it.

The backend runs CUDA tensors, and CPU tensors only under the Triton interpreter
(``TRITON_INTERPRET=1``, slow: for tests on machines without a GPU).
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

import torch

from grunet.ops.registry import Call, register

_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@lru_cache(maxsize=1)
def _triton_installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _why_not(call: Call) -> str | None:
    if call.device != "cuda" and not (call.device == "cpu" and _interpreting()):
        return (
            f"the triton backend needs a CUDA tensor, got a {call.device} tensor "
            "(CPU tensors run only under the Triton interpreter, TRITON_INTERPRET=1)."
        )
    if not _triton_installed():
        return "triton is not installed (pip install 'grunet[triton]')."
    if call.dtype not in _DTYPES:
        return f"the triton backend runs float32, float16 and bfloat16, got {call.dtype}."
    if not call.default_activations:
        return "the triton backend runs only the default activations (tanh, sigmoid)."
    if call.recurrent_mask:
        return "the triton backend does not support recurrent dropout (use backend='reference')."
    return None


@register(
    "gru", "triton", priority=40, why_not=_why_not, auto_devices=("cuda",), supports={"step_mask"}
)
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
    step_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One GRU layer in one direction on the fused Triton kernels; see `grunet.ops.triton_gru.gru`.

    Args:
        x: (T, B, I); h0: (B, H); w_ih: (3H, I); w_hh: (3H, H); b_ih, b_hh: (3H,) or None.
        reset_after, reverse, step_mask: as in `grunet.ops.reference.gru`.

    Returns:
        out (T, B, H) and h_n (B, H).
    """
    from grunet.ops import triton_gru  # imports triton: only here, on first use

    return triton_gru.gru(
        x, h0, w_ih, w_hh, b_ih, b_hh, reset_after=reset_after, reverse=reverse, step_mask=step_mask
    )


__all__ = ["gru"]
