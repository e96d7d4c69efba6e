"""Screenshots of what a researcher sees, from the shared data, into docs/screenshots/.

Imports the shared arXiv and Hugging Face files into a fresh store, starts `papertide serve`,
and has Chromium (as the browser tests do) take the trending page, a search, the page of the
most upvoted paper, a digest (its mail's HTML part) and a signed-in reader's For you, library,
account and the sign-in page at 1366 and 390 px. A page wider than
the screen fails the run.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PAPERTIDE = str(Path(sys.executable).with_name("papertide"))
WIDTHS = (1366, 390)
SEARCH = "/search?q=segmentation+of+3D+CT+from+clicks"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"papertide serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("papertide serve did not answer within 60 s")


# The shared data ends in August 2026: a digest shows its papers whatever their age.
DIGEST_SETTINGS = {"digest_max_age_days": 0}


def subscribe(db: str) -> None:
    """A reader following trending and a search, subscribed before the papers arrive."""
    from papertide.digest import subscriptions as subs
    from papertide.settings import Settings
    from papertide.store import open_store

    settings = Settings({"db": db, **DIGEST_SETTINGS}, environ={})
    store = open_store(db)
    try:
        subs.request_subscription(store, settings, "reader@example.org",
                                  {"trending": ["week"], "searches": ["medical image segmentation"]})
        sub = store.subscriber(email="reader@example.org")
        store.confirm_subscriber(sub.id, sub.nonce, datetime.now(timezone.utc).isoformat())
    finally:
        store.close()


def digest_html(db: str, folder: Path) -> Path:
    """The reader's next digest (its mail's HTML part), as a file."""
    from papertide.digest.outbox import preview
    from papertide.settings import Settings
    from papertide.store import open_store

    store = open_store(db)
    try:
        rendered, _ = preview(store, Settings({"db": db, **DIGEST_SETTINGS}, environ={}), "reader@example.org")
    finally:
        store.close()
    path = folder / "digest.html"
    path.write_text(rendered.html, encoding="utf-8")
    return path


SESSION = "screenshots-session-" + "x" * 24


def reader_library(db: str) -> None:
    """The reader also signs in here: a library of papers on medical image segmentation (some
    tagged), their recommendations scored, and a session for the browser."""
    import hashlib

    from papertide.app import library, people
    from papertide.app.recommend import update
    from papertide.app.search import search
    from papertide.store import open_store

    store = open_store(db)
    try:
        person = people.ensure(store, "reader@example.org")
        hits = search(store, "medical image segmentation", limit=12).hits
        for n, (pid, _) in enumerate(hits):
            library.save(store, person.id, pid, tags=["segmentation"] if n % 3 == 0 else [])
        update(store)
        store.add_session(person.id, hashlib.sha256(SESSION.encode()).hexdigest(), "2026-01-01T00:00:00Z",
                          "2999-01-01T00:00:00Z")
    finally:
        store.close()


def most_upvoted(db: str) -> str:
    from papertide.store import open_store

    store = open_store(db)
    try:
        return store.db.execute("SELECT p.id FROM signals s JOIN papers p ON p.pk = s.pk WHERE s.kind = 'upvotes' "
                                "ORDER BY s.value DESC LIMIT 1").fetchone()[0]
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--chromium", default=os.environ.get("PAPERTIDE_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "papers.db")
        env = {**os.environ, "PAPERTIDE_DB": db, "PAPERTIDE_INDEX_DIR": str(Path(folder) / "index"),
               "PAPERTIDE_DIGEST_SCHEDULER": "false", "PAPERTIDE_EMBED_EVERY_SECONDS": "0"}
        subscribe(db)
        subprocess.run([PAPERTIDE, "import", str(DATA / "arxiv" / "arxiv_cs_2025-2026.jsonl.gz"),
                        str(DATA / "hf" / "hf_daily_papers_2024-05_to_2026-08.jsonl.gz")], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        reader_library(db)
        pages = {"trending": "/", "search": SEARCH, "paper": f"/papers/{most_upvoted(db)}",
                 "digest": digest_html(db, Path(folder)).as_uri(), "for-you": "/for-you", "library": "/library",
                 "account": "/account", "signin": "/signin"}
        port = free_port()
        server = subprocess.Popen([PAPERTIDE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        wide = []
        try:
            wait_until_up(base, server)
            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
                for width in WIDTHS:
                    context = chromium.new_context(base_url=base, viewport={"width": width, "height": 900})
                    context.add_cookies([{"name": "pt_session", "value": SESSION, "url": base}])
                    tab = context.new_page()
                    for name, url in pages.items():
                        tab.goto(url)
                        scroll = tab.evaluate("document.documentElement.scrollWidth")
                        if scroll > width:
                            wide.append(f"{name} is {scroll}px wide at {width}px")
                        tab.screenshot(path=str(out / f"{name}-{width}.png"))  # what the screen shows first
                        print(f"{name} at {width}px: {out / f'{name}-{width}.png'}")
                    context.close()
                chromium.close()
        finally:
            server.terminate()
            server.wait(10)
    for problem in wide:
        print(f"screenshots: {problem}", file=sys.stderr)
    return 1 if wide else 0


if __name__ == "__main__":
    sys.exit(main())
