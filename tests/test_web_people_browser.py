"""A person in a real browser (issue 15): Chromium signs in through the link a real local SMTP
server received, saves three papers, imports a BibTeX file, sees "For you" with reasons,
gives a 👎 and no longer sees that paper, and exports a BibTeX file bibtexparser reads back.

`papertide serve` runs as a subprocess over a store of 3,000 real arXiv papers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import bibtexparser
import pytest
from test_people import _bib
from test_web_browser import CHROMIUM, CHROMIUM_ARGS, _need_browser, _wait_until_up, shot
from web_support import free_port, sync_files


@pytest.fixture(scope="module")
def smtp() -> Iterator:
    from digest_support import SMTPServer

    server = SMTPServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(arxiv_slice, smtp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _need_browser()
    folder = tmp_path_factory.mktemp("people-serve")
    db = str(folder / "papers.db")
    os.environ.setdefault("PAPERTIDE_INDEX_DIR", str(folder / "index"))
    sync_files(db, arxiv_slice[0]).close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PAPERTIDE_DB": db, "PAPERTIDE_INDEX_DIR": str(folder / "index"),
           "PAPERTIDE_SMTP_PORT": str(smtp.port), "PAPERTIDE_BASE_URL": base, "PAPERTIDE_SECRET_KEY": "browser-key",
           "PAPERTIDE_EMBED_EVERY_SECONDS": "0", "PAPERTIDE_DIGEST_SCHEDULER": "false"}
    log = (folder / "serve.log").open("w")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("papertide")), "serve", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(base, proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_a_researcher_signs_in_builds_a_library_and_is_recommended_papers(server: str, smtp, arxiv_slice,
                                                                        tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    _, records = arxiv_slice
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = chromium.new_context(base_url=server, viewport={"width": 1366, "height": 900},
                                       accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto("/for-you")
            assert page.url.endswith("/signin?next=/for-you")
            page.fill("#email", "ada@example.org")
            page.get_by_role("button", name="Mail me a sign-in link").click()
            assert "We sent a sign-in link" in page.locator("main").inner_text()
            [mail] = smtp.recorder.to("ada@example.org")
            link = re.search(r"(http://127\.0\.0\.1:\d+/signin/\S+)",
                             mail.message.get_body(("plain",)).get_content()).group(1)
            page.goto(link)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/for-you")
            assert "Save a few papers" in page.locator("main").inner_text()

            for r in records[:3]:
                page.goto(f"/papers/{r['id']}")
                page.get_by_role("button", name="☆ Save to my library").click()
                page.wait_for_load_state()
            page.goto("/library")
            assert page.locator("ul.library > li").count() == 3
            bib = tmp_path / "zotero.bib"
            bib.write_text(_bib(records[3:9], missing=1, malformed=1))
            page.get_by_text("Import BibTeX, RIS or CSL-JSON").click()
            page.locator("#file").set_input_files(str(bib))
            page.get_by_role("button", name="Import").click()
            status = page.get_by_role("status").inner_text()
            assert "6 matched" in status and "1 kept" in status and "line" in page.locator("main").inner_text()
            assert page.locator("ul.library > li").count() == 10
            shot(page, "library")

            page.goto("/for-you")  # scored after each change, in the background: the page reloads until ready
            page.locator(".rec .why").first.wait_for(timeout=120_000)
            reasons = page.locator(".rec .why")
            assert reasons.count() >= 10 and reasons.first.inner_text().startswith("close to “")
            shot(page, "for-you")
            first = page.locator(".rec").first
            disliked = first.locator("input[name=paper_id]").first.get_attribute("value")
            first.get_by_role("button", name="Not for me").click()
            page.wait_for_url("**/for-you")
            assert page.locator(f'.rec input[name=paper_id][value="{disliked}"]').count() == 0

            page.goto("/library")
            with page.expect_download() as download:
                page.get_by_role("link", name="Export as BibTeX").click()
            exported = bibtexparser.parse_file(download.value.path())
            assert not exported.failed_blocks and len(exported.entries) == 10
            assert {e.fields_dict["eprint"].value for e in exported.entries if "eprint" in e.fields_dict} >= \
                {r["id"] for r in records[:9]}
            phone = chromium.new_context(base_url=server, viewport={"width": 390, "height": 844}, is_mobile=True)
            phone.add_cookies(context.cookies())
            tab = phone.new_page()
            for path in ("/for-you", "/library", "/account"):  # the feed's long secret address wraps
                tab.goto(path)
                assert tab.evaluate("document.documentElement.scrollWidth") <= 390, path
            shot(tab, "account-phone", full_page=False)
            phone.close()
        finally:
            context.close()
            chromium.close()
    assert not errors, errors
