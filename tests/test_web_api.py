"""The JSON API and the Atom feeds, in process, against a real SQLite store seeded from ../shared/data."""

from __future__ import annotations

import json

import feedparser
import pytest
from fastapi.testclient import TestClient
from web_support import HOSTILE_ID, HOSTILE_TITLE, access_log_lines, web_settings

from papertide.store import Filters, open_store
from papertide.web.app import create_app
from papertide.web.security import RateLimiter
from papertide.web.errors import RateLimited

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


@pytest.fixture(scope="module")
def known(web_seed: dict) -> dict:
    """A stored paper with an abstract, and its title words as a query."""
    store = open_store(web_seed["db"])
    try:
        pid = next(pid for pid, _ in store.recent(Filters(categories=["cs.CV"]), 5) if pid != HOSTILE_ID)
        return {"id": pid, "title": store.get(pid).title}
    finally:
        store.close()


# -- schema ---------------------------------------------------------------------------
def test_openapi_lists_every_endpoint_with_the_error_shape(web_client: TestClient) -> None:
    schema = web_client.get("/api/v1/openapi.json").json()
    paths = set(schema["paths"])
    assert {"/api/v1/search", "/api/v1/trending", "/api/v1/papers/{paper_id}", "/api/v1/papers/{paper_id}/similar",
            "/api/v1/subscriptions", "/api/v1/subscriptions/{token}"} <= paths
    assert not any(p.startswith(("/papers", "/feeds", "/search")) for p in paths)  # pages stay out
    search = schema["paths"]["/api/v1/search"]["get"]["responses"]
    assert "422" not in search and search["400"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
    docs = web_client.get("/api/v1/docs")
    assert docs.status_code == 200 and "/api/v1/search" in docs.text and "cdn" not in docs.text.lower()


# -- search ---------------------------------------------------------------------------
def test_search_finds_a_paper_by_its_title(web_client: TestClient, known: dict) -> None:
    body = web_client.get("/api/v1/search", params={"q": known["title"], "limit": 5}).json()
    assert body["mode"] == "keyword" and body["query"] == known["title"] and body["took_ms"] >= 0
    assert body["results"][0]["id"] == known["id"]
    first = body["results"][0]
    assert {"id", "title", "authors", "published", "categories", "url", "score", "snippet", "signals"} <= set(first)
    assert body["terms"]


def test_search_pages_by_offset_without_overlap(web_client: TestClient) -> None:
    first = web_client.get("/api/v1/search", params={"q": "image", "limit": 5}).json()
    second = web_client.get("/api/v1/search", params={"q": "image", "limit": 5, "offset": 5}).json()
    assert first["next_offset"] == 5 and len(first["results"]) == 5 and second["offset"] == 5
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in second["results"]}
    both = web_client.get("/api/v1/search", params={"q": "image", "limit": 10}).json()
    assert [r["id"] for r in both["results"]] == [r["id"] for r in first["results"] + second["results"]]


@pytest.mark.parametrize("params", [{"q": "x", "limit": 101}, {"q": "x", "limit": 0}, {"q": "x", "offset": 1001},
                                    {"q": ""}, {"q": "x" * 2001}, {}, {"q": "x", "mode": "magic"},
                                    {"q": "x", "since": "2025-13"}, {"q": "x", "until": "tomorrow"},
                                    {"q": "x", "category": "<script>"}, {"q": "x", "limit": "ten"}])
def test_bad_search_parameters_are_400_with_the_error_shape(web_client: TestClient, params: dict) -> None:
    _error(web_client.get("/api/v1/search", params=params), 400, "bad_request")


@pytest.mark.parametrize("q", ['"unclosed', "NEAR(a b)", "*", "' OR 1=1 --", "a AND OR NOT", "🦜 émoji",
                               "title:x author:", "cat:", "since:9999", "-", '""', "\\", "%00", "x" * 500])
def test_odd_queries_are_answered_never_500(web_client: TestClient, q: str) -> None:
    response = web_client.get("/api/v1/search", params={"q": q})
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["results"], list)


def test_unavailable_search_mode_is_a_400_mode_unavailable(web_client: TestClient) -> None:
    for mode in ("semantic", "hybrid"):
        message = _error(web_client.get("/api/v1/search", params={"q": "x", "mode": mode}), 400, "mode_unavailable")
        assert "keyword" in message["message"]


def test_search_filters_by_category_and_date(web_client: TestClient) -> None:
    body = web_client.get("/api/v1/search", params={"q": "learning", "category": "cs.CL", "since": "2025-03",
                                                    "limit": 20}).json()
    assert body["results"]
    for result in body["results"]:
        assert "cs.CL" in result["categories"] and result["published"] >= "2025-03-01"


