"""Data-parallel fit under torchrun (gloo, 2 CPU processes) equals a 1-process fit."""

import subprocess
import sys

import numpy as np
import pytest
import torch.distributed as dist

SCRIPT = r"""
import os, sys
import numpy as np
import torch
import grunet as gn
torch.set_default_dtype(torch.float64)
gn.set_seed(0)
x = np.random.default_rng(0).normal(size=(44, 5, 2))
y = x.sum(axis=1)[:, :1]
model = gn.Sequential([gn.layers.GRU(6, input_shape=(5, 2), reset_after=False), gn.layers.Dense(1)])
model.compile("mse", "adam")
distributed = os.environ.get("WORLD_SIZE") is not None
h = model.fit(x, y, epochs=3, batch_size=10, validation_split=0.1, verbose=0, distributed=distributed)
if model.rank == 0:
    np.savez(sys.argv[1], *model.get_weights(), loss=np.array(h.history["loss"]),
             val_loss=np.array(h.history["val_loss"]))
"""


@pytest.mark.slow
@pytest.mark.skipif(not dist.is_available(), reason="this torch build has no torch.distributed")
def test_two_process_gloo_fit_equals_one_process(tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)
    one = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "one.npz")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            str(script),
            str(tmp_path / "two.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert set(a.files) == set(b.files)
    for key in a.files:
        np.testing.assert_allclose(b[key], a[key], rtol=1e-10, atol=1e-12, err_msg=key)


def test_distributed_without_torchrun_is_a_clear_error(monkeypatch):
    import grunet as gn

    monkeypatch.delenv("RANK", raising=False)
    model = gn.Sequential([gn.layers.GRU(2, input_shape=(3, 1)), gn.layers.Dense(1)])
    model.compile("mse", "adam")
    with pytest.raises(RuntimeError, match="needs a torchrun launch"):
        model.fit(np.zeros((4, 3, 1)), np.zeros((4, 1)), verbose=0, distributed=True)
