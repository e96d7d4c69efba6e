"""Progress of long work: a live line on a terminal, plain log lines elsewhere."""

from __future__ import annotations

import logging
import sys

import click

log = logging.getLogger("papertide")


def show(line: str) -> None:
    """Overwrite the status line on a terminal; log the line otherwise."""
    if sys.stderr.isatty():
        click.echo(f"\r\033[K{line}", err=True, nl=False)
    else:
        log.info(line)


def finish() -> None:
    """End the status line on a terminal, so what follows starts on a line of its own."""
    if sys.stderr.isatty():
        click.echo("", err=True)
