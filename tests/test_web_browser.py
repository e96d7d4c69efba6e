"""The site in a real browser: Playwright drives Debian's Chromium against `papertide serve`.

The server is the real command in a subprocess on 127.0.0.1, over the seeded store.
Screenshots go to test-artifacts/ (light, dark, phone). Without Chromium these tests
skip, except under CI (CI=true), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from web_support import free_port

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("PAPERTIDE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _need_browser() -> None:
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"Chromium not found at {CHROMIUM} (apt-get install chromium; scripts/test does it as root)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed (pip install -e '.[test]')"
    if problem and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run: {problem}", pytrace=False)
    if problem:
        pytest.skip(problem)


@pytest.fixture(scope="module")
def server(web_seed: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`papertide serve` on a free port, until the module's tests are done."""
    _need_browser()
    port = free_port()
    log = (tmp_path_factory.mktemp("serve") / "serve.log").open("w")
    env = {**os.environ, "PAPERTIDE_DB": web_seed["db"], "PAPERTIDE_RATE_LIMIT_SEARCH": "0",
           "PAPERTIDE_RATE_LIMIT_SUBSCRIBE": "0", "PAPERTIDE_EMBED_EVERY_SECONDS": "0"}
    command = [str(Path(sys.executable).with_name("papertide")), "serve", "--port", str(port)]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, proc)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_until_up(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"papertide serve exited with {proc.returncode}", pytrace=False)
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    pytest.fail("papertide serve did not answer within 30 s", pytrace=False)


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, server: str) -> Iterator:
    """A fresh browser context; fails the test on any console error (CSP violations included)."""
    context = browser.new_context(base_url=server, viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, errors


def shot(tab, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def test_open_trending_switch_window_and_expand_an_abstract(page, web_seed: dict) -> None:
    page.goto("/")
    assert page.title().startswith("Trending papers")
    assert page.locator("article.card").count() >= 10
    page.get_by_role("link", name="This week").click()
    page.wait_for_url("**/?window=week*")
    first = page.locator("article.card").first
    assert web_seed["trending_id"] in first.locator("h2 a").get_attribute("href")
    assert first.locator("svg.spark").count() >= 1
    details = page.locator("details.abstract").first
    details.locator("summary").click()
    assert details.evaluate("d => d.open")
    shot(page, "trending")


def test_dark_theme_and_phone_layout(browser, server: str) -> None:
    context = browser.new_context(base_url=server, color_scheme="dark", viewport={"width": 390, "height": 844},
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        tab = context.new_page()
        tab.goto("/")
        background = tab.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 18, 22)"
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"page is {width}px wide on a 390px phone"
        shot(tab, "trending-dark-phone", full_page=False)
    finally:
        context.close()


def test_search_and_open_a_result(page) -> None:
    page.goto("/")
    box = page.locator("#quick-q")
    box.fill("medical image segmentation")
    box.press("Enter")
    page.wait_for_url("**/search?q=medical+image+segmentation*")
    assert page.locator("#q").input_value() == "medical image segmentation"
    assert page.locator("article.card mark").count() > 0
    shot(page, "search")
    title = page.locator("article.card h2 a").first
    expected = title.inner_text()
    title.click()
    page.wait_for_url("**/papers/**")
    assert page.locator("h1").inner_text() == expected
    assert page.get_by_role("heading", name="Similar papers").is_visible()
    shot(page, "paper")


def test_change_mode_and_filters(page) -> None:
    page.goto("/search?q=language+models")
    page.select_option("#category-select", "cs.CL")  # app.js submits on change
    page.wait_for_url("**category=cs.CL*")
    cards = page.locator("article.card")
    assert cards.count() > 0
    for i in range(cards.count()):
        assert "cs.CL" in cards.nth(i).locator(".meta").inner_text()
    page.fill("#since", "2025-03")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**since=2025-03*")
    assert page.locator("article.card time").first.get_attribute("datetime") >= "2025-03-01"
    page.select_option("#mode", "hybrid")
    page.wait_for_url("**mode=hybrid*")
    assert "not available" in page.locator(".notice").inner_text()
    assert page.locator("article.card").count() > 0  # keyword results meanwhile
    shot(page, "search-filters")


def test_subscribe_then_manage_and_unsubscribe(page, web_seed: dict) -> None:
    from urllib.parse import urlsplit

    from papertide.digest.subscriptions import manage_link
    from papertide.settings import Settings
    from papertide.store import open_store

    page.goto("/search?q=protein+folding")
    page.get_by_role("link", name="Get this search by email").click()
    page.wait_for_url("**/subscribe?search=protein+folding")
    assert page.locator("#searches").input_value() == "protein folding"
    page.fill("#email", "browser@example.org")
    page.get_by_label("This week's top").check()
    page.get_by_label("weekly").check()
    shot(page, "subscribe-form")
    page.get_by_role("button", name="Subscribe").click()
    assert page.get_by_role("heading", name="Check your inbox").is_visible()
    shot(page, "subscribed")
    # The mailed manage link, signed as the server signs it (same store, same key).
    store = open_store(web_seed["db"])
    try:
        settings = Settings({"db": web_seed["db"]})
        subscriber = store.subscriber(email="browser@example.org")
        assert subscriber is not None and subscriber.status == "requested"
        link = urlsplit(manage_link(store, settings, subscriber))
        page.goto(link.path + (f"?{link.query}" if link.query else ""))
        assert page.locator("link[href='/static/style.css']").count() == 1  # the site's look
        page.fill("#add-searches", "interactive segmentation")
        page.fill("#add-authors", "Jun Ma")
        page.fill("#add-categories", "eess.IV")
        page.select_option("select[name=hour]", "6")
        page.get_by_role("button", name="Save").click()
        page.wait_for_load_state()
        assert page.get_by_text("Saved.").is_visible()
        assert page.get_by_label('"interactive segmentation"').is_checked() and page.get_by_label("By Jun Ma").is_visible()
        edited = store.subscriber(email="browser@example.org")
        assert edited.pending["hour"] == 6 or edited.hour == 6
        shot(page, "manage")
        page.get_by_role("button", name="Unsubscribe").click()
        page.wait_for_load_state()
        shot(page, "unsubscribed")
        assert store.subscriber(email="browser@example.org").status == "unsubscribed"
    finally:
        store.close()


def test_chromium_is_the_debian_one() -> None:
    """Guards against a silently downloaded browser: the tests above must use /usr/bin/chromium."""
    _need_browser()
    assert shutil.which("chromium") or Path(CHROMIUM).exists()


def _digest_file(db: str, folder: Path) -> Path:
    """A digest of the seeded store, as its mail's HTML part, in a file the browser can open."""
    from datetime import datetime, timezone

    from papertide.digest import subscriptions as subs
    from papertide.digest.outbox import preview
    from papertide.settings import Settings
    from papertide.store import open_store

    settings = Settings({"db": db, "secret_key": "browser-test"}, environ={})
    store = open_store(db)
    try:
        if store.subscriber(email="phone@example.org") is None:
            subs.request_subscription(store, settings, "phone@example.org",
                                      {"trending": True, "searches": ["segmentation"]})
            sub = store.subscriber(email="phone@example.org")
            store.confirm_subscriber(sub.id, sub.nonce, datetime.now(timezone.utc).isoformat())
        rendered, _ = preview(store, settings, "phone@example.org")
    finally:
        store.close()
    path = folder / "digest.html"
    path.write_text(rendered.html, encoding="utf-8")
    return path


@pytest.mark.parametrize("width", [1366, 390])
def test_no_page_is_wider_than_the_screen(browser, server: str, web_seed: dict, tmp_path: Path, width: int) -> None:
    """/, a search, a paper page and the digest, on the shared data with its long URLs and
    LaTeX: nothing makes the page scroll sideways, at desktop or phone width."""
    digest = _digest_file(web_seed["db"], tmp_path)
    context = browser.new_context(base_url=server, viewport={"width": width, "height": 900})
    try:
        tab = context.new_page()
        for name, url in (("trending", "/"), ("search", "/search?q=segmentation+of+3D+CT+from+clicks"),
                          ("paper", f"/papers/{web_seed['history_id']}"), ("hostile", f"/papers/{web_seed['hostile_id']}"),
                          ("digest", digest.as_uri())):
            tab.goto(url)
            wide = tab.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{name} is {wide}px wide at {width}px"
            shot(tab, f"{name}-{width}")
    finally:
        context.close()


def test_a_window_without_signals_says_so_above_the_list(page) -> None:
    page.goto("/?category=cs.CL")  # the seeded signals of today are not cs.CL papers'
    notice = page.locator("p.notice[role=status]")
    # (Whether earlier cs.CL signals exist depends on the seed's slice: either notice says it.)
    assert notice.is_visible() and notice.inner_text().startswith("No signals changed in")
    first_card = page.locator("article.card").first
    assert notice.bounding_box()["y"] < first_card.bounding_box()["y"]  # said above the list
    shot(page, "trending-notice")


def test_facets_narrow_a_search_and_the_cite_box_opens(page, web_seed: dict) -> None:
    page.goto("/search?q=segmentation")
    total = page.locator("strong.total").inner_text()
    page.locator('section.facet[aria-label="Year"] a').first.click()
    page.wait_for_url("**since=*")
    assert page.locator("strong.total").inner_text() != total
    assert page.locator('section.facet[aria-label="Year"] a.on').count() == 1
    page.get_by_role("link", name="newest").click()
    page.wait_for_url("**sort=newest*")
    page.goto(f"/papers/{web_seed['history_id']}")
    assert page.locator("svg.chart").count() >= 1  # the signal chart, drawn without script
    page.locator("details.cite summary").click()
    assert page.locator("details.cite pre").inner_text().startswith("@misc{")
    page.locator("details.follow summary").click()
    page.locator("details.follow button").click()
    page.wait_for_url("**/subscribe?author=*")
    shot(page, "follow-chosen-authors")
