"""The SQLite backend: one file with a WAL journal, and the tantivy keyword index beside it."""

from __future__ import annotations

import os
import secrets
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any

from papertide.errors import StoreError
from papertide.store import secret_file
from papertide.store.sqlite_digest import DigestMixin
from papertide.store.sqlite_papers import PapersMixin
from papertide.store.sqlite_search import SearchMixin
from papertide.store.sqlite_signals import SignalsMixin
from papertide.store.sqlite_util import BUSY_TIMEOUT_MS
from papertide.store.sqlite_vectors import VectorsMixin
from papertide.store.sqlite_web import WebMixin


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("papertide.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text("utf-8")))
    return sorted(found)


class SQLiteStore(PapersMixin, SearchMixin, SignalsMixin, WebMixin, DigestMixin, VectorsMixin):
    """Papers in one SQLite file. Safe to open from several processes (WAL)."""

    def __init__(self, path: str, *, create_folder: bool = False) -> None:
        self.path = Path(path).expanduser() if path != ":memory:" else Path(path)
        try:
            if path != ":memory:":
                if not self.path.parent.is_dir():
                    if not create_folder:
                        raise StoreError(f"no folder {self.path.parent} for the store {path}; create it first")
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                _create_private(self.path)
            self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open store {path}: {exc}") from None
        except OSError as exc:
            raise StoreError(f"cannot create store {path}: {exc.strerror}") from None
        self.db.row_factory = sqlite3.Row

    # -- schema -----------------------------------------------------------------
    def _migrate(self) -> None:
        """Apply every migration not applied yet, each in its own transaction.

        Applied versions are recorded one by one (not as a high-water mark), so a
        migration numbered below one already applied is still picked up.
        """
        self.db.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                        "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (datetime('now')))")
        applied = {v for (v,) in self.db.execute("SELECT version FROM schema_migrations")}
        known = _migrations()
        if applied and max(applied) > known[-1][0]:
            raise StoreError(f"this store was written by a newer papertide (schema {max(applied)}; this one "
                             f"knows up to {known[-1][0]}): upgrade papertide to open it")
        for version, script in known:
            if version in applied:
                continue
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split_sql(script):
                    self.db.execute(statement)
                self.db.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def signing_secret(self) -> str:
        """The random key that signs links and forms when no ``secret_key`` is set: in a file of
        its own beside the store (``<db>.secret``, 0600), made by the first process to need it."""
        if str(self.path) == ":memory:":
            self.__dict__.setdefault("_secret", secrets.token_urlsafe(48))
            return self.__dict__["_secret"]
        return secret_file.read_or_create(self.path.with_name(self.path.name + ".secret"))

    def close(self) -> None:
        self.close_keyword()
        self.db.close()

    def stats(self) -> dict[str, Any]:
        one = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "papers": one("SELECT count(*) FROM papers"),
            "signals": one("SELECT count(*) FROM signals"),
            "by_source": dict(self.db.execute(
                "SELECT source, count(*) FROM provenance GROUP BY source ORDER BY source").fetchall()),
            "top_categories": dict(self.db.execute(
                "SELECT primary_category, count(*) c FROM papers WHERE primary_category != '' "
                "GROUP BY primary_category ORDER BY c DESC LIMIT 10").fetchall()),
            "published": [one("SELECT min(published) FROM papers WHERE published != ''"),
                          one("SELECT max(published) FROM papers")],
            "last_added": one("SELECT max(added_at) FROM papers"),
            "checkpoints": dict(self.db.execute("SELECT key, updated_at FROM checkpoints ORDER BY key").fetchall()),
            "path": str(self.path),
        }



def _create_private(path: Path) -> None:
    """Create the store file readable by its owner only (it holds subscribers' addresses);
    SQLite gives its -wal and -shm files the same mode. An existing file is left as it is."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _split_sql(script: str) -> list[str]:
    """Statements of a migration; trigger bodies keep their inner semicolons."""
    statements, current = [], []
    for line in script.splitlines():
        if line.strip().startswith("--") or not line.strip():
            continue
        current.append(line)
        joined = "\n".join(current)
        if sqlite3.complete_statement(joined):
            statements.append(joined)
            current = []
    return statements