# -- papers ---------------------------------------------------------------------------
def test_paper_has_everything_and_its_history(web_client: TestClient, web_seed: dict) -> None:
    body = web_client.get(f"/api/v1/papers/{web_seed['history_id']}").json()
    assert body["id"] == web_seed["history_id"] and body["abstract"]
    upvotes = body["history"]["upvotes"]
    assert len(upvotes) >= 3 and upvotes == sorted(upvotes, key=lambda o: o["at"])
    assert body["signals"]["upvotes"] == upvotes[-1]["value"]
    again = web_client.get(f"/api/v1/papers/{web_seed['history_id']}v3").json()
    assert again["id"] == web_seed["history_id"]


@pytest.mark.parametrize("pid", ["2501.99999", "nope", "../../etc/passwd", "x" * 100])
def test_missing_paper_is_404(web_client: TestClient, pid: str) -> None:
    _error(web_client.get(f"/api/v1/papers/{pid}"), 404, "not_found")


def test_similar_papers_leave_the_paper_out(web_client: TestClient, known: dict) -> None:
    body = web_client.get(f"/api/v1/papers/{known['id']}/similar", params={"limit": 5}).json()
    assert body["method"] == "keyword" and body["id"] == known["id"]
    assert 0 < len(body["results"]) <= 5 and known["id"] not in {r["id"] for r in body["results"]}
    _error(web_client.get("/api/v1/papers/2501.99999/similar"), 404, "not_found")


# -- trending ---------------------------------------------------------------------------
def test_trending_puts_fresh_upvotes_first_and_pages(web_client: TestClient, web_seed: dict) -> None:
    for window in ("day", "week", "month"):
        body = web_client.get("/api/v1/trending", params={"window": window, "limit": 5}).json()
        assert body["window"] == window and body["at"] and len(body["results"]) == 5
    week = web_client.get("/api/v1/trending", params={"window": "week", "limit": 3}).json()
    assert week["results"][0]["id"] == web_seed["trending_id"] and week["results"][0]["score"] > 0
    nxt = web_client.get("/api/v1/trending", params={"window": "week", "limit": 3, "offset": 3}).json()
    assert not {r["id"] for r in week["results"]} & {r["id"] for r in nxt["results"]}
    _error(web_client.get("/api/v1/trending", params={"window": "year"}), 400, "bad_request")


def test_trending_category_filter(web_client: TestClient) -> None:
    body = web_client.get("/api/v1/trending", params={"window": "month", "category": "cs.CL", "limit": 10}).json()
    assert body["results"] and all(any(c.startswith("cs.CL") for c in r["categories"]) for r in body["results"])


# -- subscriptions ---------------------------------------------------------------------
def test_subscription_lifecycle(web_client: TestClient) -> None:
    from papertide.digest import subscriptions as digest_subscriptions

    created = web_client.post("/api/v1/subscriptions", json={
        "email": "reader@Example.ORG", "frequency": "weekly",
        "follows": {"trending": ["day"], "categories": ["cs.CV"], "searches": ["  medical  segmentation "]}})
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["email"] == "reader@example.org" and sub["status"] == "requested" and sub["pending"]
    assert "token" not in sub  # asking with an address never reveals a way to manage it
    assert [s["query"] for s in sub["follows"]["searches"]] == ["medical segmentation"]
    assert sub["frequency"] == "weekly"
    site = web_client.app.app.state.site  # type: ignore[attr-defined]
    listed = [s for s in site.store.subscribers() if s.email == "reader@example.org"]
    assert len(listed) == 1 and listed[0].status == "requested"
    token = digest_subscriptions.manage_link(site.store, site.settings, listed[0]).rsplit("/", 1)[-1]
    assert web_client.get(f"/api/v1/subscriptions/{token}").json()["email"] == "reader@example.org"
    changed = web_client.patch(f"/api/v1/subscriptions/{token}", json={"frequency": "daily"})
    assert changed.status_code == 200 and changed.json()["email"] == "reader@example.org"
    gone = web_client.delete(f"/api/v1/subscriptions/{token}").json()
    assert gone["status"] == "unsubscribed"
    _error(web_client.get("/api/v1/subscriptions/not-a-real-token-at-all"), 400, "bad_link")
    _error(web_client.patch(f"/api/v1/subscriptions/{token}", json={"status": "requested"}), 400, "bad_request")


