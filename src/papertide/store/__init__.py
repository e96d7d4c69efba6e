"""Storage: the only package that speaks SQL, writes index and vector files, or keeps secrets."""

from __future__ import annotations

from papertide.errors import StoreError
from papertide.store.base import Filters, IngestResult, Store, StoredPaper


def open_store(location: str) -> Store:
    """Open (creating and migrating if needed) the store at a path or URL."""
    if location.startswith(("postgresql://", "postgres://")):
        raise StoreError("the PostgreSQL backend is not available yet; use a SQLite path")
    from papertide.store.sqlite import SQLiteStore

    return SQLiteStore(location)


__all__ = ["Filters", "IngestResult", "Store", "StoredPaper", "open_store"]
