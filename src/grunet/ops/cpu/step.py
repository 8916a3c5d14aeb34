"""Streaming inference for one GRU layer: one step at a time, input projection included.

Legend:  B: batch  I: input features  H: hidden units

`GRUStepper` converts its weights to numpy once and carries the state between calls, each step
one call of `stream_kernels.model_step` with its weights and state bound once in a table;
`gru_step` is one step of a fresh `GRUStepper` (tensors in and out, no autograd). A whole
model (stacked layers + Dense) steps through `grunet.streaming.Stepper`.
"""

from __future__ import annotations

import numpy as np
import torch

from grunet.ops.cpu import runtime as R
from grunet.ops.cpu import stream_kernels as SK

_DTYPES = (torch.float32, torch.float64)


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
    stepper = GRUStepper(w_ih, w_hh, b_ih, b_hh, reset_after=reset_after, h0=h)
    return torch.as_tensor(stepper.step(x_t))


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
        self.w_hh = w_hh.contiguous().numpy()
        zero = np.zeros(H3, dtype=self.w_ih.dtype)
        self.b_ih = zero if b_ih is None else torch.as_tensor(b_ih).detach().to(dtype).numpy()
        self.b_hh = zero if b_hh is None else torch.as_tensor(b_hh).detach().to(dtype).numpy()
        self.b_ih, self.b_hh = np.ascontiguousarray(self.b_ih), np.ascontiguousarray(self.b_hh)
        self.reset_after = bool(reset_after)
        self.hidden_size = H3 // 3
        self._dtype = dtype
        self._launched = False
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
        """Set the state to (a copy of) `h0` (B, H), or to zeros of (batch, H)."""
        nd = self.w_ih.dtype
        if h0 is None:
            self._h = np.zeros((batch, self.hidden_size), dtype=nd)
        else:
            h0 = h0.detach().numpy() if isinstance(h0, torch.Tensor) else np.asarray(h0)
            self._h = np.array(h0, dtype=nd, order="C")  # a copy: the kernel updates it in place
        row = SK.layer_row(self.w_ih, self.w_hh, self.b_ih, self.b_hh, self.reset_after, self._h)
        self._table = SK.model_table([row], self._h.shape[0])

    @property
    def h(self) -> np.ndarray:
        """The carried state (B, H), updated in place by `step` (read it, do not write it)."""
        return self._h

    def step(self, x_t):
        """Advance one step. x_t (B, I) or (I,), numpy or tensor -> the new state h (B, H).

        Returns a tensor for tensor input, else an array: a new one each step (a copy of the
        carried state), so earlier results are never overwritten.
        """
        is_tensor = type(x_t) is not np.ndarray and isinstance(x_t, torch.Tensor)
        x = x_t.detach().numpy() if is_tensor else x_t
        nd = self.w_ih.dtype
        if x.dtype is not nd or not x.flags.c_contiguous:
            x = np.ascontiguousarray(x, dtype=nd)
        B, I = self._h.shape[0], self.w_ih.shape[1]  # noqa: E741
        if x.shape != (B, I) and not (B == 1 and x.shape == (I,)):
            raise ValueError(
                f"GRUStepper.step: expected x of shape {(B, I)} (batch, input features), "
                f"got {x.shape}; reset(batch=...) for another batch."
            )
        h_new = np.empty(B * self.hidden_size, nd)  # flat rows: what the kernel takes
        if self._launched:
            SK.model_step(self._table, x.reshape(-1), h_new)
        else:  # first call: may compile (and says so)
            R.launch(SK.model_step, self._dtype, self._table, x.reshape(-1), h_new)
            self._launched = True
        h_new = h_new.reshape(B, self.hidden_size)
        return torch.from_numpy(h_new) if is_tensor else h_new
