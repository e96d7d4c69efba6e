"""A PostgreSQL connection pool that the shared SQL modules use like a SQLite connection.

``execute`` and ``executemany`` take the ``?`` parameters the shared SQL is written with.
Outside a transaction each statement borrows a connection from the pool (autocommit);
inside ``transaction()`` the thread keeps one connection until it commits. A lost server,
a refused connection and an exhausted pool all become ``StoreUnavailable``, one line that
names the server and never the password.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Sequence

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from papertide.errors import StoreUnavailable

_POOL_TIMEOUT = 5.0  # seconds a statement waits for a connection (or for the server to come back)


class Row(tuple):
    """A row read by name or position, like ``sqlite3.Row``; ``dict(row)`` works."""

    _at: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        return tuple.__getitem__(self, self._at[key] if isinstance(key, str) else key)

    def keys(self) -> list[str]:
        return list(self._at)


def _row_factory(cursor: psycopg.Cursor) -> Any:
    names = [column.name for column in cursor.description or ()]
    return type("Row", (Row,), {"_at": {name: i for i, name in enumerate(names)}})


class Result:
    """What a statement returned: its rows (already read) and how many rows it changed."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Any]:
        return self.rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)


@lru_cache(maxsize=2048)
def translate(sql: str) -> str:
    """``?`` parameters to psycopg's ``%s`` (the shared SQL holds no ``?`` in literals)."""
    return sql.replace("%", "%%").replace("?", "%s")


def describe(url: str) -> str:
    """``user@host:port/db`` of a connection URL, without its password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "PostgreSQL (an unreadable URL)"
    host = info.get("host") or "localhost"
    where = f"{host}:{info.get('port') or 5432}" if not str(host).startswith("/") else f"{host} (socket)"
    user = f"{info['user']}@" if info.get("user") else ""
    return f"{user}{where}/{info.get('dbname') or info.get('user') or ''}"


def reason(exc: BaseException) -> str:
    """The first line of a driver error, which names the cause (never the password)."""
    text = str(exc).strip().splitlines()
    first = next((line for line in text if line.strip()), type(exc).__name__)
    return first.removeprefix("connection failed: ").strip()


class PgDatabase:
    """The pool of one store; safe to share between threads."""

    def __init__(self, url: str, *, max_size: int = 8, configure: Any = None) -> None:
        self.where = describe(url)
        self._local = threading.local()
        self._configure = configure

        def setup(conn: psycopg.Connection) -> None:
            conn.row_factory = _row_factory
            if self._configure is not None:
                self._configure(conn)

        self.pool = ConnectionPool(url, min_size=1, max_size=max_size, open=False, timeout=_POOL_TIMEOUT,
                                   kwargs={"autocommit": True, "connect_timeout": 5}, configure=setup,
                                   name="papertide")
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close()

    # -- statements ---------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        if not self.in_transaction:
            try:
                return self._execute(sql, params)
            except StoreUnavailable:
                # Idle connections die with a server restart: drop the broken ones and try once
                # more (checking every connection before each use would cost a round trip per
                # statement instead).
                with self._unavailable():
                    self.pool.check()
        return self._execute(sql, params)

    def _execute(self, sql: str, params: Sequence[Any]) -> Result:
        with self.connection() as conn:
            cursor = conn.cursor()
            cursor.execute(translate(sql), params or None)
            return Result(cursor.fetchall() if cursor.description else [], cursor.rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Result:
        with self.connection() as conn:
            cursor = conn.cursor()
            cursor.executemany(translate(sql), rows)
            return Result([], max(cursor.rowcount, 0))

    # -- connections and transactions ---------------------------------------------------------
    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """The thread's transaction connection, or one borrowed from the pool for a statement."""
        pinned = getattr(self._local, "conn", None)
        if pinned is not None:
            with self._unavailable():
                yield pinned
            return
        with self._unavailable(), self.pool.connection() as conn:
            yield conn

    @property
    def in_transaction(self) -> bool:
        return getattr(self._local, "conn", None) is not None

    def begin(self, lock: int | None = None) -> None:
        """Start a transaction on a connection this thread keeps until ``end``; with ``lock``,
        first take that transaction-level advisory lock (waiting for its holder)."""
        with self._unavailable():
            conn = self.pool.getconn()
        self._local.conn = conn
        try:
            with self._unavailable():
                conn.execute("BEGIN")
                if lock is not None:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
        except BaseException:
            self.end(commit=False)
            raise

    def end(self, commit: bool) -> None:
        """Commit or roll back the thread's transaction and give its connection back."""
        conn = self._local.conn
        self._local.conn = None
        try:
            if not conn.closed:
                with self._unavailable():
                    conn.execute("COMMIT" if commit else "ROLLBACK")
        finally:
            self.pool.putconn(conn)

    @contextmanager
    def transaction(self, lock: int | None = None) -> Iterator[None]:
        """One transaction (joined when the thread is already in one)."""
        if self.in_transaction:
            yield
            return
        self.begin(lock)
        try:
            yield
        except BaseException:
            self.end(commit=False)
            raise
        self.end(commit=True)

    @contextmanager
    def _unavailable(self) -> Iterator[None]:
        try:
            yield
        except PoolTimeout:
            raise StoreUnavailable(f"PostgreSQL at {self.where} does not answer (no connection "
                                   f"within {_POOL_TIMEOUT:.0f} s)") from None
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"lost PostgreSQL at {self.where}: {reason(exc)}") from None
