"""Sequential: the Keras-style model (compile, fit, evaluate, predict, summary, save).

The fit loop is plain torch with no per-step host synchronisation: each epoch shuffles the whole
training set once, batches are views of the shuffled tensors, and the epoch's loss is accumulated
on the device and read once at the end of the epoch.
"""

from __future__ import annotations

import atexit
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import distributed as torch_dist
from torch import nn

from grunet.data.series import as_array
from grunet.errors import DataError, NotCompiledError
from grunet.layers import Bidirectional, Layer, deserialize, serialize
from grunet.layers.base import unique_name
from grunet.layers.recurrent import Recurrent
from grunet.models import fused
from grunet.models.checkpoint import FILENAME as CHECKPOINT_FILE
from grunet.models.checkpoint import fingerprint, load_checkpoint, save_checkpoint
from grunet.models.history import Callback, History
from grunet.models.losses import check_optimizer, get_loss, make_optimizer


@dataclass
class CompileConfig:
    """What compile() was given, as JSON-able names (None for objects that are not)."""

    loss: str | None = None
    optimizer: str | None = None
    metrics: list[str] = field(default_factory=list)


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)


class Sequential(nn.Module):
    """A linear stack of Keras-style layers.

    Args:
        layers: layers to add in order. The first may carry ``input_shape`` to build at once.
        name: model name (default "sequential", "sequential_1", ...).

    Examples:
        >>> import grunet as gn
        >>> model = gn.Sequential([gn.layers.GRU(50, input_shape=(1, 1)), gn.layers.Dense(1)])
        >>> model.count_params()
        8001
    """

    def __init__(self, layers: Sequence[Layer] | None = None, name: str | None = None) -> None:
        super().__init__()
        self.name = name or unique_name("sequential")
        self.layers = nn.ModuleList()
        self.build_input_shape: tuple | None = None
        self.stop_training = False
        self.rank = 0  # this process's rank when training distributed; only rank 0 writes files
        self.optimizer: torch.optim.Optimizer | None = None
        self._compile: CompileConfig | None = None
        self._optimizer_spec: Any = None
        self._loss: Callable | None = None
        self._metrics: list[tuple[str, Callable]] = []
        for layer in layers or []:
            self.add(layer)

    # -- structure --------------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Append a layer; builds the model when the first layer has an ``input_shape``."""
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add expects a grunet.layers layer, got {type(layer).__name__}."
            )
        self.layers.append(layer)
        first = self.layers[0]
        if self.build_input_shape is not None:
            self.build(self.build_input_shape)
        elif first.input_shape is not None:
            self.build(first.input_shape)

    @property
    def built(self) -> bool:
        return self.build_input_shape is not None

    def build(self, input_shape: Sequence[int]) -> None:
        """Create every layer's weights for inputs of shape (batch, *input_shape)."""
        shape = tuple(input_shape)
        self.build_input_shape = shape
        for layer in self.layers:
            layer.maybe_build(shape)
            shape = layer.compute_output_shape(shape)
        if self._optimizer_spec is not None:
            self._ensure_optimizer()

    def _ensure_optimizer(self) -> None:
        """Create the compiled optimizer over the parameters, once they exist."""
        if self.optimizer is None:
            self.optimizer = make_optimizer(self._optimizer_spec, list(self.parameters()))

    @property
    def output_shape(self) -> tuple:
        self._require_built("output_shape")
        shape = self.build_input_shape
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def count_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def reset_states(self) -> None:
        """Clear the carried state of every stateful recurrent layer."""
        for layer in self.layers:
            if hasattr(layer, "reset_states"):
                layer.reset_states()

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise RuntimeError(
                f"{what}: the model is not built yet. Give the first layer input_shape=(timesteps, "
                "features), or call build(), fit() or predict() first."
            )

    # -- weights ----------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """All layers' weights in Keras's order and layouts."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence) -> None:
        """Set all layers' weights from a list in Keras's order and layouts."""
        self._require_built("set_weights")
        weights = list(weights)
        counts = [len(layer._keras_weights()) for layer in self.layers]
        if len(weights) != sum(counts):
            raise DataError(f"the model has {sum(counts)} weight arrays, got {len(weights)}.")
        for layer, n in zip(self.layers, counts, strict=False):
            layer.set_weights(weights[:n])
            weights = weights[n:]

    # -- compile ----------------------------------------------------------------------------
    def compile(
        self,
        loss: Any = "mean_squared_error",
        optimizer: Any = "adam",
        metrics: Sequence[Any] | None = None,
    ) -> None:
        """Choose the loss, optimizer and metrics.

        Args:
            loss: Keras name ("mse"/"mean_squared_error", "mae", "huber", "rmse") or a callable
                ``(y_true, y_pred) -> scalar``.
            optimizer: "adam", "adamw", "sgd", "rmsprop" (Keras defaults), a torch optimizer class,
                or a torch optimizer instance over this model's parameters.
            metrics: names or callables as for `loss`, reported per epoch.
        """
        loss_name, self._loss = get_loss(loss)
        self._metrics = [get_loss(m, "metric") for m in (metrics or [])]
        check_optimizer(optimizer)
        self._optimizer_spec = optimizer
        self.optimizer = None
        if self.built:
            self._ensure_optimizer()
        self._compile = CompileConfig(
            loss=loss if isinstance(loss, str) else None,
            optimizer=optimizer if isinstance(optimizer, str) else None,
            metrics=[m for m, _ in self._metrics],
        )

    def _require_compiled(self, what: str) -> None:
        if self._loss is None:
            raise NotCompiledError(
                f"{what}: call model.compile(loss=..., optimizer=...) first, e.g. "
                "model.compile(loss='mean_squared_error', optimizer='adam')."
            )

    # -- data -------------------------------------------------------------------------------
    def _dtype_device(self) -> tuple[torch.dtype, torch.device]:
        p = next(self.parameters(), None)
        if p is None:
            return torch.get_default_dtype(), torch.device("cpu")
        return p.dtype, p.device

    def _tensor(self, data: Any, name: str) -> torch.Tensor:
        """`data` as a finite tensor on the model's device and dtype, with a batch axis."""
        if torch.is_tensor(data):
            if data.dtype == torch.bool or data.is_complex():
                raise DataError(f"{name} must be real numbers, got a {data.dtype} tensor.")
            if data.numel() == 0:
                raise DataError(f"{name} is empty; pass at least one sample.")
            if not bool(torch.isfinite(data).all()):
                raise DataError(f"{name} holds NaN or infinite values; fill or drop them first.")
            t = data.detach()
        else:
            t = torch.from_numpy(as_array(data, name))
        if t.dim() == 0:
            raise DataError(f"{name} must have a batch axis, got a scalar.")
        dtype, device = self._dtype_device()
        return t.to(dtype=dtype, device=device)

    def _check_x(self, x: torch.Tensor, name: str = "x") -> None:
        if not len(self.layers):
            raise ValueError("the model has no layers; add some with model.add(...).")
        expected = self.build_input_shape
        if isinstance(self.layers[0], (Recurrent, Bidirectional)) and x.dim() != 3:
            raise DataError(
                f"{name} must be 3-D (samples, timesteps, features), got shape "
                f"{tuple(x.shape)}. For one series, gn.data.lag_pairs(series) builds it."
            )
        if expected is not None and (x.dim() != len(expected) + 1 or x.shape[-1] != expected[-1]):
            want = ", ".join(str(d) for d in expected)
            raise DataError(
                f"{name} has shape {tuple(x.shape)}, but the model expects (samples, {want})."
            )

    def _prepare_xy(self, x: Any, y: Any, name: str = "") -> tuple[torch.Tensor, torch.Tensor]:
        X, Y = self._tensor(x, f"{name}x"), self._tensor(y, f"{name}y")
        self._check_x(X, f"{name}x")
        if len(X) != len(Y):
            raise DataError(
                f"{name}x and {name}y have different numbers of samples: {len(X)} and {len(Y)}."
            )
        if not self.built:
            self.build(tuple(X.shape[1:]))
        out = self.output_shape
        if tuple(Y.shape[1:]) != tuple(out):
            if Y[0].numel() != math.prod(out):
                want = ", ".join(str(d) for d in out)
                raise DataError(
                    f"{name}y has shape {tuple(Y.shape)} but the model outputs (samples, {want})."
                )
            Y = Y.reshape(len(Y), *out)  # e.g. y (N,) for a model that outputs (N, 1)
        return X, Y

    # -- training ---------------------------------------------------------------------------
    def fit(
        self,
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
        distributed: bool = False,
    ) -> History:
        """Train for `epochs` epochs with Keras's semantics.

        Args:
            x: (N, T, F) inputs (numpy or torch). y: (N, out) targets.
            epochs: number of epochs (>= 1). batch_size: samples per step (default 32).
            validation_split: fraction in (0, 1) taken from the END of x/y, before shuffling.
            validation_data: (x_val, y_val), overrides validation_split.
            shuffle: reshuffle the training samples every epoch.
            verbose: 0 silent, 1 progress bar ("auto"), 2 one line per epoch.
            callbacks: Callback objects (EarlyStopping, ...).
            initial_epoch: epoch to start counting from.
            print_fn: where progress goes (default: stdout).
            checkpoint_dir: folder for a training checkpoint (model, optimizer, RNG states,
                history), written atomically every `checkpoint_every` epochs and at the end.
            resume: continue from the checkpoint in `checkpoint_dir` if there is one; the resumed
                run ends with the same weights and history as an uninterrupted one.
            distributed: train data-parallel with torch DistributedDataParallel inside a torchrun
                (or an initialised process group): each process takes its share of every batch
                of `batch_size` (the global batch); only rank 0 prints and writes files.

        Returns:
            History with "loss", "val_loss" and metrics per epoch.
        """
        self._require_compiled("fit")
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {epochs!r}.")
        if epochs <= initial_epoch:
            raise ValueError(
                f"epochs ({epochs}) must be greater than initial_epoch ({initial_epoch})."
            )
        if verbose == "auto":
            verbose = 1
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}.")
        X, Y, val = self._split_validation(
            *self._prepare_xy(x, y), validation_data, validation_split
        )
        n = len(X)
        batch_size = n if batch_size is None else int(batch_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self._ensure_optimizer()
        steps = math.ceil(n / batch_size)
        history = History()
        history.params = {
            "verbose": verbose,
            "epochs": epochs,
            "steps": steps,
            "batch_size": batch_size,
        }
        dist = self._distributed_setup(batch_size, n) if distributed else None
        if self.rank != 0:
            verbose = 0
        checkpoint, run_id = None, ""
        if checkpoint_dir is not None:
            checkpoint, run_id = self._checkpoint_setup(
                Path(checkpoint_dir),
                resume,
                checkpoint_every,
                (X, Y, *(val or ())),
                batch_size=batch_size,
                shuffle=shuffle,
            )
            if resume and checkpoint.exists():
                initial_epoch = load_checkpoint(checkpoint, self, history, run_id)
        callbacks = list(callbacks or [])
        for cb in callbacks:
            cb.set_model(self)
        progress = _Progress(verbose, epochs, steps, print_fn)
        self.stop_training = False
        for cb in callbacks:
            cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            progress.epoch_begin(epoch)
            logs = self._train_epoch(X, Y, batch_size, shuffle, progress, dist)
            if val is not None:
                logs.update({f"val_{k}": v for k, v in self._evaluate(*val).items()})
            progress.epoch_end(logs)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            history.append(epoch, logs)  # last, as Keras's History callback: sees callbacks' keys
            last = self.stop_training or epoch == epochs - 1
            if (
                checkpoint is not None
                and self.rank == 0
                and ((epoch + 1) % checkpoint_every == 0 or last)
            ):
                save_checkpoint(checkpoint, self, epoch, history, run_id)
            if self.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end()
        self.eval()
        self.history = history
        return history

    def _split_validation(self, X, Y, validation_data, validation_split):
        """(X, Y, val): `validation_data` prepared, or Keras's split of the LAST fraction of X, Y
        (before any shuffling), or no validation set (val None)."""
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (x_val, y_val).")
            return X, Y, self._prepare_xy(*validation_data, name="validation ")
        if not validation_split:
            return X, Y, None
        if not 0.0 < validation_split < 1.0:
            raise ValueError(
                f"validation_split must be between 0 and 1 (exclusive), got {validation_split!r}."
            )
        split_at = int(math.floor(len(X) * (1.0 - validation_split)))
        if split_at in (0, len(X)):
            empty = "training" if split_at == 0 else "validation"
            raise DataError(
                f"validation_split={validation_split} leaves no {empty} samples out of {len(X)}; "
                "use a split that keeps both parts non-empty."
            )
        return X[:split_at], Y[:split_at], (X[split_at:], Y[split_at:])

    def _checkpoint_setup(self, folder: Path, resume: bool, every: int, tensors, **settings):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"checkpoint_every must be a positive integer, got {every!r}.")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / CHECKPOINT_FILE
        if path.exists() and not resume:
            raise FileExistsError(
                f"{folder} already holds a training checkpoint; pass resume=True (--resume) to "
                "continue that run, or choose another checkpoint folder."
            )
        run_id = fingerprint(
            *tensors,
            config=self.get_config(),
            compile=self.compile_config,
            optimizer=type(self.optimizer).__name__,
            **settings,
        )
        return path, run_id

    def _train_epoch(self, X, Y, batch_size, shuffle, progress, dist=None) -> dict[str, float]:
        """One epoch; `dist` = (ddp_module, rank, world) when training data-parallel."""
        self.train()
        if shuffle:
            perm = torch.randperm(len(X), device=X.device)  # the same on every rank (same seed)
            X, Y = X[perm], Y[perm]  # one gather per epoch; batches below are views
        net, rank, world = dist or (self, 0, 1)
        if world == 1 and fused.why_not(self, X, batch_size) is None:
            logs = {"loss": fused.train_epoch(self, X, Y, batch_size) / len(X)}
            progress.step(progress.steps)
            return logs
        loss_fn, opt = self._loss, self.optimizer
        total = torch.zeros((), dtype=torch.float64, device=X.device)
        metric_totals = [torch.zeros_like(total) for _ in self._metrics]
        for step, (a, b) in enumerate(_batches(len(X), batch_size)):
            if world > 1:  # this rank's share of the global batch [a, b)
                a, b, n_global = (
                    a + (b - a) * rank // world,
                    a + (b - a) * (rank + 1) // world,
                    b - a,
                )
            xb, yb = X[a:b], Y[a:b]
            pred = net(xb)
            loss = loss_fn(yb, pred)
            opt.zero_grad(set_to_none=True)
            # DDP averages gradients over ranks; weighting by this rank's share makes the result
            # the global batch's mean gradient even when the shares differ in size.
            (loss * ((b - a) * world / n_global) if world > 1 else loss).backward()
            opt.step()
            total += loss.detach() * (b - a)  # stays on the device: no sync per step
            if self._metrics:
                with torch.no_grad():
                    for acc, (_, fn) in zip(metric_totals, self._metrics, strict=False):
                        acc += fn(yb, pred) * (b - a)
            progress.step(step + 1)
        if world > 1:
            for t in (total, *metric_totals):
                torch_dist.all_reduce(t)  # once per epoch
        logs = {"loss": total.item() / len(X)}
        logs.update(
            {
                name: t.item() / len(X)
                for (name, _), t in zip(self._metrics, metric_totals, strict=False)
            }
        )
        return logs

    def _distributed_setup(self, batch_size: int, n: int):
        """Join (or start, under torchrun) the process group and wrap the model in DDP."""
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        if not dist.is_available():
            raise RuntimeError("distributed=True: this torch build has no torch.distributed.")
        if not dist.is_initialized():
            if "RANK" not in os.environ:
                raise RuntimeError(
                    "distributed=True needs a torchrun launch (torchrun --nproc-per-node N ...) "
                    "or an initialised torch.distributed process group."
                )
            device = self._dtype_device()[1]
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
            # The group outlives this fit (a Forecaster fits several models in one process) but
            # must be torn down before the interpreter exits, or gloo's threads abort the process.
            atexit.register(_leave_process_group)
        rank, world = dist.get_rank(), dist.get_world_size()
        last = n % batch_size or batch_size
        if min(batch_size, last) < world:
            raise ValueError(
                f"distributed fit over {world} processes needs every batch to hold at least "
                f"{world} samples (batch_size {batch_size}, last batch {last}); use a larger "
                "batch_size or fewer processes."
            )
        self.rank = rank
        return DistributedDataParallel(self), rank, world

    @torch.no_grad()
    def _evaluate(
        self, X: torch.Tensor, Y: torch.Tensor, batch_size: int = 1024
    ) -> dict[str, float]:
        was_training = self.training
        self.eval()
        preds = torch.cat([self(X[a:b]) for a, b in _batches(len(X), batch_size)])
        self.train(was_training)
        logs = {"loss": float(self._loss(Y, preds))}
        logs.update({name: float(fn(Y, preds)) for name, fn in self._metrics})
        return logs

    def evaluate(self, x: Any, y: Any, batch_size: int = 32, verbose: int = 0):
        """Loss (and metrics) on (x, y). Returns a float, or [loss, *metrics] with metrics."""
        self._require_compiled("evaluate")
        logs = self._evaluate(*self._prepare_xy(x, y), batch_size=batch_size)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        return logs["loss"] if not self._metrics else list(logs.values())

    @torch.no_grad()
    def predict(self, x: Any, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """Outputs for `x` (N, T, F) as a numpy array (N, ...), in inference mode."""
        X = self._tensor(x, "x")
        self._check_x(X)
        if not self.built:
            self.build(tuple(X.shape[1:]))
        was_training = self.training
        self.eval()
        out = torch.cat([self(X[a:b]) for a, b in _batches(len(X), batch_size)])
        self.train(was_training)
        return out.cpu().numpy()

    # -- description and persistence --------------------------------------------------------
    def summary(self, print_fn: Callable[[str], None] | None = None, line_length: int = 88) -> None:
        """Print the Keras-like table: Layer (type) | Output Shape | Param #, then totals."""
        from grunet.models.summary import render_summary

        self._require_built("summary")
        (print_fn or print)(render_summary(self, line_length).rstrip("\n"))

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "layers": [serialize(layer) for layer in self.layers],
            "build_input_shape": None
            if self.build_input_shape is None
            else list(self.build_input_shape),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        model = cls([deserialize(spec) for spec in config["layers"]], name=config.get("name"))
        if config.get("build_input_shape") is not None:
            model.build(tuple(config["build_input_shape"]))
        return model

    @property
    def compile_config(self) -> dict[str, Any] | None:
        return None if self._compile is None else asdict(self._compile)

    def save(self, path, overwrite: bool = False) -> None:
        """Save config (JSON) and weights (safetensors) to one file; never pickle.

        Raises:
            FileExistsError: `path` exists and overwrite is False.
        """
        from grunet.models.io import save_model

        save_model(self, path, overwrite=overwrite)

    def export(self, path, format: str = "onnx", overwrite: bool = False, **options):
        """Write the model for another runtime (``format="onnx"``); see ``grunet.export``."""
        from grunet.export import export

        return export(self, path, format, overwrite=overwrite, **options)


def _leave_process_group() -> None:
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


class _Progress:
    """Keras-style progress output: a bar (verbose=1) or one line per epoch (verbose=2)."""

    WIDTH = 20

    def __init__(self, verbose: int, epochs: int, steps: int, print_fn) -> None:
        self.verbose, self.epochs, self.steps = verbose, epochs, steps
        self.live = print_fn is None and verbose == 1 and sys.stdout.isatty()
        self.print_fn = print_fn or (lambda s: print(s, flush=True))
        self._next_draw = 0.0

    def epoch_begin(self, epoch: int) -> None:
        self.start = time.perf_counter()
        if self.verbose:
            self.print_fn(f"Epoch {epoch + 1}/{self.epochs}")

    def _bar(self, step: int) -> str:
        done = int(self.WIDTH * step / self.steps)
        return "━" * done + " " * (self.WIDTH - done)

    def step(self, step: int) -> None:
        # Reads only the clock: no tensor is synchronised to draw the bar.
        if self.live and step % 8 == 0:
            now = time.perf_counter()
            if now >= self._next_draw:
                self._next_draw = now + 0.1
                sys.stdout.write(f"\r{step}/{self.steps} {self._bar(step)}")
                sys.stdout.flush()

    def epoch_end(self, logs: dict[str, float]) -> None:
        if not self.verbose:
            return
        secs = time.perf_counter() - self.start
        per_step = secs / self.steps
        per = f"{per_step * 1e3:.0f}ms/step" if per_step >= 1e-3 else f"{per_step * 1e6:.0f}us/step"
        metrics = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
        if self.verbose == 1:
            line = (
                f"{self.steps}/{self.steps} {self._bar(self.steps)} {secs:.0f}s {per} - {metrics}"
            )
            if self.live:
                sys.stdout.write("\r")
        else:
            line = f"{self.steps}/{self.steps} - {secs:.0f}s - {per} - {metrics}"
        self.print_fn(line)
