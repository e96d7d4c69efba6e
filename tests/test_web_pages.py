"""The server-rendered pages, in process, against a real SQLite store: content, forms, CSRF, XSS."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from web_support import HOSTILE_ID, web_settings

from papertide.model import Page, Signal, make_record
from papertide.query import parse_query
from papertide.store import Filters, open_store
from papertide.web.app import create_app
from papertide.web.text import plain, rich, safe_url, snippet, sparkline

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def assert_no_injected_markup(html: str) -> None:
    """Only this site's own tags: one external script, no handlers, no javascript: links, no inline style."""
    tags = parse(html)
    scripts = [attrs for tag, attrs in tags.tags if tag == "script"]
    assert scripts == [{"src": scripts[0]["src"], "defer": None}] and scripts[0]["src"].startswith("/static/app.js")
    assert not tags.script_text
    for tag, attrs in tags.tags:
        assert tag not in {"img", "iframe", "object", "embed", "b", "i", "textarea"} or tag == "textarea" and (
            attrs.get("name") in {"searches", "authors"}), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style", tag
            assert not (value or "").strip().lower().startswith(("javascript:", "data:")), (tag, name, value)


def card_titles(html: str) -> list[str]:
    return re.findall(r'<h2 class="title"><a href="/papers/([^"]+)"', html)


