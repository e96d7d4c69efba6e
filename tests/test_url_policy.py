"""One URL policy for everything that comes from a source: only http(s) links leave papertide,
in pages, feeds, mail, the API and the CLI alike (issue: trust, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from click.testing import CliRunner
from fastapi.testclient import TestClient

from papertide.cli import cli
from papertide.digest import subscriptions as subs
from papertide.digest.outbox import preview
from papertide.model import Page, make_record
from papertide.settings import Settings
from papertide.store import open_store
from papertide.web.app import create_app

HOSTILE_LINKS = {"abs": "javascript:alert(1)", "pdf": " JaVaScRiPt:alert(2)", "project": "data:text/html,x",
                 "code": ["javascript:alert(3)", "https://github.com/ok/repo"], "hf": "//evil.example/x"}


def test_records_keep_only_http_links() -> None:
    record = make_record(id="2501.00001", source="test", title="T", links=HOSTILE_LINKS)
    assert record.links == {"code": ["https://github.com/ok/repo"]}


def stored_with_hostile_links(db: Path) -> None:
    """A paper whose links were stored before the policy (written straight into the table)."""
    store = open_store(str(db))
    store.ingest(Page(records=[make_record(id="2501.00001", source="test", title="Zyxwv paper",
                                           abstract="About zyxwv.", categories=["cs.CV"], published="2026-11-20")]))
    store.db.execute("UPDATE papers SET links = ?", (orjson.dumps(HOSTILE_LINKS).decode(),))
    store.close()


def test_links_stored_before_the_policy_never_leave(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    stored_with_hostile_links(db)
    store = open_store(str(db))
    try:
        paper = store.get("2501.00001")
        assert paper.links == {"code": ["https://github.com/ok/repo"]}
        assert paper.url == "https://arxiv.org/abs/2501.00001"
        settings = Settings({"base_url": "https://papers.example.org", "secret_key": "k", "digest_max_age_days": 0,
                             "db": str(db)}, environ={})
        request = subs.request_subscription(store, settings, "ada@example.org", {"categories": ["cs.CV"]})
        subs.confirm(store, settings, request.confirm_url)
        rendered, _ = preview(store, settings, "ada@example.org")
        mail = rendered.html + rendered.text
        assert "Zyxwv paper" in mail and "javascript:" not in mail.lower() and "data:text" not in mail
    finally:
        store.close()
    settings = Settings({"db": str(db), "secret_key": "k", "digest_scheduler": False, "rate_limit_search": 0,
                         "embed_every_seconds": 0},
                        environ={})
    with TestClient(create_app(settings)) as client:
        api = client.get("/api/v1/papers/2501.00001").json()
        assert "javascript" not in json.dumps(api).lower() and api["pdf_url"] is None
        for path in ("/papers/2501.00001", "/search?q=zyxwv", "/feeds/search.atom?q=zyxwv"):
            body = client.get(path).text.lower()
            assert "javascript:" not in body and "data:text" not in body, path
    shown = CliRunner().invoke(cli, ["--db", str(db), "show", "2501.00001", "--json"])
    assert shown.exit_code == 0 and "javascript" not in shown.output.lower()
