"""Shared pytest fixtures."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

# ---------------------------------------------------------------------------
# Connectors: shared real data and the local replay HTTP server
# (tests/test_source_*.py). Other fixtures go in their own section below.
# ---------------------------------------------------------------------------
from replay import ReplayServer

# The read-only real data lives beside the checkout: ../shared/data.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = SHARED_DATA / "fixtures"


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (it lives beside the checkout)")
    return SHARED_DATA


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    """A replay server on 127.0.0.1 (random port), closed after the test."""
    server = ReplayServer()
    try:
        yield server
    finally:
        server.close()


def pytest_configure(config: pytest.Config) -> None:
    # Where PostgreSQL stores keep their keyword index on this "host" (a folder per store id).
    os.environ.setdefault("PAPERTIDE_INDEX_DIR", tempfile.mkdtemp(prefix="papertide-index-"))


@pytest.fixture
def sleeps() -> list[float]:
    """Collects the waits a source asks for; pass ``sleeps.append`` as its ``sleep``."""
    return []

# --- end of connector fixtures ----------------------------------------------


# ---------------------------------------------------------------------------
# Web site and API (tests/test_web_*.py): one seeded store per session,
# an in-process app over it. Seeding lives in tests/web_support.py.
# ---------------------------------------------------------------------------
@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def web_seed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real store of each backend: a slice of ../shared/data, hostile papers, fresh upvotes."""
    from web_support import seed_store

    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (it lives beside the checkout)")
    folder = tmp_path_factory.mktemp("web")
    db = request.getfixturevalue("pg_server").new_database() if request.param == "postgresql" \
        else str(folder / "web.db")
    return seed_store(SHARED_DATA, folder, db)


@pytest.fixture(scope="session")
def web_client(web_seed: dict) -> Iterator:
    """An in-process client of the whole site (no rate limits), lifespan included."""
    from fastapi.testclient import TestClient
    from web_support import web_settings

    from papertide.web.app import create_app

    with TestClient(create_app(web_settings(web_seed["db"]))) as client:
        yield client

# --- end of web fixtures ----------------------------------------------------


# ---------------------------------------------------------------------------
# Digest (tests/test_digest_*.py): a recording SMTP server with failure
# injection, and the digest's link routes served over HTTP. Helpers live in
# tests/digest_support.py.
# ---------------------------------------------------------------------------
@pytest.fixture
def smtp_server() -> Iterator:
    """An aiosmtpd server on 127.0.0.1 that records every message it accepts.
    ``.recorder.refuse[addr] = "550 ..."``, ``.recorder.data_replies.append("421 ...")``,
    ``.stop()`` / ``.start()`` inject failures."""
    from digest_support import SMTPServer

    server = SMTPServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def digest_settings(db: str, smtp_server):  # noqa: ANN201 - returns a settings factory
    """Settings for a digest test: its own store (of each backend), the test SMTP server, fast retries."""
    from papertide.settings import Settings

    def make(base_url: str = "http://127.0.0.1:9", **overrides: object) -> Settings:
        values = {"db": db, "smtp_port": smtp_server.port, "base_url": base_url,
                  "secret_key": "digest-test-secret", "digest_max_age_days": 0, "smtp_retry_base": 0.05,
                  "smtp_retry_wait": 10.0, "smtp_from": "papertide <digest@papertide.test>"}
        return Settings({**values, **overrides}, environ={})
    return make


@pytest.fixture
def digest_app(digest_settings) -> Iterator:
    """The confirm / manage / unsubscribe routes served by uvicorn on 127.0.0.1."""
    from digest_support import AppServer

    app = AppServer(digest_settings)
    try:
        yield app
    finally:
        app.stop()

# --- end of digest fixtures -------------------------------------------------


# ---------------------------------------------------------------------------
# Both backends (issue 14): a test that takes ``db`` (or ``new_db``) runs once on a
# SQLite file and once on a database of a real PostgreSQL server (tests/pg_support.py).
# ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from pg_support import PgServer

    server = PgServer(tmp_path_factory.mktemp("postgresql"))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def new_db(backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """``new_db(name)``: the location of an empty store of this test's backend (the same
    location for the same name). A PostgreSQL store keeps its keyword index in tmp_path."""
    monkeypatch.setenv("PAPERTIDE_INDEX_DIR", str(tmp_path / "index"))
    made: dict[str, str] = {}
    server = request.getfixturevalue("pg_server") if backend == "postgresql" else None

    def make(name: str = "papers") -> str:
        if name not in made:
            made[name] = str(tmp_path / f"{name}.db") if server is None else server.new_database()
        return made[name]
    yield make
    if server is not None:
        for url in made.values():
            server.drop(url)


@pytest.fixture
def db(new_db) -> str:  # noqa: ANN001
    """The location of an empty store: a SQLite file, or a PostgreSQL database URL."""
    return new_db()

# --- end of backend fixtures ------------------------------------------------


# ---------------------------------------------------------------------------
# People (tests/test_people.py, tests/test_web_people.py): a store of 3,000 real arXiv papers.
# ---------------------------------------------------------------------------
PEOPLE_LINES = 3000


@pytest.fixture(scope="module")
def arxiv_slice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """The first 3,000 papers of the shared arXiv file: (a JSONL file of them, the records)."""
    folder = tmp_path_factory.mktemp("arxiv")
    with gzip.open(SHARED_DATA / "arxiv" / "arxiv_cs_2025-2026.jsonl.gz", "rt", encoding="utf-8") as source:
        lines = list(itertools.islice(source, PEOPLE_LINES))
    path = folder / "arxiv.jsonl"
    path.write_text("".join(lines))
    return path, [json.loads(line) for line in lines]


@pytest.fixture
def people_store(db: str, arxiv_slice):  # noqa: ANN201
    """A store (of the test's backend) holding ``arxiv_slice``."""
    path, _ = arxiv_slice
    from web_support import sync_files

    handle = sync_files(db, path)
    try:
        yield handle
    finally:
        handle.close()
