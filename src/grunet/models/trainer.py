"""The fit loop: epochs, batches, validation, callbacks, checkpoints, data-parallel training.

Plain torch with no per-step host synchronisation: each epoch shuffles the whole training set
once, batches are views of the shuffled tensors, and the epoch's loss is accumulated on the
device and read once at the end of the epoch. A GRU -> Dense model trained with MSE and Adam on
the CPU takes the fused path (``grunet.models.fused``: one numba call per epoch) when it computes
exactly what this loop would; ``fit(fused=False)`` or ``GRUNET_FUSED=0`` switches it off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from grunet.errors import OptionError
from grunet.models import distributed, fused
from grunet.models.callbacks import Callback
from grunet.models.checkpoint import FILENAME as CHECKPOINT_FILE
from grunet.models.checkpoint import fingerprint, load_checkpoint, save_checkpoint
from grunet.models.data_adapter import batches, prepare_xy, split_validation
from grunet.models.history import History
from grunet.models.progress import Progress


@dataclass(frozen=True)
class FitSettings:
    """The loop's settings, checked once."""

    epochs: int
    batch_size: int
    shuffle: bool
    verbose: int
    initial_epoch: int


def _check_settings(epochs: Any, initial_epoch: int, verbose: Any) -> int:
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise OptionError(f"epochs must be a positive integer, got {epochs!r}.")
    if epochs <= initial_epoch:
        raise OptionError(
            f"epochs ({epochs}) must be greater than initial_epoch ({initial_epoch})."
        )
    if verbose == "auto":
        verbose = 1
    if verbose not in (0, 1, 2):
        raise OptionError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}.")
    return int(verbose)


def fit(
    model,
    x: Any,
    y: Any,
    epochs: int = 1,
    batch_size: int | None = 32,
    validation_split: float = 0.0,
    validation_data: tuple | None = None,
    shuffle: bool = True,
    verbose: int | str = "auto",
    callbacks: Sequence[Callback] | None = None,
    initial_epoch: int = 0,
    print_fn: Callable[[str], None] | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    distributed_: bool = False,
    fused_: bool | None = None,
) -> History:
    """``Sequential.fit`` (see its docstring); `model` is a compiled Sequential."""
    model.require_compiled("fit")
    verbose = _check_settings(epochs, initial_epoch, verbose)
    X, Y, val = split_validation(model, *prepare_xy(model, x, y), validation_data, validation_split)
    n = len(X)
    batch_size = n if batch_size is None else int(batch_size)
    if batch_size < 1:
        raise OptionError(f"batch_size must be a positive integer, got {batch_size!r}.")
    model.ensure_optimizer()
    steps = math.ceil(n / batch_size)
    history = History()
    history.params = {
        "verbose": verbose,
        "epochs": epochs,
        "steps": steps,
        "batch_size": batch_size,
    }
    replica = distributed.Replica(model, 0, 1)
    if distributed_:
        replica = distributed.join(model, batch_size, n, X.device)
        model.rank = replica.rank
    if model.rank != 0:
        verbose = 0
    use_fused = _choose_fused(model, X, batch_size, fused_, replica.world)
    checkpoint, run_id = None, ""
    if checkpoint_dir is not None:
        checkpoint, run_id = _checkpoint_setup(
            model,
            Path(checkpoint_dir),
            resume,
            checkpoint_every,
            (X, Y, *(val or ())),
            batch_size=batch_size,
            shuffle=shuffle,
        )
        if resume and checkpoint.exists():
            initial_epoch = load_checkpoint(checkpoint, model, history, run_id)
    callbacks = list(callbacks or [])
    for cb in callbacks:
        cb.set_model(model)
    progress = Progress(verbose, epochs, steps, print_fn)
    model.stop_training = False
    for cb in callbacks:
        cb.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        progress.epoch_begin(epoch)
        logs = train_epoch(model, X, Y, batch_size, shuffle, progress, replica, use_fused)
        if val is not None:
            logs.update({f"val_{k}": v for k, v in evaluate_tensors(model, *val).items()})
        progress.epoch_end(logs)
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        history.append(epoch, logs)  # last, as Keras's History callback: sees callbacks' keys
        last = model.stop_training or epoch == epochs - 1
        if (
            checkpoint is not None
            and model.rank == 0
            and ((epoch + 1) % checkpoint_every == 0 or last)
        ):
            save_checkpoint(checkpoint, model, epoch, history, run_id)
        if model.stop_training:
            break
    for cb in callbacks:
        cb.on_train_end()
    model.eval()
    model.history = history
    return history