@pytest.mark.parametrize("body", [
    {"email": "not-an-address", "follows": {"trending": ["day"]}},
    {"email": "a@b.org", "follows": {}},
    {"email": "a@b.org", "follows": {"trending": ["year"]}},
    {"email": "a@b.org", "follows": {"categories": ["<b>"]}},
    {"email": "a@b.org", "follows": {"searches": ["x"] * 21}},
    {"email": "a@b.org", "follows": {"trending": ["day"]}, "frequency": "hourly"},
    {"email": "a@b.org"},
])
def test_bad_subscriptions_are_400(web_client: TestClient, body: dict) -> None:
    _error(web_client.post("/api/v1/subscriptions", json=body), 400, "bad_request")


def test_subscribe_needs_a_json_body(web_client: TestClient) -> None:
    """A cross-site form can send text/plain without a preflight; the API refuses it."""
    body = json.dumps({"email": "a@b.org", "follows": {"trending": ["day"]}})
    response = web_client.post("/api/v1/subscriptions", content=body, headers={"Content-Type": "text/plain"})
    assert 400 <= response.status_code < 500 and "error" in response.json()


def test_oversized_bodies_are_413(web_client: TestClient) -> None:
    response = web_client.post("/api/v1/subscriptions", content=b"{" + b" " * 70_000 + b"}",
                               headers={"Content-Type": "application/json"})
    _error(response, 413, "body_too_large")


