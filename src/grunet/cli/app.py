"""The typer app every command registers on, and the one error rule of the CLI.

The rule: errors a user can fix (``GrunetError`` and its kinds, ``OSError`` for paths, disks and
permissions) print as one line, ``error: ...``, with exit status 1; anything else is a bug in
grunet and shows its traceback. ``--debug`` shows the traceback for every error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import Enum

import typer

from grunet.errors import GrunetError
from grunet.layers import CELLS

app = typer.Typer(
    name="grunet",
    help="GRU networks for sequences and time series.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

USER_ERRORS: tuple[type[BaseException], ...] = (GrunetError, OSError)
_DEBUG: ContextVar[bool] = ContextVar("grunet_cli_debug", default=False)  # set by --debug

# The recurrent cells, named once (grunet.layers.CELLS); typer shows them as choices.
Cell = Enum("Cell", {name: name for name in CELLS}, type=str)  # type: ignore[misc]


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")):
    """GRU networks for sequences and time series."""
    _DEBUG.set(debug)


def message(e: BaseException) -> str:
    """The one line shown for a user error."""
    return str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)


@contextmanager
def user_errors() -> Iterator[None]:
    """Run a command body: user errors become one ``error:`` line and exit status 1."""
    try:
        yield
    except USER_ERRORS as e:
        if _DEBUG.get():
            raise
        typer.echo(f"error: {message(e)}", err=True)
        raise typer.Exit(1) from None


def fail(text: str) -> None:
    """Stop the command with one ``error:`` line and exit status 1."""
    typer.echo(f"error: {text}", err=True)
    raise typer.Exit(1)
