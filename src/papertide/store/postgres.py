"""The PostgreSQL backend: a lab's server shared by many processes and hosts.

The SQL is the shared modules' (sql_*.py); this module adds what PostgreSQL does its own way.
- Writes to papers take a transaction-level advisory lock, so pks and the change feed's
  sequence are taken in commit order, as SQLite's single writer takes them: a digest window
  and the keyword index's position never skip a paper committed late.
- Digests are composed under a session-level advisory lock (one run at a time on any host;
  a killed holder's session ends and frees it). The outbox is sent by any number of workers:
  each claims a row with ``FOR UPDATE SKIP LOCKED`` in a transaction that stays open until
  the outcome is recorded, so a killed worker's row goes back to the queue by itself.
- The keyword index is tantivy on each host (``<index_dir>/<store uid>/keyword``), following
  the change feed; vectors are a pgvector column (store/pg_vectors.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from papertide.errors import DigestBusy, JobBusy, PapertideError, StoreError, StoreUnavailable
from papertide.store import secret_file
from papertide.store.pg_database import PgDatabase, describe, reason
from papertide.store.pg_vectors import PgVectorsMixin
from papertide.store.sql_digest import DigestMixin
from papertide.store.sql_papers import PapersMixin
from papertide.store.sql_people import PeopleMixin
from papertide.store.sql_search import SearchMixin
from papertide.store.sql_signals import SignalsMixin
from papertide.store.sql_web import WebMixin
from papertide.store.sql_util import migrations, newer_schema

# Advisory lock keys (one 64-bit space per database): 'ptpapers', 'ptdigest', 'ptmigrat' as integers.
WRITE_LOCK = int.from_bytes(b"ptpapers", "big") >> 1
DIGEST_LOCK = int.from_bytes(b"ptdigest", "big") >> 1
MIGRATE_LOCK = int.from_bytes(b"ptmigrat", "big") >> 1


def job_lock_key(name: str) -> int:
    """The advisory lock key of a named job (sync:arxiv-oai, index...)."""
    return int.from_bytes(hashlib.blake2b(f"papertide job {name}".encode(), digest_size=8).digest(), "big") >> 1


class PostgresStore(PapersMixin, SearchMixin, SignalsMixin, WebMixin, DigestMixin, PeopleMixin, PgVectorsMixin):
    """Papers in a PostgreSQL database."""

    _SOURCES = "(SELECT string_agg(source, chr(31)) FROM provenance v WHERE v.pk = p.pk)"
    _SOURCES_SEEN = ("(SELECT string_agg(source || chr(30) || first_seen, chr(31) ORDER BY first_seen) "
                     "FROM provenance v WHERE v.pk = p.pk)")
    _TAKE_SEQ = "UPDATE store_meta SET value = (value::bigint + ?)::text WHERE key = 'seq' RETURNING value"
    # The latest observation of each series in the window with DISTINCT ON, from signals_window.
    _LATEST_IN_WINDOW = """
    SELECT DISTINCT ON (pk, kind, source) pk, kind, source, value
    FROM signals WHERE {papers} observed_at >= ? AND observed_at < ?
    ORDER BY pk, kind, source, observed_at DESC"""

    def __init__(self, url: str, *, index_dir: str | Path) -> None:
        self.url = url
        self.where = describe(url)
        self._migrate()
        self.db = PgDatabase(url, configure=self._configure_connection)
        self.path = Path(index_dir).expanduser() / self.store_uid()

    # -- schema -----------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {self.where}: {reason(exc)}") from None
        except psycopg.ProgrammingError as exc:
            raise StoreError(f"cannot read the PostgreSQL URL: {reason(exc)}") from None

    def _migrate(self) -> None:
        """Apply every migration not applied yet, each in its own transaction, under an
        advisory lock so two processes starting at once do not both migrate."""
        known = migrations("postgresql")
        with self._connect() as conn:
            try:
                conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
                conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                             "applied_at TEXT NOT NULL DEFAULT now()::text)")
                applied = {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
                newer_schema(applied, known)
                for version, script in known:
                    if version in applied or (applied and version <= max(applied)):
                        continue
                    with conn.transaction():
                        conn.execute(script)
                        conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"lost PostgreSQL at {self.where}: {reason(exc)}") from None
            except psycopg.errors.InsufficientPrivilege as exc:
                raise StoreError(f"PostgreSQL at {self.where} refuses to create papertide's tables: "
                                 f"{reason(exc)}") from None

    def _configure_connection(self, conn: psycopg.Connection) -> None:
        from papertide.store import pg_vectors

        pg_vectors.register(conn)

    # -- what the shared SQL modules need ----------------------------------------------------
    @contextmanager
    def _write_txn(self, writing_papers: bool = False) -> Iterator[None]:
        with self.db.transaction(lock=WRITE_LOCK):
            yield

    @contextmanager
    def _digest_txn(self) -> Iterator[None]:
        with self.db.transaction():  # row locks are enough: no pk or sequence is taken
            yield

    def _insert_new(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        """Insert rows that cannot exist yet (inside a write transaction) with COPY: about
        twice as fast as batched INSERTs for a page of papers."""
        if not rows:
            return
        with self.db.connection() as conn, conn.cursor().copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _tuples(self, sql: str, params: Any = ()) -> Any:
        return self.db.execute(sql, params)

    def keyword_folder(self) -> Path | None:
        return self.path / "keyword"

    def store_uid(self) -> str:
        if getattr(self, "db", None) is None:
            with self._connect() as conn:
                return conn.execute("SELECT value FROM store_meta WHERE key = 'uid'").fetchone()[0]
        return self.db.execute("SELECT value FROM store_meta WHERE key = 'uid'").fetchone()[0]

    # -- digest: one composer at a time, many senders -----------------------------------------
    @contextmanager
    def _advisory(self, key: int, blocking: bool, busy: PapertideError) -> Iterator[None]:
        """A session-level advisory lock on a connection of its own: held across the job's
        transactions, released when the session ends however it ends (a killed holder too)."""
        with self._connect() as conn:
            if blocking:
                conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            elif not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                raise busy
            yield

    def digest_lock(self, blocking: bool = True) -> Any:
        """Held while composing digests: one run at a time on every host."""
        return self._advisory(DIGEST_LOCK, blocking, DigestBusy("another digest run is composing"))

    def job_lock(self, name: str, blocking: bool = False) -> Any:
        """Held by a scheduled job (sync of a source, index) so it never runs twice at once, on any host."""
        return self._advisory(job_lock_key(name), blocking, JobBusy(f"another {name} is running on this store"))

    @contextmanager
    def delivery_lock(self, blocking: bool = True) -> Iterator[None]:
        """Nothing to wait for: senders claim rows with row locks. A claim left open by an
        error that escaped the sender is rolled back here (the row is queued again)."""
        try:
            yield
        finally:
            if self.db.in_transaction:
                self.db.end(commit=False)

    def recover_outbox(self) -> int:
        # A claim is never committed as 'sending'; such rows come only from a copied SQLite store.
        return self.db.execute(
            "UPDATE digest_outbox SET status = 'queued', last_error = 'interrupted while sending; sent again' "
            "WHERE id IN (SELECT id FROM digest_outbox WHERE status = 'sending' FOR UPDATE SKIP LOCKED)").rowcount

    def next_due(self, now: str, keys: Any = ()) -> Any:
        keys = list(keys)
        only = f"AND idempotency_key IN ({','.join('?' * len(keys))})" if keys else ""
        row = self.db.execute(
            f"SELECT id FROM digest_outbox WHERE status = 'queued' AND next_attempt_at <= ? {only} "
            f"ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED", (now, *keys)).fetchone()
        return self._outbox_by_id(row[0]) if row else None

    def claim(self, id: int, now: str) -> bool:
        """Lock the row (skipping it if another worker has it) and mark it 'sending' in a
        transaction that ``finish`` commits."""
        self.db.begin()
        try:
            got = self.db.execute("SELECT id FROM digest_outbox WHERE id = ? AND status = 'queued' "
                                  "FOR UPDATE SKIP LOCKED", (id,)).fetchone()
            if got is not None:
                self.db.execute("UPDATE digest_outbox SET status = 'sending', attempts = attempts + 1, "
                                "claimed_at = ? WHERE id = ?", (now, id))
        except BaseException:
            self.db.end(commit=False)
            raise
        if got is None:
            self.db.end(commit=False)
            return False
        return True

    def finish(self, id: int, status: str, now: str, *, error: str | None = None,
               next_attempt_at: str | None = None) -> None:
        claimed = self.db.in_transaction
        try:
            DigestMixin.finish(self, id, status, now, error=error, next_attempt_at=next_attempt_at)
        except BaseException:
            if claimed:
                self.db.end(commit=False)
            raise
        if claimed:
            self.db.end(commit=True)

    def _outbox_by_id(self, id: int) -> Any:
        from papertide.store.sql_digest import _outbox_row

        row = self.db.execute("SELECT * FROM digest_outbox WHERE id = ?", (id,)).fetchone()
        return _outbox_row(row) if row else None

    # -- the rest ----------------------------------------------------------------------------
    def signing_secret(self) -> str:
        """The key that signs links when no ``secret_key`` is set: a 0600 file in this host's
        folder for the store. Hosts that share a store must share ``secret_key`` instead."""
        return secret_file.read_or_create(self.path / "secret")

    def close(self) -> None:
        self.close_keyword()
        self.db.close()

    def location(self) -> str:
        return self.where

    def _after_copy(self) -> None:
        """Ids were copied as they were: the identity columns continue after the largest."""
        for table in ("digest_subscribers", "digest_outbox"):
            self.db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
