"""Helpers shared by the SQLite store modules."""

from __future__ import annotations

from typing import Any, Iterator

BUSY_TIMEOUT_MS = 10_000  # how long a connection waits for another's lock
_MAX_VARS = 900  # stay under SQLite's bound-parameter limit


def _chunks(items: list[Any], size: int = _MAX_VARS) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
