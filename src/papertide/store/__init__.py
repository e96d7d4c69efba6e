"""Storage: the only package that speaks SQL, writes index and vector files, or keeps secrets."""

from __future__ import annotations

from pathlib import Path

from papertide.errors import StoreError
from papertide.settings import setting_default
from papertide.store.base import Filters, IngestResult, Store, StoredPaper


def open_store(location: str) -> Store:
    """Open (creating and migrating if needed) the store at a path or URL. The folder of the
    default store is made on first use; any other path must name an existing folder (a typo
    must not leave folders and an empty store behind)."""
    if location.startswith(("postgresql://", "postgres://")):
        raise StoreError("the PostgreSQL backend is not available yet; use a SQLite path")
    from papertide.store.sqlite import SQLiteStore

    default = Path(setting_default("db")).expanduser()
    return SQLiteStore(location, create_folder=Path(location).expanduser() == default)


__all__ = ["Filters", "IngestResult", "Store", "StoredPaper", "open_store"]
