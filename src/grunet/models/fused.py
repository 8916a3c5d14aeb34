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

import numpy as np
import torch

from grunet.layers import GRU, Dense
from grunet.models.losses import mean_squared_error

MAX_BATCH = 32  # beyond this the generic path's BLAS products and threads win
MAX_UNITS = 256


def why_not(model, X: torch.Tensor, batch_size: int) -> str | None:
    """None when the fused epoch computes exactly what the generic loop would; else why not."""
    layers = list(model.layers)
    if len(layers) != 2 or type(layers[0]) is not GRU or type(layers[1]) is not Dense:
        return "the model is not GRU -> Dense"
    gru, dense = layers
    if gru.backend not in ("auto", "cpu"):
        return f"the GRU asks for backend={gru.backend!r}"
    if (gru.activation, gru.recurrent_activation) != (
        "tanh",
        "sigmoid",
    ) or dense.activation not in (None, "linear"):
        return "non-default activations"
    if gru.dropout or gru.recurrent_dropout or gru.stateful or gru.go_backwards:
        return "dropout, stateful or go_backwards"
    if gru.return_sequences or gru.return_state:
        return "return_sequences or return_state"
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
    from grunet.ops import _cpu_train_kernels as K
    from grunet.ops.cpu import _launch  # compiles once, and says so in one line

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
        _launch(
            K.train_epoch,
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
