"""The fused CPU training path: a whole epoch of GRU -> Dense with MSE and Adam in one numba call.

`Sequential.fit` takes this path by itself when the model and settings are exactly ones the fused
kernel computes (`why_not` returns None), and the generic torch loop otherwise. Both compute the
same thing: the same shuffle (drawn from torch's generator the same way), the same batches, the
same gradients and torch's own Adam formulas; the tests check the weights after training agree
with the generic path to float64 rounding. The optimizer object stays the source of truth: the
kernel updates its state tensors (moments, step) in place, so saving, resuming or continuing with
the generic loop carries on exactly.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from grunet.layers import GRU, Dense, Layer
from grunet.models.fused import kernel
from grunet.models.losses import mean_squared_error
from grunet.ops.cpu.runtime import launch

MAX_BATCH = 32  # beyond this the generic path's BLAS products and threads win
MAX_UNITS = 256
ENV_SWITCH = "GRUNET_FUSED"  # GRUNET_FUSED=0 turns the fused path off (as fit(fused=False) does)

# What the fused epoch computes, declared as layer configurations: a model qualifies when it is
# exactly [a GRU with these config values, a Dense with these] (values: the allowed set).
FUSABLE: tuple[tuple[type[Layer], dict[str, tuple]], ...] = (
    (
        GRU,
        {
            "activation": ("tanh",),
            "recurrent_activation": ("sigmoid",),
            "dropout": (0, 0.0),
            "recurrent_dropout": (0, 0.0),
            "stateful": (False,),
            "go_backwards": (False,),
            "return_sequences": (False,),
            "return_state": (False,),
            "backend": ("auto", "cpu"),
        },
    ),
    (Dense, {"activation": (None, "linear")}),
)


def _layers_why_not(layers: list) -> str | None:
    if len(layers) != len(FUSABLE):
        return f"the model has {len(layers)} layers, the fused path runs GRU -> Dense"
    for layer, (kind, needs) in zip(layers, FUSABLE, strict=True):
        if not isinstance(layer, kind):
            return f"the model is not GRU -> Dense (found {type(layer).__name__})"
        config = layer.get_config()
        for key, allowed in needs.items():
            if config.get(key) not in allowed:
                return f"layer {layer.name!r} has {key}={config.get(key)!r}"
    return None


def why_not(model, X: torch.Tensor, batch_size: int) -> str | None:
    """None when the fused epoch computes exactly what the generic loop would; else why not."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return f"the environment sets {ENV_SWITCH}=0"
    layers = list(model.layers)
    reason = _layers_why_not(layers)
    if reason is not None:
        return reason
    gru = layers[0]
    if model.losses:
        return "the layers have regularizers (their penalties are not part of the fused epoch)"
    if X.device.type != "cpu" or X.dtype not in (torch.float32, torch.float64):
        return "not float32/float64 on the CPU"
    if any(
        p.dtype != X.dtype or not p.is_contiguous() or not p.requires_grad
        for p in model.parameters()
    ):
        return "parameters of another dtype, non-contiguous or frozen"
    if batch_size > MAX_BATCH or gru.units > MAX_UNITS:
        return "batch or model too large for the fused path"
    if model.loss_fn is not mean_squared_error or model.metric_fns:
        return "the loss is not mean squared error, or metrics are requested"
    opt = model.optimizer
    if type(opt) is not torch.optim.Adam or len(opt.param_groups) != 1:
        return "the optimizer is not a plain torch.optim.Adam"
    group = opt.param_groups[0]
    if (
        group["weight_decay"]
        or group["amsgrad"]
        or group["maximize"]
        or group["capturable"]
        or group["differentiable"]
        or torch.is_tensor(group["lr"])
    ):
        return "Adam options the fused path does not compute"
    if [id(p) for p in group["params"]] != [id(p) for p in model.parameters()]:
        return "the optimizer does not hold exactly the model's parameters"
    steps = {float(opt.state[p]["step"]) for p in group["params"] if p in opt.state}
    if len(steps) > 1 or (
        steps and len([p for p in group["params"] if p in opt.state]) != len(group["params"])
    ):
        return "the optimizer's parameters have taken different numbers of steps"
    return None


def _np(t: torch.Tensor | None, like: torch.Tensor) -> np.ndarray:
    return np.empty(0, dtype=like.detach().numpy().dtype) if t is None else t.detach().numpy()


def train_epoch(model, X: torch.Tensor, Y: torch.Tensor, batch_size: int) -> float:
    """Run one epoch over (already shuffled) X (N, T, I), Y (N, O); return the summed batch loss
    (batch MSE times batch size), as the generic loop accumulates it."""
    gru, dense = model.layers
    opt = model.optimizer
    group = opt.param_groups[0]
    params = [gru.weight_ih, gru.weight_hh, gru.bias_ih, gru.bias_hh, dense.kernel, dense.bias]
    moments = []
    for p in params:
        if p is None:
            moments += [None, None]
            continue
        state = opt.state[p]
        if not state:  # torch creates Adam's state lazily, on the first step: the same here
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        moments += [state["exp_avg"], state["exp_avg_sq"]]
    ref = gru.weight_ih
    step = int(opt.state[gru.weight_ih]["step"])
    beta1, beta2 = group["betas"]
    total = np.zeros(1)
    with torch.no_grad():
        launch(
            kernel.train_epoch,
            X.dtype,
            X.contiguous().numpy(),
            Y.contiguous().numpy(),
            batch_size,
            *(_np(p, ref) for p in params),
            *(_np(m, ref) for m in moments),
            step,
            float(group["lr"]),
            float(beta1),
            float(beta2),
            float(group["eps"]),
            gru.reset_after,
            total,
        )
    n_steps = -(-len(X) // batch_size)
    for p in params:
        if p is not None:
            opt.state[p]["step"] += n_steps
            p.grad = None
    return float(total[0])
