"""The SQLite backend: one file with a WAL journal, and the tantivy keyword index beside it."""

from __future__ import annotations

import fcntl
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from papertide.errors import DigestBusy, JobBusy, PapertideError, StoreError
from papertide.store import secret_file
from papertide.store.sql_digest import DigestMixin
from papertide.store.sql_papers import PapersMixin
from papertide.store.sql_people import PeopleMixin
from papertide.store.sql_search import SearchMixin
from papertide.store.sql_signals import SignalsMixin
from papertide.store.sql_util import BUSY_TIMEOUT_MS, migrations, newer_schema
from papertide.store.sql_web import WebMixin
from papertide.store.sqlite_vectors import VectorsMixin

_WRITER_CACHE_KIB = 32768  # page cache of a connection that ingests
# One in-process lock per in-memory store: there is no file to lock.
_MEMORY_LOCKS: dict[tuple[int, str], threading.Lock] = {}


class SQLiteStore(PapersMixin, SearchMixin, SignalsMixin, WebMixin, DigestMixin, PeopleMixin, VectorsMixin):
    """Papers in one SQLite file. Safe to open from several processes (WAL)."""

    _SOURCES = "(SELECT group_concat(source, char(31)) FROM provenance v WHERE v.pk = p.pk)"
    _SOURCES_SEEN = ("(SELECT group_concat(source || char(30) || first_seen, char(31)) FROM "
                     "(SELECT source, first_seen FROM provenance v WHERE v.pk = p.pk ORDER BY first_seen))")
    _TAKE_SEQ = "UPDATE store_meta SET value = value + ? WHERE key = 'seq' RETURNING value"
    # SQLite returns the bare column ``value`` from the row holding max(observed_at). Over all
    # papers the window is read from the covering index signals_window; for a few papers (a
    # topic) from the primary key. Without ANALYZE statistics SQLite would read each paper's id
    # from its wide row; papers_trending (migration 0005) holds just that.
    _LATEST_IN_WINDOW = """
    SELECT pk, kind, source, max(observed_at) AS last_at, value
    FROM signals WHERE {papers} observed_at >= ? AND observed_at < ?
    GROUP BY pk, kind, source"""
    _writer_cache = False  # has this connection's cache been enlarged for writing?

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
        known = migrations("sqlite")
        newer_schema(applied, known)
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

    # -- what the shared SQL modules need ----------------------------------------------
    @contextmanager
    def _write_txn(self, writing_papers: bool = False) -> Iterator[None]:
        """A write transaction; SQLite lets one writer in at a time, which keeps pks and the
        change feed's sequence in commit order."""
        if writing_papers and not self._writer_cache:
            # A page dirties more than the default 2 MB cache holds: pages then spill to
            # the WAL and are read back and written again. Only a writing process pays it.
            self.db.execute(f"PRAGMA cache_size = -{_WRITER_CACHE_KIB}")
            self._writer_cache = True
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            # Ctrl-C is raised when the statement it interrupted has returned: that may be
            # a COMMIT that went through (the page is then stored) or a BEGIN that did.
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    _digest_txn = _write_txn

    def _insert_new(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        """Insert rows that cannot exist yet (inside a write transaction)."""
        marks = ", ".join("?" * len(columns))
        self.db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def _tuples(self, sql: str, params: Any = ()) -> Iterator[tuple]:
        cursor = self.db.cursor()
        cursor.row_factory = None  # plain tuples: cheaper for reads of many rows
        return cursor.execute(sql, params)

    def _papers_hint(self) -> str:
        """``INDEXED BY papers_trending`` when the store has it (a store that ran an early
        draft of migration 0005 does not), else nothing: the query works either way."""
        if getattr(self, "_trending_index", None) is None:
            self._trending_index = self.db.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'papers_trending'"
            ).fetchone()[0] > 0
        return "INDEXED BY papers_trending" if self._trending_index else ""

    def keyword_folder(self) -> Path | None:
        return None if str(self.path) == ":memory:" else Path(f"{self.path}.index") / "keyword"

    @contextmanager
    def _file_lock(self, name: str, blocking: bool, busy: PapertideError) -> Iterator[None]:
        """An OS file lock beside the store: a killed holder releases it at once."""
        if str(self.path) == ":memory:":
            lock = _MEMORY_LOCKS.setdefault((id(self), name), threading.Lock())
            if not lock.acquire(blocking):
                raise busy
            try:
                yield
            finally:
                lock.release()
            return
        with open(f"{self.path}.{name}-lock", "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                raise busy from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def digest_lock(self, blocking: bool = True) -> Any:
        """Held by whoever queues or delivers digests."""
        return self._file_lock("digest", blocking, DigestBusy("another digest run is delivering"))

    def job_lock(self, name: str, blocking: bool = False) -> Any:
        """Held by a scheduled job (sync of a source, index) so it never runs twice at once."""
        return self._file_lock(name.replace(":", "-"), blocking, JobBusy(f"another {name} is running on this store"))

    # A SQLite delivery marks rows 'sending' and puts those of a dead process back on start,
    # so one process delivers at a time: the same lock.
    delivery_lock = digest_lock

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

    def location(self) -> str:
        return str(self.path)

    def _after_copy(self) -> None:
        """Nothing: SQLite's next rowid follows the largest id copied."""


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
