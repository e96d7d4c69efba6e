"""Helpers shared by the SQL store modules (SQLite and PostgreSQL)."""

from __future__ import annotations

from importlib import resources
from typing import Any, Iterator

from papertide.errors import StoreError

BUSY_TIMEOUT_MS = 10_000  # how long a connection waits for another's lock
_MAX_VARS = 900  # stay under SQLite's bound-parameter limit


def _chunks(items: list[Any], size: int = _MAX_VARS) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def category_match(column: str, categories: list[str]) -> tuple[str, list[str]]:
    """SQL true when ``column`` is any of ``categories``; an archive ('q-bio') also matches its
    categories ('q-bio.GN'), as a range on the column ('.' < '/', so every 'q-bio.x' sorts
    between 'q-bio.' and 'q-bio/'; PostgreSQL's columns use the C collation for this)."""
    ors, params = [], []
    for cat in categories:
        ors.append(f"{column} = ? OR ({column} > ? AND {column} < ?)")
        params += [cat, cat.lower() + ".", cat.lower() + "/"]  # archives: any case
    return "(" + " OR ".join(ors) + ")", params


def migrations(backend: str) -> list[tuple[int, str]]:
    """(version, script) of a backend's migrations, oldest first; one numbering for both."""
    folder = resources.files("papertide.store") / "migrations" / backend
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text("utf-8")))
    return sorted(found)


def newer_schema(applied: set[int], known: list[tuple[int, str]]) -> None:
    """Refuse a store written by a newer papertide, in one line."""
    if applied and max(applied) > known[-1][0]:
        raise StoreError(f"this store was written by a newer papertide (schema {max(applied)}; this one "
                         f"knows up to {known[-1][0]}): upgrade papertide to open it")
