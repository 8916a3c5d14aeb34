"""``grunet bench``: grunet's GRU backends against their peers, side by side in one run."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from grunet.cli.app import user_errors


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


def bench(
    device: Device = typer.Option(Device.cpu, help="cpu or cuda."),
    quick: bool = typer.Option(False, help="A small subset of the grid."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write results as JSON."),
) -> None:
    """Time grunet's GRU backends against torch.nn.GRU, side by side in one run."""
    with user_errors():
        if device is Device.cuda:
            from grunet.bench.cuda import run_cuda_bench  # imports triton: only when asked

            run_cuda_bench(quick=quick, json_path=None if json_path is None else str(json_path))
        else:
            from grunet.bench.cpu import run_bench

            run_bench(
                device="cpu", quick=quick, json_path=None if json_path is None else str(json_path)
            )


COMMANDS = [bench]
