"""Training checkpoints: model, optimizer, RNG states and history in one safetensors file.

Everything needed to resume a fit so that it ends exactly as an uninterrupted run would (bit for
bit on the CPU): the weights, the optimizer's state, the epoch reached, the history so far, and the
states of torch's, numpy's and Python's random generators. Tensors go in the safetensors body, the
rest as JSON in its header; no pickle. Written atomically, so a kill mid-write leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from grunet._files import atomic_write
from grunet.errors import ModelFileError

FORMAT = "grunet.checkpoint"
FILENAME = "checkpoint.safetensors"


def fingerprint(*tensors: torch.Tensor, **settings: Any) -> str:
    """A short hash of the training data and settings, so a checkpoint resumes only its own run."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for t in tensors:
        h.update(str((tuple(t.shape), t.dtype)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _json_default(v):
    if isinstance(v, tuple):
        return list(v)
    if torch.is_tensor(v):
        return v.item()
    raise TypeError(f"not JSON-able: {type(v).__name__}")


def save_checkpoint(path: Path, model, epoch: int, history, run_id: str) -> None:
    """Write the state after `epoch` (0-based) to `path`, atomically."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_state = model.optimizer.state_dict()
    for idx, state in opt_state["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value.detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    np_state: tuple[Any, ...] = tuple(np.random.get_state(legacy=True))
    tensors["rng.numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
    py_state = random.getstate()
    metadata = {
        "format": FORMAT,
        "run_id": run_id,
        "epoch": str(epoch),
        "history": json.dumps({"history": history.history, "epoch": history.epoch}),
        "param_groups": json.dumps(opt_state["param_groups"], default=_json_default),
        "optim_scalars": json.dumps(
            {
                str(i): {k: v for k, v in s.items() if not torch.is_tensor(v)}
                for i, s in opt_state["state"].items()
            }
        ),
        "rng.numpy": json.dumps([np_state[0], *np_state[2:]]),
        "rng.python": json.dumps([py_state[0], list(py_state[1]), py_state[2]]),
    }
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_checkpoint(path: Path, model, history, run_id: str) -> int:
    """Restore model, optimizer, RNG states and history from `path`; return the epoch to start at.

    Raises:
        ModelFileError: the checkpoint is unreadable, or belongs to another run (other data or
            settings).
    """
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        raise ModelFileError(
            f"checkpoint {path} is unreadable ({type(e).__name__}: {e}); delete it to start over."
        ) from None
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a grunet checkpoint.")
    if meta.get("run_id") != run_id:
        raise ModelFileError(
            f"checkpoint {path} was written by a different run (other data, model or settings); "
            "resume with the same arguments, or use another checkpoint_dir."
        )
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict[str, Any]] = {}
    for idx, scalars in json.loads(meta["optim_scalars"]).items():
        state[int(idx)] = dict(scalars)
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    groups = json.loads(meta["param_groups"])
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    model.optimizer.load_state_dict({"state": state, "param_groups": groups})
    torch.set_rng_state(tensors["rng.torch"])
    np_meta = json.loads(meta["rng.numpy"])
    np.random.set_state((np_meta[0], tensors["rng.numpy"].numpy().astype(np.uint32), *np_meta[1:]))
    py = json.loads(meta["rng.python"])
    random.setstate((py[0], tuple(py[1]), py[2]))
    saved = json.loads(meta["history"])
    history.history, history.epoch = saved["history"], saved["epoch"]
    return int(meta["epoch"]) + 1
