"""Sequential: the Keras-style model (structure, compile, predict, evaluate, summary, save).

The fit loop lives in ``trainer``, input checks in ``data_adapter``, model files in ``files``;
this class holds the structure and hands each job to its module.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from grunet.errors import DataError, NotBuiltError, NotCompiledError
from grunet.layers import Layer, deserialize, serialize
from grunet.layers.base import unique_name
from grunet.models import files, trainer
from grunet.models.callbacks import Callback
from grunet.models.data_adapter import batches, prepare_x, prepare_xy
from grunet.models.history import History
from grunet.models.losses import Loss, get_loss
from grunet.models.optimizers import check_optimizer, make_optimizer
from grunet.models.summary import render_summary


@dataclass
class CompileConfig:
    """What compile() was given, as JSON-able names (None for objects that are not)."""

    loss: str | None = None
    optimizer: str | None = None
    metrics: list[str] = field(default_factory=list)


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
        self.loss_fn: Loss | None = None
        self.metric_fns: list[tuple[str, Loss]] = []
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
        first = self.stack()[0]
        if self.build_input_shape is not None:
            self.build(self.build_input_shape)
        elif first.input_shape is not None:
            self.build(first.input_shape)

    def stack(self) -> list[Layer]:
        """The layers, in order (``self.layers`` is the ModuleList that owns them)."""
        return cast("list[Layer]", list(self.layers))

    @property
    def built(self) -> bool:
        return self.build_input_shape is not None

    def build(self, input_shape: Sequence[int]) -> None:
        """Create every layer's weights for inputs of shape (batch, *input_shape)."""
        shape = tuple(input_shape)
        self.build_input_shape = shape
        for layer in self.stack():
            layer.maybe_build(shape)
            shape = layer.compute_output_shape(shape)
        if self._optimizer_spec is not None:
            self.ensure_optimizer()

    def ensure_optimizer(self) -> None:
        """Create the compiled optimizer over the parameters, once they exist."""
        if self.optimizer is None:
            self.optimizer = make_optimizer(self._optimizer_spec, list(self.parameters()))

    @property
    def input_features(self) -> int:
        """Features per time step of the inputs the model was built for."""
        self.require_built("input_features")
        return int(tuple(self.build_input_shape or ())[-1])

    @property
    def output_shape(self) -> tuple:
        self.require_built("output_shape")
        shape = tuple(self.build_input_shape or ())
        for layer in self.stack():
            shape = layer.compute_output_shape(shape)
        return shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = None  # (B, T) bool from a Masking layer, carried as Keras does (compute_mask)
        for layer in self.stack():
            kwargs: dict[str, torch.Tensor] = (
                {"mask": mask} if mask is not None and layer.accepts_mask else {}
            )
            x, mask = layer(x, **kwargs), layer.compute_mask(x, mask)
        return x

    @property
    def losses(self) -> list[torch.Tensor]:
        """The weight penalties of every layer's regularizers (Keras's ``model.losses``), which
        fit adds to the loss."""
        return [loss for layer in self.stack() for loss in layer.losses]

    def count_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def dtype_device(self) -> tuple[torch.dtype, torch.device]:
        """The dtype and device of the weights (torch's defaults before the model is built)."""
        p = next(self.parameters(), None)
        if p is None:
            return torch.get_default_dtype(), torch.device("cpu")
        return p.dtype, p.device

    @classmethod
    def from_layers(
        cls, layers: Sequence[Layer], name: str | None, input_shape: tuple
    ) -> Sequential:
        """A model of `layers`, built for inputs (batch, *input_shape)."""
        model = cls(list(layers), name=name)
        model.build(input_shape)
        return model

    def reset_states(self) -> None:
        """Clear the carried state of every stateful recurrent layer."""
        for layer in self.stack():
            reset = getattr(layer, "reset_states", None)
            if reset is not None:
                reset()

    def require_built(self, what: str) -> None:
        """Raise a NotBuiltError naming `what` unless the model has its weights."""
        if not self.built:
            raise NotBuiltError(
                f"{what}: the model is not built yet. Give the first layer input_shape=(timesteps, "
                "features), or call build(), fit() or predict() first."
            )

    # -- weights ----------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """All layers' weights in Keras's order and layouts."""
        return [w for layer in self.stack() for w in layer.get_weights()]

    def set_weights(self, weights: Sequence) -> None:
        """Set all layers' weights from a list in Keras's order and layouts."""
        self.require_built("set_weights")
        weights = list(weights)
        counts = [len(layer.get_weights()) for layer in self.stack()]
        if len(weights) != sum(counts):
            raise DataError(f"the model has {sum(counts)} weight arrays, got {len(weights)}.")
        for layer, n in zip(self.stack(), counts, strict=True):
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
        loss_name, self.loss_fn = get_loss(loss)
        self.metric_fns = [get_loss(m, "metric") for m in (metrics or [])]
        check_optimizer(optimizer)
        self._optimizer_spec = optimizer
        self.optimizer = None
        if self.built:
            self.ensure_optimizer()
        self._compile = CompileConfig(
            loss=loss if isinstance(loss, str) else None,
            optimizer=optimizer if isinstance(optimizer, str) else None,
            metrics=[m for m, _ in self.metric_fns],
        )

    def require_compiled(self, what: str) -> None:
        """Raise a NotCompiledError naming `what` unless compile() was called."""
        if self.loss_fn is None:
            raise NotCompiledError(
                f"{what}: call model.compile(loss=..., optimizer=...) first, e.g. "
                "model.compile(loss='mean_squared_error', optimizer='adam')."
            )

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
        fused: bool | None = None,
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
            fused: the fused CPU epoch for GRU -> Dense, MSE, Adam (``grunet.models.fused``):
                None takes it whenever it computes exactly what the generic loop would; True
                insists (an OptionError says why it cannot); False never takes it.

        Returns:
            History with "loss", "val_loss" and metrics per epoch.
        """
        return trainer.fit(
            self,
            x,
            y,
            epochs=epochs,
            batch_size=batch_size,
            validation_split=validation_split,
            validation_data=validation_data,
            shuffle=shuffle,
            verbose=verbose,
            callbacks=callbacks,
            initial_epoch=initial_epoch,
            print_fn=print_fn,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every,
            resume=resume,
            distributed_=distributed,
            fused_=fused,
        )

    def evaluate(self, x: Any, y: Any, batch_size: int = 32, verbose: int = 0):
        """Loss (and metrics) on (x, y). Returns a float, or [loss, *metrics] with metrics."""
        self.require_compiled("evaluate")
        logs = trainer.evaluate_tensors(self, *prepare_xy(self, x, y), batch_size=batch_size)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        return logs["loss"] if not self.metric_fns else list(logs.values())

    @torch.no_grad()
    def predict(self, x: Any, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """Outputs for `x` (N, T, F) as a numpy array (N, ...), in inference mode."""
        X = prepare_x(self, x)
        was_training = self.training
        self.eval()
        out = torch.cat([self(X[a:b]) for a, b in batches(len(X), batch_size)])
        self.train(was_training)
        return out.cpu().numpy()

    # -- description and persistence --------------------------------------------------------
    def summary(self, print_fn: Callable[[str], None] | None = None, line_length: int = 88) -> None:
        """Print the Keras-like table: Layer (type) | Output Shape | Param #, then totals."""
        self.require_built("summary")
        (print_fn or print)(render_summary(self, line_length).rstrip("\n"))

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "layers": [serialize(layer) for layer in self.stack()],
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

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Save to one file: ``.grunet`` (config as JSON + weights as safetensors; never pickle)
        or ``.keras`` (a Keras 3 file). Returns the path written.

        Raises:
            FileExistsError: `path` exists and overwrite is False.
        """
        return files.save_model(self, path, overwrite=overwrite)

    def export(
        self, path: str | os.PathLike, format: str = "onnx", overwrite: bool = False, **options
    ) -> Path:
        """Write the model for another runtime (``format="onnx"``); see ``grunet.export``."""
        return files.export(self, path, format, overwrite=overwrite, **options)