def test_subscribing_is_rate_limited(web_seed: dict) -> None:
    app = create_app(web_settings(web_seed["db"], rate_limit_subscribe=2, rate_limit_search=3))
    with TestClient(app) as client:
        body = {"email": "rate@example.org", "follows": {"trending": ["week"]}}
        assert [client.post("/api/v1/subscriptions", json=body).status_code for _ in range(2)] == [201, 201]
        limited = client.post("/api/v1/subscriptions", json=body)
        _error(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) >= 1
        statuses = [client.get("/api/v1/search", params={"q": "x"}).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert client.get("/api/v1/trending").status_code == 200  # cheap and cached: not limited


def test_token_bucket_refills() -> None:
    now = [0.0]
    limiter = RateLimiter({"search": 60}, clock=lambda: now[0])
    for _ in range(60):
        limiter.check("search", "a")
    with pytest.raises(RateLimited):
        limiter.check("search", "a")
    limiter.check("search", "b")  # per client
    now[0] += 1.0
    limiter.check("search", "a")  # one token a second


# -- errors, headers, logs --------------------------------------------------------------
def test_unknown_api_route_and_method_are_json_errors(web_client: TestClient) -> None:
    _error(web_client.get("/api/v1/nothing"), 404, "not_found")
    _error(web_client.put("/api/v1/search"), 405, "method_not_allowed")


def test_a_crash_is_a_generic_500_without_a_trace(web_seed: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(web_settings(web_seed["db"]))
    site = app.app.state.site

    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail at /srv/papertide")
    monkeypatch.setattr(site, "search", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/search", params={"q": "x"})
        page = client.get("/search", params={"q": "x"})
    _error(response, 500, "internal_error")
    for r in (response, page):
        assert r.status_code == 500 and "secret internal detail" not in r.text and "Traceback" not in r.text


def test_security_headers_on_every_response(web_client: TestClient) -> None:
    for url in ("/api/v1/search?q=x", "/api/v1/nothing", "/feeds/trending.atom", "/static/style.css"):
        headers = web_client.get(url).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"


def test_access_log_is_one_json_line_without_the_query(web_client: TestClient) -> None:
    with access_log_lines() as lines:
        web_client.get("/api/v1/search", params={"q": "private words"})
        web_client.get("/api/v1/subscriptions/some-secret-token-value")
    first, second = (json.loads(line) for line in lines[-2:])
    assert first["path"] == "/api/v1/search" and first["status"] == 200 and first["ms"] >= 0
    assert {"ts", "method", "client", "bytes"} <= set(first)
    assert "private" not in "".join(lines) and "some-secret-token" not in "".join(lines)


# -- feeds ---------------------------------------------------------------------------------
def test_trending_feed_is_valid_atom(web_client: TestClient, web_seed: dict) -> None:
    response = web_client.get("/feeds/trending.atom", params={"window": "week"})
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10" and feed.entries
    assert feed.entries[0].link.endswith(f"/papers/{web_seed['trending_id']}")
    assert all(e.title and e.id and e.updated for e in feed.entries)


def test_search_feed_is_valid_atom_and_keeps_hostile_text_as_text(web_client: TestClient) -> None:
    response = web_client.get("/feeds/search.atom", params={"q": "zyxwv"})
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert len(feed.entries) == 1
    assert b"<script>" not in response.content and b"&lt;script&gt;alert(1)" in response.content
    assert "alert(1)" in feed.entries[0].title and "α" in feed.entries[0].title
    assert HOSTILE_TITLE.startswith("<script>")
    _error(web_client.get("/feeds/search.atom"), 400, "bad_request")
    _error(web_client.get("/feeds/trending.atom", params={"window": "year"}), 400, "bad_request")


def test_chunked_bodies_are_cut_off_at_the_limit(web_client: TestClient) -> None:
    def body():
        yield b'{"email": "a@b.org", "follows": {"searches": ["'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"]}}'
    response = web_client.post("/api/v1/subscriptions", content=body(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    _error(response, 413, "body_too_large")


# -- semantic / hybrid -------------------------------------------------------------------
def test_hybrid_search_and_semantic_similar_with_an_indexed_store(shared_data, tmp_path, db) -> None:  # type: ignore[no-untyped-def]
    """A store indexed by the static embedder (distilled once, cached like tests/test_semantic.py)."""
    import tempfile
    from pathlib import Path

    from web_support import seed_store

    from papertide.index.embed import StaticEmbedder, distill_static, static_model_dir
    from papertide.app.semantic_index import run_index

    models = Path(tempfile.gettempdir()) / "papertide-test-models"
    if not (static_model_dir(models) / "config.json").is_file():
        distill_static(static_model_dir(models))
    seeded = seed_store(shared_data, tmp_path / "semantic", db)
    store = open_store(seeded["db"])
    try:
        run_index(store, StaticEmbedder(static_model_dir(models)))
        paper = next(iter(store.get_many([seeded["trending_id"]]).values()))
    finally:
        store.close()
    settings = web_settings(seeded["db"], embedder="static", models_dir=str(models))
    with TestClient(create_app(settings)) as client:
        site = client.app.app.state.site  # type: ignore[attr-defined]
        # Pages and keyword searches offer hybrid but never wait for the model to load.
        assert client.get("/").status_code == 200
        assert client.get("/api/v1/search", params={"q": paper.title, "mode": "keyword"}).status_code == 200
        assert "(not available yet)" not in client.get("/search", params={"q": "x", "mode": "keyword"}).text
        assert site._embedder is None
        found = client.get("/api/v1/search", params={"q": paper.title, "mode": "hybrid", "limit": 5})
        assert found.status_code == 200, found.text
        body = found.json()
        assert body["mode"] == "hybrid" and paper.id in [r["id"] for r in body["results"]]
        assert client.get("/api/v1/search", params={"q": "protein folding", "mode": "semantic"}).json()["mode"] \
            == "semantic"
        similar = client.get(f"/api/v1/papers/{paper.id}/similar", params={"limit": 5}).json()
        assert similar["method"] == "semantic" and len(similar["results"]) == 5
        assert paper.id not in [r["id"] for r in similar["results"]]
        page = client.get("/search", params={"q": paper.title, "mode": "hybrid"})
        assert page.status_code == 200 and "not available" not in page.text
        # The distilled static embedder's hybrid measured below keyword: the site keeps keyword first.
        default = client.get("/search", params={"q": paper.title}).text
        assert '<option value="keyword" selected>' in default and " · keyword · " in default
        site.settings = site.settings.replace(embedder="all-MiniLM-L6-v2")  # a real model's vectors (not loaded)
        assert site.default_mode() == "hybrid"


def test_serve_embeds_new_papers_in_the_background_at_the_lowest_priority(shared_data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A fresh store gains semantic search without `papertide index`: the site embeds new papers."""
    import os
    import tempfile
    import threading
    import time
    from pathlib import Path

    from papertide.index.embed import distill_static, static_model_dir
    from papertide.model import Page, make_record

    models = Path(tempfile.gettempdir()) / "papertide-test-models"
    if not (static_model_dir(models) / "config.json").is_file():
        distill_static(static_model_dir(models))
    db = str(tmp_path / "fresh.db")
    store = open_store(db)
    store.ingest(Page(records=[make_record(id=f"2601.{n:05d}", source="files", title=f"Paper {n} on CT segmentation",
                                           abstract="Clicks guide a 3D model.") for n in range(40)]))
    store.close()
    settings = web_settings(db, embedder="static", models_dir=str(models), embed_every_seconds=0.2,
                            web_cache_seconds=0)
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 60
        while "hybrid" not in client.app.app.state.site.modes() and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)  # polling a condition with a deadline
        assert "hybrid" in client.app.app.state.site.modes()  # type: ignore[attr-defined]
        found = client.get("/api/v1/search", params={"q": "segmentation from clicks", "mode": "hybrid"}).json()
        assert found["mode"] == "hybrid" and len(found["results"]) > 0
        thread = next(t for t in threading.enumerate() if t.name == "papertide-embed")
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == 19  # never slows a search
