"""Progress of long work: a live line on a terminal, plain log lines elsewhere."""

from __future__ import annotations

import logging
import sys
import time

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


class Bar:
    """Work of a known size: click's progress bar (count, percent, rate, ETA) on a terminal;
    elsewhere a log line at most every ``every`` seconds, with the same figures."""

    def __init__(self, label: str, total: int, unit: str = "items", every: float = 10.0) -> None:
        self.label, self.total, self.unit, self.every = label, max(0, total), unit, every
        self.done = 0
        self.started = time.monotonic()
        self._logged = 0.0
        self._bar = None
        if sys.stderr.isatty() and self.total:
            self._bar = click.progressbar(length=self.total, label=label, show_eta=True, show_pos=True,
                                          item_show_func=lambda _: self.rate_text(), file=sys.stderr)
            self._bar.__enter__()

    def rate_text(self) -> str:
        seconds = time.monotonic() - self.started
        return f"{self.done / seconds:,.1f} {self.unit}/s" if seconds > 0 and self.done else ""

    def update_to(self, done: int) -> None:
        step, self.done = done - self.done, done
        if self._bar is not None:
            self._bar.update(step, current_item=done)
            return
        now = time.monotonic()
        if now - self._logged >= self.every or done >= self.total:
            self._logged = now
            seconds = now - self.started
            eta = (self.total - done) / (done / seconds) if done and seconds > 0 else None
            log.info("%s: %s/%s %s (%s%s)", self.label, f"{done:,}", f"{self.total:,}", self.unit,
                     self.rate_text() or "starting", f", about {eta:,.0f} s left" if eta is not None else "")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
