"""Where papertide keeps its secrets: one signing key for the site and the digest, in a file of
its own beside the store (0600), never in the database; the store itself private to its owner."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from papertide.digest import subscriptions as subs
from papertide.digest.links import signing_secret
from papertide.model import Page, make_record
from papertide.settings import Settings
from papertide.store import open_store

NO_KEY = Settings({"base_url": "https://papers.example.org", "digest_max_age_days": 0}, environ={})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_and_its_secret_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "papers.db"
    store = open_store(str(db))
    try:
        key = signing_secret(NO_KEY, store)
        store.ingest(Page(records=[make_record(id="2501.00001", source="test", title="A paper")]))
        assert mode(db) == 0o600
        assert mode(tmp_path / "papers.db.secret") == 0o600
        assert (tmp_path / "papers.db.secret").read_text().strip() == key
        assert all(mode(p) == 0o600 for p in tmp_path.glob("papers.db-*"))  # -wal, -shm
    finally:
        store.close()


def test_the_key_is_not_in_the_database_and_every_process_signs_alike(tmp_path: Path) -> None:
    db = tmp_path / "papers.db"
    store = open_store(str(db))
    try:
        request = subs.request_subscription(store, NO_KEY, "ada@example.org", {"categories": ["cs.CV"]})
        key = signing_secret(NO_KEY, store)
        assert key.encode() not in db.read_bytes() + (tmp_path / "papers.db-wal").read_bytes()
        # Another process (a web worker) reads the same key and accepts the mailed link.
        other = subprocess.run(
            [sys.executable, "-c", "import sys; from papertide.store import open_store; "
             "print(open_store(sys.argv[1]).signing_secret())", str(db)],
            capture_output=True, text=True, check=True).stdout.strip()
        assert other == key
        assert subs.confirm(store, NO_KEY, request.confirm_url).status == "confirmed"
    finally:
        store.close()


def test_a_configured_secret_key_wins_and_no_file_is_made(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "papers.db"))
    try:
        settings = Settings({"secret_key": "operator-key"}, environ={})
        assert signing_secret(settings, store) == "operator-key"
        assert not (tmp_path / "papers.db.secret").exists()
    finally:
        store.close()
