"""benchmarks/gpu_check.sh: the script parses, and its stand-ins let grunet import on a bare machine.

The whole check is rehearsed by hand on the CPU (about a minute):
``OUT=/tmp/check GRUNET_GPU_CHECK_REHEARSAL=1 bash benchmarks/gpu_check.sh``.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUBS = ROOT / "benchmarks" / "gpu_check_stubs"


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with the stand-ins' folder first on the path."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GRUNET_")}
    base["PYTHONPATH"] = os.pathsep.join([str(STUBS), str(ROOT / "src")])
    return subprocess.run(
        [sys.executable, "-c", code], env=base | env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_script_parses():
    subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")], check=True)


def test_hidden_modules_are_missing_and_stand_ins_let_grunet_import():
    hidden = _python("import grunet", GRUNET_HIDE_MODULES="numba")
    assert hidden.returncode != 0 and "No module named 'numba'" in hidden.stderr
    code = (
        "import torch, grunet, grunet.nn\n"
        "from numba import njit\n"
        "gru = grunet.nn.GRU(3, 4, batch_first=True, backend='reference')\n"
        "assert gru(torch.randn(2, 5, 3))[0].shape == (2, 5, 4)\n"
        "@njit(cache=True)\n"
        "def kernel(x):\n"
        "    return x\n"
        "try:\n"
        "    kernel(1)\n"
        "except RuntimeError as e:\n"
        "    assert 'needs numba' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('a numba kernel ran without numba')\n"
    )
    stood_in = _python(code, GRUNET_HIDE_MODULES="numba", GRUNET_STUB_MODULES="numba,llvmlite")
    assert stood_in.returncode == 0, stood_in.stderr


def test_without_the_variables_nothing_changes():
    result = _python("import numba, sys; print(type(sys.modules['numba']).__name__)")
    if result.returncode != 0:
        pytest.skip(f"numba is not installed here: {result.stderr.splitlines()[-1]}")
    assert result.stdout.strip() == "module"