def _choose_fused(model, X: torch.Tensor, batch_size: int, wanted: bool | None, world: int) -> bool:
    """Whether this fit takes the fused epoch: None picks it when it computes exactly what the
    generic loop would; True insists (and says why it cannot); False never takes it."""
    if wanted is False:
        return False
    reason = "data-parallel training" if world > 1 else fused.why_not(model, X, batch_size)
    if reason is not None and wanted is True:
        raise OptionError(f"fused=True, but the fused CPU epoch cannot run this fit: {reason}.")
    return reason is None


def _checkpoint_setup(model, folder: Path, resume: bool, every: int, tensors, **settings):
    if not isinstance(every, int) or every < 1:
        raise OptionError(f"checkpoint_every must be a positive integer, got {every!r}.")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CHECKPOINT_FILE
    if path.exists() and not resume:
        raise FileExistsError(
            f"{folder} already holds a training checkpoint; pass resume=True (--resume) to "
            "continue that run, or choose another checkpoint folder."
        )
    run_id = fingerprint(
        *tensors,
        config=model.get_config(),
        compile=model.compile_config,
        optimizer=type(model.optimizer).__name__,
        **settings,
    )
    return path, run_id


def train_epoch(
    model,
    X: torch.Tensor,
    Y: torch.Tensor,
    batch_size: int,
    shuffle: bool,
    progress: Progress,
    replica: distributed.Replica,
    use_fused: bool = False,
) -> dict[str, float]:
    """One epoch over (X, Y); returns the epoch's mean loss and metrics."""
    model.train()
    if shuffle:
        perm = torch.randperm(len(X), device=X.device)  # the same on every rank (same seed)
        X, Y = X[perm], Y[perm]  # one gather per epoch; batches below are views
    if use_fused:
        logs = {"loss": fused.train_epoch(model, X, Y, batch_size) / len(X)}
        progress.step(progress.steps)
        return logs
    net, rank, world = replica
    loss_fn, opt, metrics = model.loss_fn, model.optimizer, model.metric_fns
    total = torch.zeros((), dtype=torch.float64, device=X.device)
    metric_totals = [torch.zeros_like(total) for _ in metrics]
    regularized = bool(model.losses)  # asked once: most models have no regularizer
    for step, (a, b) in enumerate(batches(len(X), batch_size)):
        n_global = b - a
        if world > 1:  # this rank's share of the global batch [a, b)
            a, b = a + n_global * rank // world, a + n_global * (rank + 1) // world
        xb, yb = X[a:b], Y[a:b]
        pred = net(xb)
        loss = loss_fn(yb, pred)
        if regularized:  # the penalties of the current weights, added to the loss as Keras does
            loss = loss + torch.stack(model.losses).sum()
        opt.zero_grad(set_to_none=True)
        # DDP averages gradients over ranks; weighting by this rank's share makes the result
        # the global batch's mean gradient even when the shares differ in size.
        (loss * ((b - a) * world / n_global) if world > 1 else loss).backward()
        opt.step()
        total += loss.detach() * (b - a)  # stays on the device: no sync per step
        if metrics:
            with torch.no_grad():
                for acc, (_, fn) in zip(metric_totals, metrics, strict=True):
                    acc += fn(yb, pred) * (b - a)
        progress.step(step + 1)
    if world > 1:
        distributed.all_reduce(total, *metric_totals)  # once per epoch
    logs = {"loss": total.item() / len(X)}
    logs.update(
        {name: t.item() / len(X) for (name, _), t in zip(metrics, metric_totals, strict=True)}
    )
    return logs


@torch.no_grad()
def evaluate_tensors(
    model, X: torch.Tensor, Y: torch.Tensor, batch_size: int = 1024
) -> dict[str, float]:
    """Loss and metrics of `model` on prepared tensors, in inference mode."""
    was_training = model.training
    model.eval()
    preds = torch.cat([model(X[a:b]) for a, b in batches(len(X), batch_size)])
    model.train(was_training)
    penalties = model.losses
    penalty = float(torch.stack(penalties).sum()) if penalties else 0.0
    logs = {"loss": float(model.loss_fn(Y, preds)) + penalty}
    logs.update({name: float(fn(Y, preds)) for name, fn in model.metric_fns})
    return logs
