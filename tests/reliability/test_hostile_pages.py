"""Hostile source records rendered in Chromium wherever their text appears: pages, the Atom feed,
the digest and the API. Any script that runs (a dialog, a console error) or any link that is not
http(s) fails the test."""

from __future__ import annotations

from pathlib import Path

from web_support import HOSTILE_ID

from papertide.digest import subscriptions as subs
from papertide.digest.outbox import preview
from papertide.settings import Settings
from papertide.store import open_store
from papertide.store.copy import copy_store

LINKS = "Array.from(document.querySelectorAll('a[href], link[href], [src]')).map(e => e.href || e.src)"


def _visit(page, load) -> list[str]:
    """Load, and the links of what loaded; fails if a dialog opened or a script raised."""
    ran: list[str] = []
    page.on("dialog", lambda dialog: (ran.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda exc: ran.append(str(exc)))
    load()
    page.wait_for_load_state("load")
    assert ran == [], f"a script ran: {ran}"
    return [link for link in page.evaluate(LINKS) if link]


def test_hostile_records_run_no_script_and_link_nowhere_but_http(page, server: str, web_seed: dict,
                                                                 tmp_path: Path, request) -> None:
    paths = ["/", "/search?q=zyxwv", f"/papers/{HOSTILE_ID}", "/feeds/search.atom?q=zyxwv",
             f"/api/v1/papers/{HOSTILE_ID}", "/api/v1/search?q=zyxwv"]
    for path in paths:
        response = page.request.get(path)
        assert response.status == 200, path
        for link in _visit(page, lambda: page.goto(path)):
            assert link.startswith(("http://", "https://")), (path, link)
    assert "zyxwv" in page.goto("/search?q=zyxwv").text().lower()

    # A subscriber of its own, on a copy of the seeded store (copy-store, into the same backend).
    db = str(tmp_path / "copy.db") if not web_seed["db"].startswith("postgresql") \
        else request.getfixturevalue("pg_server").new_database()
    source, target = open_store(web_seed["db"]), open_store(db)
    copy_store(source, target)
    source.close(), target.close()
    settings = Settings({"db": db, "base_url": "https://papers.example.org", "secret_key": "k",
                         "digest_max_age_days": 0}, environ={})
    store = open_store(db)
    try:
        request = subs.request_subscription(store, settings, "ada@example.org", {"searches": ["zyxwv"]})
        subs.confirm(store, settings, request.confirm_url)
        rendered, _ = preview(store, settings, "ada@example.org")
    finally:
        store.close()
    assert "zyxwv" in rendered.text.lower()
    mail = page.context.new_page()  # as a mail client shows it: no site around it, no CSP
    mail.route("**/*", lambda route: route.abort())  # and nothing fetched from anywhere
    for link in _visit(mail, lambda: mail.set_content(rendered.html)):
        assert link.startswith(("http://", "https://")), ("digest", link)
