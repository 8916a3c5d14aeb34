"""The grunet command line: one module per command group, each a thin typed shell over the public
API; ``app`` (grunet.cli.app) holds the error rule they share."""

from __future__ import annotations

import sys

import typer

from grunet.cli import backtest, bench, demo, export, forecast
from grunet.cli.app import app

# The order `grunet --help` lists them in: the article, the forecasting workflow, the tools.
for _module in (demo, forecast, backtest, bench, export):
    for _command in _module.COMMANDS:
        app.command(name=_command.__name__)(_command)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


__all__ = ["app", "main"]
