"""PostgreSQL as a lab runs it: faults of the server, and many processes at once (issue 14).

Every other store test runs on both backends already; these are PostgreSQL's own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from digest_support import env_of, seed
from fastapi.testclient import TestClient
from test_store import arxiv, write
from web_support import web_settings

from papertide.cli import cli
from papertide.query import parse_query
from papertide.store import Filters, open_store
from papertide.web.app import create_app

PAPERTIDE = str(Path(sys.executable).with_name("papertide"))
TODAY = datetime.now(timezone.utc).date().isoformat()


def test_an_unreachable_server_is_one_line_naming_host_and_port() -> None:
    result = CliRunner().invoke(cli, ["--db", "postgresql://lab:s3cr3t-pw@127.0.0.1:1/papers", "stats"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:1" in lines[0] and "s3cr3t-pw" not in result.output, result.output
    assert "Traceback" not in result.output


def test_a_wrong_password_is_one_line_without_the_password(pg_server) -> None:
    url = pg_server.add_password_user("ptpw", "right-password")
    wrong = url.replace("ptpw@", "ptpw:Wr0ng-Pa55word@")
    result = CliRunner().invoke(cli, ["--db", wrong, "stats"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "password authentication failed" in lines[0], result.output
    assert "Wr0ng-Pa55word" not in result.output


def test_a_newer_schema_is_refused_in_one_line(db: str, backend: str) -> None:
    open_store(db).close()
    store = open_store(db)
    store.db.execute("INSERT INTO schema_migrations (version) VALUES (999)")
    store.close()
    result = CliRunner().invoke(cli, ["--db", db, "stats"])
    assert result.exit_code == 1 and "newer papertide (schema 999" in result.output


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_server_restart_during_a_sync_loses_nothing_and_doubles_nothing(db: str, pg_server,
                                                                         tmp_path: Path) -> None:
    rows = [arxiv(f"2509.{n:05d}", f"Paper {n} about item{n}") for n in range(1, 8001)]
    path = write(tmp_path / "many.jsonl", rows)
    env = {**os.environ, "PAPERTIDE_DB": db, "PAPERTIDE_BATCH_SIZE": "200"}
    sync = subprocess.Popen([PAPERTIDE, "import", str(path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    store = open_store(db)
    try:
        deadline = time.monotonic() + 60
        while store.count() < 400 and time.monotonic() < deadline and sync.poll() is None:
            time.sleep(0.05)  # polling the store: the sync's progress is what we wait for
        pg_server.restart()
        output, _ = sync.communicate(timeout=120)
        if sync.returncode != 0:  # the restart hit a page: one line naming the server
            assert "PostgreSQL" in output and "Traceback" not in output, output
        rerun = subprocess.run([PAPERTIDE, "import", str(path)], env=env, capture_output=True, text=True,
                               timeout=120)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert store.count() == 8000  # the pool reconnected after the restart
        ids = [r[0] for r in store.db.execute("SELECT id FROM papers")]
        assert len(ids) == len(set(ids)) == 8000
        found = store.keyword_search(parse_query("item7777"), Filters(), 5)
        assert [pid for pid, _ in found] == ["2509.07777"]
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_web_worker_answers_503_while_the_server_is_down_and_recovers(db: str, pg_server) -> None:
    store = open_store(db)
    from digest_support import papers

    store.ingest(papers(0, 20))
    store.close()
    with TestClient(create_app(web_settings(db, web_cache_seconds=0))) as client:
        assert client.get("/api/v1/search", params={"q": "diffusion"}).status_code == 200
        pg_server.stop()
        try:
            down = client.get("/api/v1/search", params={"q": "retrieval"})
            assert down.status_code == 503 and down.json()["error"]["code"] == "unavailable", down.text
        finally:
            pg_server.start()
        again = client.get("/api/v1/search", params={"q": "retrieval"})
        assert again.status_code == 200 and again.json()["results"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_four_digest_workers_send_each_digest_exactly_once(digest_settings, smtp_server) -> None:
    settings = digest_settings()
    emails = [f"reader{i:03d}@example.org" for i in range(120)]
    seed(settings, emails)
    env = {**os.environ, **env_of(settings)}
    workers = [subprocess.Popen([PAPERTIDE, "digest", "run", "--date", TODAY], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for _ in range(4)]
    outputs = [w.communicate(timeout=180)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0], outputs
    received = Counter(r for m in smtp_server.recorder.messages for r in m.rcpt_tos)
    assert sorted(received) == emails and set(received.values()) == {1}
    store = open_store(settings.db)
    try:
        assert store.outbox_counts().get("sent") == 120 and not store.outbox_counts().get("queued")
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_web_hosts_each_keep_an_index_that_follows_the_store(db: str, tmp_path: Path) -> None:
    from digest_support import papers

    writer = open_store(db, index_dir=str(tmp_path / "sync-host"))
    writer.ingest(papers(0, 10))
    settings = web_settings(db, index_dir=str(tmp_path / "web-host"), keyword_follow_seconds=0.1)
    with TestClient(create_app(settings)) as client:
        site = client.app.app.state.site  # type: ignore[attr-defined]
        index = site.store._keyword_index()
        assert index.reached == writer.change_seq()  # caught up before the first request
        writer.ingest(papers(10, 5, word="zebrafish"))
        deadline = time.monotonic() + 10
        while index.reached < writer.change_seq() and time.monotonic() < deadline:
            time.sleep(0.05)  # the follower's next round, without any search asking
            index.refresh()
        assert index.reached == writer.change_seq()
        found = client.get("/api/v1/search", params={"q": "zebrafish"}).json()["results"]
        assert len(found) == 5
    assert (tmp_path / "web-host").is_dir() and (tmp_path / "sync-host").is_dir()
    writer.close()