# -- trending ----------------------------------------------------------------------------
def test_trending_page_lists_cards_with_tabs_and_sparklines(web_client: TestClient, web_seed: dict) -> None:
    response = web_client.get("/", params={"window": "week"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert card_titles(html)[0] == web_seed["trending_id"]
    assert 'aria-current="page">This week</a>' in html and ">Today</a>" in html and ">This month</a>" in html
    assert '<svg class="spark"' in html and "<polyline" in html and "▲ 300" in html
    assert '<details class="abstract">' in html  # expandable without JavaScript
    assert 'rel="next"' in html and "page=2" in html
    assert "max-age" in response.headers["cache-control"]
    assert_no_injected_markup(html)


def test_trending_never_lists_papers_without_signals_among_those_with(web_client: TestClient) -> None:
    html = web_client.get("/", params={"window": "day"}).text
    trending, newest = html.split('<h2 class="section" id="newest">Newest papers, without new signals</h2>')
    assert len(card_titles(trending)) == 3 and "▲" in trending.split('class="cards"', 1)[1]
    assert card_titles(newest) and 'class="notice"' not in html  # today has signals: no notice


def test_trending_says_when_its_window_has_no_signals(tmp_path) -> None:
    db = str(tmp_path / "old.db")
    store = open_store(db)
    store.ingest(Page(records=[
        make_record(id="2608.00001", source="files", title="Old favourite", published="2026-08-01",
                    signals=[Signal("upvotes", 5, "2026-08-19T10:00:00+00:00", "hf-daily"),
                             Signal("upvotes", 163, "2026-08-20T10:00:00+00:00", "hf-daily")]),
        make_record(id="2608.00002", source="files", title="Fresh but quiet", published="2026-08-25")]))
    store.close()
    with TestClient(create_app(web_settings(db))) as client:
        html = client.get("/").text
    notice = html.index('<p class="notice" role="status">No signals changed in the day up to ')
    assert "trending as of Aug 20, 2026, the newest signals.</p>" in html
    assert notice < html.index('<h2 class="title">')  # said above the list, not below it
    assert card_titles(html) == ["2608.00001", "2608.00002"]
    assert html.index("Newest papers, without new signals") < html.index("/papers/2608.00002")


def test_trending_by_topic(web_client: TestClient, web_seed: dict) -> None:
    store = open_store(web_seed["db"])
    try:
        trending_paper = store.get(web_seed["trending_id"])
    finally:
        store.close()
    word = max((w for w in re.findall(r"[A-Za-z]{7,}", trending_paper.title)), key=len).lower()
    html = web_client.get("/", params={"topic": word, "window": "week"}).text
    assert f"Trending papers about “{word}”" in html and 'name="topic" value="' + word in html
    assert card_titles(html)[0] == web_seed["trending_id"]
    assert "topic=" + word in html.split('aria-label="Window"', 1)[1].split("</nav>", 1)[0]  # tabs keep it
    none = web_client.get("/", params={"topic": "qwxzptv"}).text
    assert "No papers about “qwxzptv”" in none and card_titles(none) == []


def test_trending_category_filter_and_bad_window(web_client: TestClient) -> None:
    html = web_client.get("/", params={"window": "month", "category": "cs.CL"}).text
    assert '<option value="cs.CL" selected>' in html
    assert all("cs.CL" in block for block in html.split('<article class="card">')[1:])
    assert web_client.get("/", params={"window": "decade"}).status_code == 200  # falls back to today
    assert web_client.get("/", params={"category": "<x>"}).status_code == 400


# -- search --------------------------------------------------------------------------------
def test_search_page_keeps_the_query_marks_terms_and_pages(web_client: TestClient) -> None:
    html = web_client.get("/search", params={"q": "image segmentation", "category": "cs.CV"}).text
    assert 'value="image segmentation"' in html and '<option value="cs.CV" selected>' in html
    assert "<mark>" in html and card_titles(html)
    assert 'rel="next"' in html and "page=2" in html
    page2 = web_client.get("/search", params={"q": "image segmentation", "category": "cs.CV", "page": 2}).text
    assert set(card_titles(html)).isdisjoint(card_titles(page2)) and 'rel="prev"' in page2
    assert "/feeds/search.atom?q=image+segmentation" in html


def _facet(html: str, label: str) -> dict[str, tuple[str, int]]:
    """A facet's values: value -> (link, count)."""
    section = html.split(f'<section class="facet" aria-label="{label}">', 1)[1].split("</section>", 1)[0]
    return {text: (unescape(href), int(n.replace(",", ""))) for href, text, n in
            re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a> <span class="n">([\d,]+)</span>', section)}


def test_search_page_counts_sorts_and_narrows_by_facets(web_client: TestClient, web_seed: dict) -> None:
    html = web_client.get("/search", params={"q": "segmentation"}).text
    total = int(re.search(r'<strong class="total">([\d,]+) results</strong>', html).group(1).replace(",", ""))
    store = open_store(web_seed["db"])
    try:
        assert total == store.keyword_count(parse_query("segmentation"), Filters())  # all matches, not a page
    finally:
        store.close()
    assert total > 20 and len(card_titles(html)) == 20
    categories, years, sources = _facet(html, "Category"), _facet(html, "Year"), _facet(html, "Source")
    assert categories["cs.CV"][1] >= categories.get("cs.CL", ("", 0))[1] and "arxiv-oai" not in categories
    assert set(sources) == {"file:arxiv", "file:hf"} and sum(n for _, n in sources.values()) >= 20
    link, count = sources["file:hf"]
    assert f'<strong class="total">{count:,} result' in web_client.get(link).text
    link, count = years["2025"]
    narrowed = web_client.get(link).text  # a year narrows to that year and says how many remain
    assert f'<strong class="total">{count:,} result' in narrowed and 'aria-current="true" class="on">2025' in narrowed
    assert all(day.startswith("2025") for day in re.findall(r'<time datetime="(\d{4})', narrowed))
    code_link, with_code = _facet(html, "Code")["has code"]
    coded = web_client.get(code_link).text
    assert f"{with_code:,} result" in coded and coded.count('class="badge code"') == len(card_titles(coded))

    newest = web_client.get("/search", params={"q": "segmentation", "sort": "newest"}).text
    days = re.findall(r'<article class="card">.*?<time datetime="([\d-]+)"', newest, re.S)
    assert days == sorted(days, reverse=True) and '<strong aria-current="true">newest</strong>' in newest
    assert "sort=newest" in re.search(r'<a rel="next" href="([^"]+)"', newest).group(1)  # the next page keeps it


def test_the_site_searches_by_keyword_where_there_are_no_vectors(web_client: TestClient) -> None:
    html = web_client.get("/search", params={"q": "segmentation"}).text
    assert '<option value="keyword" selected>' in html and " · keyword · " in html


def test_search_page_without_results_helps(web_client: TestClient) -> None:
    html = web_client.get("/search", params={"q": "qwxzptv unfindable", "since": "2025"}).text
    assert "No papers match" in html and "without filters" in html and 'value="qwxzptv unfindable"' in html


def test_search_page_shows_bad_filters_next_to_the_form(web_client: TestClient) -> None:
    response = web_client.get("/search", params={"q": "vision", "since": "yesterday"})
    assert response.status_code == 400 and "is not a date" in response.text and 'value="vision"' in response.text


def test_unavailable_mode_falls_back_to_keyword_with_a_notice(web_client: TestClient) -> None:
    html = web_client.get("/search", params={"q": "vision transformer", "mode": "hybrid"}).text
    assert "hybrid search is not available" in html and card_titles(html)
    assert '<option value="hybrid" selected>hybrid (not available yet)</option>' in html


def test_empty_search_page_shows_help(web_client: TestClient) -> None:
    html = web_client.get("/search").text
    assert "author:" in html and "No papers match" not in html


# -- paper --------------------------------------------------------------------------------
def test_paper_page_has_abstract_authors_links_signals_and_similar(web_client: TestClient, web_seed: dict) -> None:
    html = web_client.get(f"/papers/{web_seed['history_id']}").text
    assert "<h2>Abstract</h2>" in html and "Signals over time" in html and "Similar papers" in html
    assert ">arXiv</a>" in html and ">PDF</a>" in html
    assert "3 observations" in html or "4 observations" in html
    chart = html.split('role="img" aria-label="upvotes:', 1)[1].split("</svg>", 1)[0]  # axes, dates, values
    assert chart.count("<line") >= 3 and chart.count("<circle") >= 3 and re.search(r">\d{4}-\d\d-\d\d</text>", chart)
    assert re.search(r"<title>\d{4}-\d\d-\d\d \d\d:\d\d: \d+</title>", chart)
    author = re.search(r'<a class="author" href="(/authors/[^"]+)">([^<]+)</a>', html)
    page = web_client.get(unescape(author.group(1))).text  # each author leads to their papers here
    assert f"<h1>{author.group(2)}</h1>" in page and web_seed["history_id"] in card_titles(page)
    assert "/subscribe?author=" in page and "Follow " in page
    boxes = re.findall(r'<input type="checkbox" name="author" value="([^"]+)"( checked)?>', html)
    assert boxes and all(checked for _, checked in boxes[:3])  # any subset can be followed; three are ticked
    assert len(card_titles(html)) >= 1 and web_seed["history_id"] not in card_titles(html)


def test_missing_paper_page_is_a_404_page(web_client: TestClient) -> None:
    response = web_client.get("/papers/2501.99999")
    assert response.status_code == 404 and "Not found" in response.text and "<html" in response.text


# -- XSS -------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/", "/?window=month", f"/papers/{HOSTILE_ID}", "/search?q=zyxwv",
                                 "/search?q=%3Cscript%3Ealert(1)%3C/script%3E", "/subscribe?search=%3Cscript%3Ex",
                                 "/search?q=%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E"])
def test_hostile_text_is_escaped_everywhere(web_client: TestClient, url: str) -> None:
    response = web_client.get(url)
    assert response.status_code == 200
    html = response.text
    assert_no_injected_markup(html)
    assert "<script>alert" not in html and "<img" not in html


def test_hostile_paper_shows_as_text_with_latex_rendered(web_client: TestClient) -> None:
    html = web_client.get(f"/papers/{HOSTILE_ID}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(2)&gt;" in html
    assert '<span class="math">α</span>-stable' in html
    assert '<span class="math">O(n<sup>2</sup>)</span>' in html and "ℝ<sup>d</sup>" in html
    assert "javascript:" not in html.replace("&lt;a href=&#34;javascript:alert(5)&#34;&gt;", "")


def test_text_helpers_escape_and_render() -> None:
    assert str(rich("<b>x</b> & $\\beta_{1}$")) == '&lt;b&gt;x&lt;/b&gt; &amp; <span class="math">β<sub>1</sub></span>'
    assert str(rich("segmentation of <i>CT</i>", ["segment"])) == "<mark>segmentation</mark> of &lt;i&gt;CT&lt;/i&gt;"
    assert plain("$\\mathcal{O}(n)$ and \\emph{this} costs 5\\$") == "O(n) and this costs 5$"
    assert safe_url("javascript:alert(1)") == "" and safe_url(" JAVASCRIPT:x") == ""
    assert safe_url('https://x.org/"onmouseover=') == "" and safe_url("https://github.com/a/b") == "https://github.com/a/b"
    long = "word " * 100 + "needle " + "word " * 100
    assert "needle" in snippet(long, ["needle"]) and len(snippet(long, ["needle"])) < 300
    svg = str(sparkline([("2025-01-01T00:00:00Z", 1.0), ("2025-01-02T00:00:00Z", 5.0)], "<up>"))
    assert svg.startswith('<svg class="spark"') and "&lt;up&gt;" in svg and "<up>" not in svg


# -- pages work without CDN or inline code -----------------------------------------------------
def test_every_asset_is_local_and_no_inline_code(web_client: TestClient) -> None:
    html = web_client.get("/").text
    for tag, attrs in parse(html).tags:
        if tag in {"script", "link"}:
            value = attrs.get("src" if tag == "script" else "href") or ""
            assert value.startswith(("/static/", "/feeds/")), (tag, value)
    for asset, kind in (("/static/style.css", "text/css"), ("/static/app.js", "javascript"),
                        ("/static/favicon.svg", "image/svg+xml")):
        response = web_client.get(asset)
        assert response.status_code == 200 and kind in response.headers["content-type"]
    css = web_client.get("/static/style.css").text
    assert "prefers-color-scheme: dark" in css and "max-width: 600px" in css
    assert '<meta name="viewport"' in html


# -- subscribe: forms and CSRF ------------------------------------------------------------------
def _form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_subscribe_form_requests_a_digest_and_mails_the_confirmation(web_seed: dict, smtp_server) -> None:
    settings = web_settings(web_seed["db"], smtp_port=smtp_server.port)
    with TestClient(create_app(settings)) as client:
        form = client.get("/subscribe", params={"search": "medical segmentation", "author": "Ada Lovelace"})
        assert "medical segmentation</textarea>" in form.text and "Ada Lovelace</textarea>" in form.text
        assert "pt_csrf" in form.headers["set-cookie"] and "httponly" in form.headers["set-cookie"].lower()
        assert "samesite=strict" in form.headers["set-cookie"].lower()
        done = client.post("/subscribe", data={
            "csrf_token": _form_token(form.text), "email": "web@example.org", "trending": ["day", "week"],
            "categories": ["cs.CV"], "searches": "medical segmentation\n\n3D CT", "authors": "", "frequency": "weekly"})
        assert done.status_code == 200 and "Check your inbox" in done.text and "web@example.org" in done.text
        assert "We sent a confirmation link" in done.text  # the mail server accepted it
        assert "/subscriptions/manage" not in done.text  # only the mailed links manage a subscription
        store = client.app.app.state.site.store  # type: ignore[attr-defined]
        sub = next(s for s in store.subscribers() if s.email == "web@example.org")
        assert sub.status == "requested" and sub.pending["frequency"] == "weekly"
        assert [q["query"] for q in sub.pending["follows"]["searches"]] == ["medical segmentation", "3D CT"]
        mail = smtp_server.recorder.wait_for(1)[-1].message
        text = mail.get_body(("plain",)).get_content()
        confirm = re.search(r"(/confirm/[A-Za-z0-9_.\-]+)", text).group(1)
        asked = client.get(confirm)  # a mail scanner following the link confirms nothing
        assert asked.status_code == 200 and f'action="{confirm}"' in asked.text
        assert store.subscriber(email="web@example.org").status == "requested"
        confirmed = client.post(confirm)
        assert confirmed.status_code == 200 and "confirmed" in confirmed.text
        assert "style=" not in confirmed.text and "/static/style.css" in confirmed.text  # the site's look
        assert '<a class="brand" href="/">papertide</a>' in confirmed.text
        assert store.subscriber(email="web@example.org").status == "confirmed"
        old = client.get("/subscriptions/manage", params={"token": "x" * 30}, follow_redirects=False)
        assert old.status_code == 303 and old.headers["location"] == "/manage/" + "x" * 30
        assert client.get("/manage/" + "x" * 30).status_code == 400


def test_subscribing_survives_an_unreachable_mail_server(web_seed: dict) -> None:
    with TestClient(create_app(web_settings(web_seed["db"]))) as client:  # smtp_port 9: refused
        token = _form_token(client.get("/subscribe").text)
        done = client.post("/subscribe", data={"csrf_token": token, "email": "queued@example.org",
                                               "trending": ["day"]})
        assert done.status_code == 200 and "Check your inbox" in done.text
        assert "We will send a confirmation link" in done.text and "We sent" not in done.text
        store = client.app.app.state.site.store  # type: ignore[attr-defined]
        assert store.outbox_counts().get("queued", 0) >= 1  # the scheduler retries it


def test_forms_refuse_posts_without_the_right_token(web_seed: dict) -> None:
    data = {"email": "csrf@example.org", "trending": ["day"], "frequency": "daily"}
    with TestClient(create_app(web_settings(web_seed["db"]))) as client:
        assert client.post("/subscribe", data=data).status_code == 403  # no cookie, no token
        token = _form_token(client.get("/subscribe").text)
        assert client.post("/subscribe", data={**data, "csrf_token": token + "x"}).status_code == 403
    with TestClient(create_app(web_settings(web_seed["db"]))) as other:  # another browser's token
        other.get("/subscribe")
        response = other.post("/subscribe", data={**data, "csrf_token": token})
        assert response.status_code == 403 and "reload the page" in response.text
    with TestClient(create_app(web_settings(web_seed["db"], secret_key="another-key"))) as forged:
        forged.cookies.set("pt_csrf", client.cookies.get("pt_csrf"))
        assert forged.post("/subscribe", data={**data, "csrf_token": token}).status_code == 403


def test_subscribe_form_errors_keep_the_values(web_seed: dict) -> None:
    with TestClient(create_app(web_settings(web_seed["db"]))) as client:
        token = _form_token(client.get("/subscribe").text)
        response = client.post("/subscribe", data={"csrf_token": token, "email": "nope", "searches": "kept words"})
        assert response.status_code == 400 and "email address" in response.text
        assert "kept words</textarea>" in response.text
        assert client.post("/subscribe", data={"csrf_token": token, "email": "a@b.org"}).status_code == 400


def test_big_form_posts_are_refused(web_client: TestClient) -> None:
    response = web_client.post("/subscribe", data={"searches": "x" * 100_000})
    assert response.status_code == 413


def test_api_docs_page_renders_from_the_schema(web_client: TestClient) -> None:
    html = web_client.get("/api/v1/docs").text
    assert "GET /api/v1/search" in html and "POST /api/v1/subscriptions" in html
    assert "<code>bad_link</code>" in html and "`" not in html  # backticks in docstrings are code, not text
    assert_no_injected_markup(html)


def test_digest_paper_links_redirect_to_the_paper_page(web_client: TestClient, web_seed: dict) -> None:
    response = web_client.get(f"/paper/{web_seed['history_id']}", follow_redirects=False)
    assert response.status_code == 301 and response.headers["location"] == f"/papers/{web_seed['history_id']}"


# -- text from sources ---------------------------------------------------------------------
def test_latex_in_text_becomes_unicode_and_urls_become_links() -> None:
    abstract = (r"We \emph{segment} ``hard'' cases for M\"uller et~al.; see \href{https://github.com/a/b}{our code} "
                r"and \url{https://x.org/data_v2}. Accuracy $\alpha^2 \geq 0.9$, 50\% faster -- really.")
    html = str(rich(abstract))
    assert "segment “hard” cases for Müller et al.; see our code (" in html and "50% faster – really." in html
    assert '<a href="https://github.com/a/b" rel="nofollow noopener noreferrer">https://github.com/a/b</a>' in html
    assert '<a href="https://x.org/data_v2" rel="nofollow noopener noreferrer">https://x.org/data_v2</a>.' in html
    assert '<span class="math">α<sup>2</sup> ≥ 0.9</span>' in html and "\\" not in html
    assert plain(abstract).startswith("We segment “hard” cases for Müller et al.")
    hostile = str(rich(r"\href{javascript:alert(1)}{click} <b>x</b> https://ok.org/p\"><script>"))
    assert "<a href=\"javascript" not in hostile and "&lt;b&gt;" in hostile and "<script>" not in hostile
    assert '<a href="https://ok.org/p"' in hostile
    assert rich("A plain medRxiv text: ~5 mm at $100.") == "A plain medRxiv text: ~5 mm at $100."  # not LaTeX


def test_a_bare_percent_sign_is_text_not_a_latex_comment() -> None:
    text = r"Pass@1 rises from 50.0% to 56.7\% with \emph{FIPO}; the rest of the line stays."
    assert plain(text) == "Pass@1 rises from 50.0% to 56.7% with FIPO; the rest of the line stays."
