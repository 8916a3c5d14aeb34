"""File helpers every writer shares: atomic writes, clear refusals, figures saved atomically.

Writes are atomic (temporary file in the same folder, fsync, rename), so a crash mid-save leaves
any previous file intact; a saved file gets the usual permissions (mkstemp makes 0600).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any]) -> None:
    """Call ``write(tmp_path)`` then move the finished file to `path` in one rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def check_target(path: str | os.PathLike, overwrite: bool, example: str) -> Path:
    """Say clearly why a file cannot be written at `path` (exists without overwrite, is a folder,
    folder missing); return it as a Path. `example` names a good file name (model.grunet)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name such as {example}.")
    if not path.parent.exists():
        raise FileNotFoundError(f"folder {path.parent} does not exist; create it first.")
    return path


def save_figure(fig: Any, path: str | os.PathLike | None, dpi: int = 120) -> None:
    """Save a matplotlib Figure to `path` (format from the suffix, PNG by default) atomically;
    do nothing when `path` is None."""
    if path is None:
        return
    fmt = Path(path).suffix.lstrip(".") or "png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt))
