"""The house rules that keep grunet easy to change, checked on every run.

- No import cycle among grunet's modules, counting imports placed inside functions (the layering
  itself is import-linter's contract in pyproject.toml, run by ``make test``).
- No private name (``_x``) imported from another package of grunet.
- No file over 450 lines, kernel files excepted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

import grunet

SRC = Path(grunet.__file__).parent
KERNEL_FILES = {"_cpu_kernels.py", "_cpu_train_kernels.py", "triton_gru.py", "kernels.py"}


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles():
    graph = grimp.build_graph("grunet", cache_dir=None)
    # A package's __init__ re-exporting its children is not a cycle of the code's own making:
    # drop the edges from a package to the modules inside it.
    for module in list(graph.modules):
        for child in list(graph.find_modules_directly_imported_by(module)):
            if child.startswith(module + "."):
                graph.remove_import(importer=module, imported=child)
    assert _cycles(graph) == []


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_private_names_across_packages():
    offenders = []
    for path in SRC.rglob("*.py"):
        module = "grunet." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("grunet")
            ):
                if _package(node.module) == _package(module):
                    continue
                private = [
                    a.name
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
                if private:
                    offenders.append(f"{module}: from {node.module} import {', '.join(private)}")
    assert offenders == []


def test_files_stay_small():
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if p.name not in KERNEL_FILES and (n := len(p.read_text().splitlines())) > 450
    }
    assert long == {}
