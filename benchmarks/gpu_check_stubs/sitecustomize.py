"""Stand-ins for grunet dependencies that a bare GPU machine lacks (benchmarks/gpu_check.sh only).

The GPU check machine has torch, triton, numpy and pandas and no internet, while ``import grunet``
also imports numba (the CPU kernels), safetensors (model files) and rich (summaries), none of which
the Triton check uses. gpu_check.sh puts this folder on PYTHONPATH and names the missing modules in
``GRUNET_STUB_MODULES`` (comma-separated); each then imports as a stand-in module:

- any attribute is a stand-in object, and so is any submodule (``from numba.extending import x``);
- a stand-in called with one function and nothing else is a decorator (``@njit``, or the object
  ``njit(cache=True)`` returned): it returns a function of the same name that raises when called,
  so a decorated module imports, and code that really needs the missing package fails loudly;
- any other call returns another stand-in.

``GRUNET_HIDE_MODULES`` (comma-separated) makes installed modules look missing instead, so that a
rehearsal on a full machine runs the bare machine's code path. Python imports ``sitecustomize`` at
start-up from the path; with neither variable set this does nothing. The check names the modules
it stood in for in ``$OUT/preflight.log`` and ``$OUT/summary.txt``.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import os
import sys
import types


def _names(var: str) -> frozenset[str]:
    return frozenset(n.strip() for n in os.environ.get(var, "").split(",") if n.strip())


_NAMES = set(_names("GRUNET_STUB_MODULES"))
_HIDDEN = _names("GRUNET_HIDE_MODULES")


def stub(name: str) -> None:
    """Stand in for top-level module `name` from now on (the check's import probe calls this)."""
    _NAMES.add(name)
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def stubbed() -> set[str]:
    return set(_NAMES)


class _Stub:
    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Stub(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and not kwargs and isinstance(args[0], types.FunctionType):
            return _unavailable(args[0], self._name)
        return _Stub(f"{self._name}(...)")

    def __repr__(self) -> str:
        return f"<stand-in {self._name}>"


def _unavailable(fn, by: str):
    @functools.wraps(fn)
    def raiser(*args, **kwargs):
        raise RuntimeError(
            f"{fn.__qualname__} needs {by.split('.')[0]}, which this machine lacks "
            "(benchmarks/gpu_check_stubs stood in for it at import)."
        )

    return raiser


class _StubModule(types.ModuleType):
    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Stub(f"{self.__name__}.{attr}")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        top = fullname.split(".")[0]
        if top in _HIDDEN and top not in _NAMES:
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden)", name=fullname)
        if top not in _NAMES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module) -> None:
        return None


if _NAMES or _HIDDEN:
    sys.meta_path.insert(0, _Finder())
