"""Fit the article's model with grunet and with Keras 3 in one run; print both times and the ratio.

    python benchmarks/bench_demo.py [--seeds 3] [--keras-python PATH] [--keras-backend tensorflow]

The configuration is `grunet demo`'s: the article's R series, scale(), one-step pairs, GRU(50) +
Dense(1), MSE + Adam, 100 epochs at batch size 1, validation_split=0.2 (7,900 optimizer steps).
Keras runs in a subprocess (its backend is fixed at import) on the same arrays. By default it uses
`.venv-tf/bin/python` with the TensorFlow backend when that exists (DESIGN.md's reference setup),
else this interpreter with Keras's torch backend.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

KERAS_SCRIPT = r"""
import json, os, sys, time
import numpy as np
import keras
d = np.load(sys.argv[1])
x, y, seed = d["x"], d["y"], int(sys.argv[2])
keras.utils.set_random_seed(seed)
model = keras.Sequential([keras.Input((1, 1)), keras.layers.GRU(50), keras.layers.Dense(1)])
model.compile(loss="mean_squared_error", optimizer="adam")
t = time.perf_counter()
h = model.fit(x, y, epochs=100, batch_size=1, validation_split=0.2, verbose=0)
secs = time.perf_counter() - t
print(json.dumps({"seconds": secs, "loss": h.history["loss"][-1], "val_loss": h.history["val_loss"][-1],
                  "keras": keras.__version__, "backend": keras.backend.backend()}))
"""


def fit_grunet(x, y, seed: int, backend: str = "auto") -> dict:
    import torch

    import grunet as gn

    gn.set_seed(seed)
    model = gn.Sequential(
        [gn.layers.GRU(50, input_shape=(1, 1), backend=backend), gn.layers.Dense(1)]
    )
    model.compile(loss="mean_squared_error", optimizer="adam")
    t = time.perf_counter()
    h = model.fit(x, y, epochs=100, batch_size=1, validation_split=0.2, verbose=0)
    secs = time.perf_counter() - t
    return {
        "seconds": secs,
        "loss": h.history["loss"][-1],
        "val_loss": h.history["val_loss"][-1],
        "torch_threads": torch.get_num_threads(),
    }


def fit_keras(data_path: str, seed: int, python: str, backend: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(
        [python, "-c", KERAS_SCRIPT, data_path, str(seed)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    import grunet as gn

    root = Path(__file__).resolve().parents[1]
    tf_python = root / ".venv-tf" / "bin" / "python"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument(
        "--keras-python", default=str(tf_python) if tf_python.exists() else sys.executable
    )
    p.add_argument("--keras-backend", default="tensorflow" if tf_python.exists() else "torch")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()

    x, y = gn.data.lag_pairs(gn.data.scale(gn.data.load_article_sine()))
    with tempfile.TemporaryDirectory() as tmp:
        data_path = os.path.join(tmp, "article.npz")
        np.savez(data_path, x=x, y=y)
        fit_grunet(x, y, seed=0)  # warm-up: first-call compile and allocator
        rows = []
        for seed in range(args.seeds):
            g = fit_grunet(x, y, seed)
            k = fit_keras(data_path, seed, args.keras_python, args.keras_backend)
            rows.append({"seed": seed, "grunet": g, "keras": k})
            print(
                f"seed {seed}: grunet {g['seconds']:.2f} s (loss {g['loss']:.4f}, val {g['val_loss']:.4f})"
                f" | keras[{k['backend']}] {k['seconds']:.2f} s (loss {k['loss']:.4f}, val "
                f"{k['val_loss']:.4f}) | {k['seconds'] / g['seconds']:.1f}x",
                flush=True,
            )
    g_med = statistics.median(r["grunet"]["seconds"] for r in rows)
    k_med = statistics.median(r["keras"]["seconds"] for r in rows)
    print(
        f"median fit: grunet {g_med:.2f} s ({g_med / 7900 * 1e6:.0f} us/step), "
        f"keras {k_med:.2f} s ({k_med / 7900 * 1e6:.0f} us/step): grunet is {k_med / g_med:.1f}x faster"
    )
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "grunet_median_s": g_med, "keras_median_s": k_med}, indent=2)
        )


if __name__ == "__main__":
    main()
