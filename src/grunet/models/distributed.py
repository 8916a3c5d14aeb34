"""Data-parallel fit on PyTorch's own engine (DistributedDataParallel under torchrun)."""

from __future__ import annotations

import atexit
import os
from typing import NamedTuple

import torch
from torch import distributed as torch_dist
from torch.nn.parallel import DistributedDataParallel

from grunet.errors import OptionError, SetupError


class Replica(NamedTuple):
    """This process's view of a data-parallel fit."""

    net: torch.nn.Module  # the DDP-wrapped model (or the model itself when world == 1)
    rank: int
    world: int


def join(model: torch.nn.Module, batch_size: int, n: int, device: torch.device) -> Replica:
    """Join (or start, under torchrun) the process group and wrap `model` in DDP.

    Raises:
        RuntimeError: torch has no torch.distributed, or there is no torchrun launch.
        OptionError: a batch would give some process no samples.
    """
    if not torch_dist.is_available():
        raise SetupError("distributed=True: this torch build has no torch.distributed.")
    if not torch_dist.is_initialized():
        if "RANK" not in os.environ:
            raise SetupError(
                "distributed=True needs a torchrun launch (torchrun --nproc-per-node N ...) "
                "or an initialised torch.distributed process group."
            )
        torch_dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        # The group outlives this fit (a Forecaster fits several models in one process) but
        # must be torn down before the interpreter exits, or gloo's threads abort the process.
        atexit.register(_leave_process_group)
    rank, world = torch_dist.get_rank(), torch_dist.get_world_size()
    last = n % batch_size or batch_size
    if min(batch_size, last) < world:
        raise OptionError(
            f"distributed fit over {world} processes needs every batch to hold at least "
            f"{world} samples (batch_size {batch_size}, last batch {last}); use a larger "
            "batch_size or fewer processes."
        )
    return Replica(DistributedDataParallel(model), rank, world)


def all_reduce(*tensors: torch.Tensor) -> None:
    """Sum each tensor over the processes, in place."""
    for t in tensors:
        torch_dist.all_reduce(t)


def _leave_process_group() -> None:
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
