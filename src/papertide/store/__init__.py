"""Storage: the only package that speaks SQL, writes index and vector files, or keeps secrets."""

from __future__ import annotations

import os
from pathlib import Path

from papertide.errors import StoreError
from papertide.settings import setting_default
from papertide.store.base import Filters, IngestResult, Store, StoredPaper


def open_store(location: str, *, index_dir: str | None = None) -> Store:
    """Open (creating and migrating if needed) the store at a path or a ``postgresql://`` URL.

    The folder of the default SQLite store is made on first use; any other path must name an
    existing folder (a typo must not leave folders and an empty store behind). A PostgreSQL
    store keeps this host's keyword index under ``index_dir``."""
    if location.startswith(("postgresql://", "postgres://")):
        try:
            from papertide.store.postgres import PostgresStore
        except ImportError as exc:
            raise StoreError(f"a PostgreSQL store needs papertide[postgresql] installed ({exc.name} is missing): "
                             "pip install 'papertide[postgresql]'") from None
        return PostgresStore(location, index_dir=index_dir or os.environ.get("PAPERTIDE_INDEX_DIR")
                             or setting_default("index_dir"))
    from papertide.store.sqlite import SQLiteStore

    default = Path(setting_default("db")).expanduser()
    return SQLiteStore(location, create_folder=Path(location).expanduser() == default)


__all__ = ["Filters", "IngestResult", "Store", "StoredPaper", "open_store"]
