"""A real SQLite store for the web tests: a slice of the shared data, hostile papers, fresh signals."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import logging
import socket
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from papertide.model import Signal
from papertide.settings import Settings
from papertide.sources import SyncRequest, get_source
from papertide.store import open_store
from papertide.app.sync import run_sync

ARXIV_LINES = 1500
HF_LINES = 600

# Hostile source text: markup, entities, LaTeX, a javascript: link.
HOSTILE_ID = "2599.00001"
HOSTILE_TITLE = "<script>alert(1)</script> & <img src=x onerror=alert(2)> $\\alpha$-stable \"Zyxwv\" 'q'"
HOSTILE_ABSTRACT = ("<img src=x onerror=alert(3)> & </textarea><script>alert(4)</script> zyxwv tokens "
                    "with $O(n^{2})$ cost over $\\mathbb{R}^d$ and <b>bold</b> &amp; "
                    "<a href=\"javascript:alert(5)\">x</a>")
HOSTILE_ARXIV = {
    "id": HOSTILE_ID + "v1", "title": HOSTILE_TITLE, "abstract": HOSTILE_ABSTRACT,
    "authors": ["<script>alert(6)</script>", "Ada \"Q\" Lovelace"], "categories": ["cs.CV"],
    "primary_category": "cs.CV", "comment": "<i>Code</i>: https://github.com/zyxwv/<script>",
    "first_seen": "2026-06-30", "abs_url": "javascript:alert(9)", "pdf_url": " JavaScript:alert(10)",
}
HOSTILE_HF = {  # the same paper seen by Hugging Face, with a javascript: project page
    "_listing_date": "2026-06-30",
    "paper": {"id": HOSTILE_ID, "title": HOSTILE_TITLE, "summary": HOSTILE_ABSTRACT,
              "authors": [{"name": "<script>alert(6)</script>"}], "publishedAt": "2026-06-30T00:00:00.000Z",
              "upvotes": 7, "projectPage": "javascript:alert(7)", "githubRepo": "javascript:alert(8)"},
    "numComments": 1,
}


def _head(path: Path, lines: int) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as source:
        return list(itertools.islice(source, lines))


def seed_store(shared: Path, folder: Path, db: str) -> dict[str, Any]:
    """Import a slice of the shared data plus hostile records; add fresh upvotes to a few papers.

    Returns facts the tests use: the db path, a trending paper id, a paper with a signal history.
    """
    folder.mkdir(parents=True, exist_ok=True)
    arxiv = folder / "arxiv.jsonl"
    arxiv.write_text("".join(_head(shared / "arxiv" / "arxiv_cs_2025-2026.jsonl.gz", ARXIV_LINES))
                     + json.dumps(HOSTILE_ARXIV) + "\n")
    hf = folder / "hf.jsonl"
    hf_lines = _head(shared / "hf" / "hf_daily_papers_2024-05_to_2026-08.jsonl.gz", HF_LINES)
    hf.write_text("".join(hf_lines) + json.dumps(HOSTILE_HF) + "\n")
    settings = Settings({"db": db}, environ={})
    store = open_store(db)
    try:
        run_sync(get_source("files", settings), SyncRequest(paths=[str(arxiv), str(hf)]), store)
        hf_ids = [json.loads(line)["paper"]["id"] for line in hf_lines[:3]]
        now = datetime.now(timezone.utc)
        observations = []
        for rank, pid in enumerate(hf_ids):
            for days_ago, value in ((3, 5), (2, 40), (0, 300 - 50 * rank)):
                at = (now - timedelta(days=days_ago, hours=1)).replace(microsecond=0).isoformat()
                observations.append((pid, Signal("upvotes", float(value), at, "hf-daily")))
        store.add_paper_signals(observations)
    finally:
        store.close()
    return {"db": db, "trending_id": hf_ids[0], "history_id": hf_ids[0], "hostile_id": HOSTILE_ID}


def web_settings(db: str, **overrides: Any) -> Settings:
    """Settings for a test app: no rate limits unless asked, a fixed key, no inherited environment."""
    values = {"db": db, "index_dir": os.environ["PAPERTIDE_INDEX_DIR"], "rate_limit_search": 0, "rate_limit_subscribe": 0, "secret_key": "test-key",
              "allowed_hosts": "testserver,localhost,127.0.0.1",
              "web_cache_seconds": 60,
              "digest_scheduler": False, "smtp_port": 9,
              "embed_every_seconds": 0}  # the background embedder is tested on its own
    values.update(overrides)
    return Settings(values, environ={})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def access_log_lines() -> Iterator[list[str]]:
    """The lines the site's access log writes meanwhile."""
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("papertide.access")
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


def sync_files(db: str, path: Path) -> Any:
    """A store at ``db`` holding the records of a JSONL file (the `files` source, as `papertide import`)."""
    handle = open_store(db)
    run_sync(get_source("files", Settings({"db": db}, environ={})), SyncRequest(paths=[str(path)]), handle)
    return handle
