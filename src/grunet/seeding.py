"""One call to seed every random number generator grunet uses, and a deterministic switch.

What holds: on the CPU, training with the same seed is bit-identical across runs and processes
(tested). On CUDA, cuDNN and atomics-based kernels may vary in the last bits between runs;
``set_seed(n, deterministic=True)`` makes torch use deterministic algorithms (raising where none
exists) at some cost in speed.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from grunet.errors import OptionError


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python's, numpy's and torch's generators (CPU and CUDA) with `seed`.

    Args:
        seed: a non-negative integer.
        deterministic: also make torch pick deterministic kernels (for bit-identical GPU runs).
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise OptionError(f"seed must be a non-negative integer, got {seed!r}.")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's documented switch
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
