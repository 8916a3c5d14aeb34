"""Checkpoints: a fit killed with SIGKILL and resumed ends exactly like an uninterrupted one, and a
save killed mid-write leaves the previous model intact."""

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

import grunet as gn
from grunet.errors import ModelFileError

FIT_SCRIPT = r"""
import json, os, signal, sys
import numpy as np
import grunet as gn
ckpt, kill_at, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
gn.set_seed(0)
x = np.random.default_rng(0).normal(size=(40, 3, 1)).astype("float32")
y = x.sum(axis=1)
model = gn.Sequential([gn.layers.GRU(6, input_shape=(3, 1), dropout=0.2), gn.layers.Dense(1)])
model.compile("mse", "adam")

class Kill(gn.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

h = model.fit(x, y, epochs=6, batch_size=8, validation_split=0.25, verbose=0,
              checkpoint_dir=ckpt, resume=True, callbacks=[Kill()])
model.save(out + ".grunet", overwrite=True)
json.dump(h.history, open(out + ".json", "w"))
"""


def _run(*args):
    return subprocess.run(
        [sys.executable, "-c", FIT_SCRIPT, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_fit_killed_and_resumed_equals_uninterrupted(tmp_path):
    killed = _run(tmp_path / "ck", 3, tmp_path / "resumed")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (tmp_path / "ck" / "checkpoint.safetensors").exists()
    resumed = _run(tmp_path / "ck", -1, tmp_path / "resumed")
    assert resumed.returncode == 0, resumed.stderr
    straight = _run(tmp_path / "ck2", -1, tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr
    a = gn.load_model(tmp_path / "resumed.grunet").get_weights()
    b = gn.load_model(tmp_path / "straight.grunet").get_weights()
    for wa, wb in zip(a, b, strict=False):
        np.testing.assert_array_equal(wa, wb)  # bit-identical on the CPU
    ha = json.loads((tmp_path / "resumed.json").read_text())
    hb = json.loads((tmp_path / "straight.json").read_text())
    assert ha == hb and len(ha["loss"]) == 6


def _small_fit(**kw):
    gn.set_seed(1)
    model = gn.Sequential([gn.layers.GRU(4, input_shape=(3, 1)), gn.layers.Dense(1)])
    model.compile("mse", "adam")
    x = np.random.default_rng(1).normal(size=(16, 3, 1))
    return model, model.fit(x, x.sum(1), epochs=2, batch_size=4, verbose=0, **kw)


def test_existing_checkpoint_is_not_overwritten_without_resume(tmp_path):
    _small_fit(checkpoint_dir=tmp_path)
    before = (tmp_path / "checkpoint.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="resume=True"):
        _small_fit(checkpoint_dir=tmp_path)
    assert (tmp_path / "checkpoint.safetensors").read_bytes() == before


def test_checkpoint_of_another_run_is_refused(tmp_path):
    _small_fit(checkpoint_dir=tmp_path)
    gn.set_seed(1)
    model = gn.Sequential([gn.layers.GRU(4, input_shape=(3, 1)), gn.layers.Dense(1)])
    model.compile("mse", "adam")
    x = np.ones((16, 3, 1))
    with pytest.raises(ModelFileError, match="different run"):
        model.fit(
            x, x.sum(1), epochs=2, batch_size=4, verbose=0, checkpoint_dir=tmp_path, resume=True
        )


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "checkpoint.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ModelFileError, match="unreadable"):
        _small_fit(checkpoint_dir=tmp_path, resume=True)


SAVE_SCRIPT = r"""
import os, signal, sys
import grunet as gn
import grunet.saving.native as native
path = sys.argv[1]
model = gn.Sequential([gn.layers.GRU(8, input_shape=(3, 1)), gn.layers.Dense(1)])

def half_then_die(tensors, tmp, metadata=None):
    with open(tmp, "wb") as f:
        f.write(b"partial safetensors bytes")
        f.flush()
    os.kill(os.getpid(), signal.SIGKILL)

native.save_file = half_then_die
model.save(path, overwrite=True)
"""


@pytest.mark.slow
def test_save_killed_mid_write_leaves_previous_model_intact(tmp_path):
    path = tmp_path / "m.grunet"
    model = gn.Sequential([gn.layers.GRU(8, input_shape=(3, 1)), gn.layers.Dense(1)])
    model.save(path)
    before = path.read_bytes()
    proc = subprocess.run(
        [sys.executable, "-c", SAVE_SCRIPT, str(path)], capture_output=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    x = np.zeros((2, 3, 1))
    np.testing.assert_array_equal(gn.load_model(path).predict(x), model.predict(x))
