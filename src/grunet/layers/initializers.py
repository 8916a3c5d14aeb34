"""Keras's default initializers, applied to tensors in Keras's layout (I, G*H) / (H, G*H).

Keras draws kernels with glorot_uniform and recurrent kernels with orthogonal on the Keras-shaped
matrix; drawing on the same shape keeps fan-in/fan-out and orthogonality as Keras has them.
"""

from __future__ import annotations

import torch


def glorot_uniform(shape: tuple[int, int], **factory) -> torch.Tensor:
    """U(-a, a), a = sqrt(6 / (fan_in + fan_out)) for a (fan_in, fan_out) matrix."""
    return torch.nn.init.xavier_uniform_(torch.empty(shape, **factory))


def orthogonal(shape: tuple[int, int], **factory) -> torch.Tensor:
    """A matrix with orthonormal rows or columns (QR of a Gaussian matrix, signs fixed)."""
    w = torch.empty(shape, dtype=torch.float64)
    torch.nn.init.orthogonal_(w)
    return w.to(**factory) if factory else w.to(torch.get_default_dtype())
