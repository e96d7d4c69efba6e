"""What an outsider could do to the site with forged headers and logged tokens (issue: trust,
items 2, 5 and 6), against the real app and a real `papertide serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from digest_support import free_port
from fastapi.testclient import TestClient
from web_support import access_log_lines, web_settings

from papertide.web.app import create_app


def test_tokens_never_reach_the_access_log(web_client: TestClient) -> None:
    with access_log_lines() as lines:
        for route in ("confirm", "manage", "unsubscribe"):
            web_client.get(f"/{route}/eyJzIjoxfQ.secret-token-{route}")
        web_client.post("/unsubscribe/eyJzIjoxfQ.secret-token-post")
    logged = [json.loads(line)["path"] for line in lines[-4:]]
    assert logged == ["/confirm/***", "/manage/***", "/unsubscribe/***", "/unsubscribe/***"]
    assert "secret-token" not in "".join(lines)


def test_a_forged_host_cannot_put_its_links_into_a_feed(web_seed: dict) -> None:
    with TestClient(create_app(web_settings(web_seed["db"]))) as client:
        forged = client.get("/feeds/trending.atom", headers={"Host": "evil.example"})
        assert forged.status_code == 400 and forged.json()["error"]["code"] == "unknown_host"
        assert "evil.example" not in client.get("/feeds/trending.atom", headers={"Host": "localhost"}).text
    settings = web_settings(web_seed["db"], base_url="https://papers.lab.example")
    with TestClient(create_app(settings)) as client:
        feed = client.get("/feeds/trending.atom", headers={"Host": "evil.example"})
        assert feed.status_code == 200 and "evil.example" not in feed.text and "papers.lab.example" in feed.text


def _serve(db: str, port: int, **env: str) -> subprocess.Popen:
    environ = {**os.environ, "PAPERTIDE_DB": db, "PAPERTIDE_DIGEST_SCHEDULER": "false",
               "PAPERTIDE_EMBED_EVERY_SECONDS": "0", **env}
    server = subprocess.Popen([str(Path(sys.executable).with_name("papertide")), "serve", "--port", str(port)],
                              env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:  # poll /healthz until it answers: a condition with a deadline, not a sleep
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("papertide serve did not start") from None
            time.sleep(0.05)


def _status(url: str, headers: dict[str, str]) -> int:
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("proxies", ["", "127.0.0.1"])
def test_a_forged_forwarding_header_does_not_dodge_the_rate_limit(web_seed: dict, proxies: str) -> None:
    port = free_port()
    server = _serve(web_seed["db"], port, PAPERTIDE_RATE_LIMIT_SEARCH="3", PAPERTIDE_FORWARDED_ALLOW_IPS=proxies)
    try:
        url = f"http://127.0.0.1:{port}/api/v1/search?q=x"
        statuses = [_status(url, {"X-Forwarded-For": f"10.0.0.{n}"}) for n in range(5)]
    finally:
        server.terminate()
        server.wait(10)
    if proxies:  # a proxy the operator trusts: each forwarded address has its own budget
        assert statuses == [200] * 5
    else:  # the default: the header is ignored, every request counts against 127.0.0.1
        assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]


def test_asking_for_a_subscription_never_tells_whether_the_address_is_subscribed(web_seed: dict) -> None:
    from papertide.digest import subscriptions as subs
    from papertide.store import open_store

    settings = web_settings(web_seed["db"])
    body = {"follows": {"categories": ["cs.CV"]}}
    with TestClient(create_app(settings)) as client:
        taken = client.post("/api/v1/subscriptions", json={**body, "email": "known@example.org"})
        store = open_store(web_seed["db"])
        try:
            sub = store.subscriber(email="known@example.org")
            subs.confirm(store, settings, subs.links.signer(store, settings).token("confirm", sub, sub.nonce))
            assert store.subscriber(email="known@example.org").status == "confirmed"
        finally:
            store.close()
        again = client.post("/api/v1/subscriptions", json={**body, "email": "known@example.org"})
        fresh = client.post("/api/v1/subscriptions", json={**body, "email": "stranger@example.org"})
    assert taken.status_code == again.status_code == fresh.status_code == 201
    shape = lambda r: {k: v for k, v in r.json().items() if k not in ("email", "requested_at")}  # noqa: E731
    assert shape(again) == shape(fresh) and again.json()["status"] == "requested"
    assert again.json()["confirmed_at"] is None


def test_head_is_answered_like_get_and_a_405_names_every_allowed_method(web_client: TestClient,
                                                                        web_seed: dict) -> None:
    for path in ("/", "/healthz", "/feeds/trending.atom", f"/papers/{web_seed['trending_id']}",
                 "/api/v1/search?q=graph"):
        got, head = web_client.get(path), web_client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"]
    refused = web_client.put("/api/v1/subscriptions/some-token")
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, PATCH, DELETE, HEAD"
    assert web_client.put("/api/v1/search").headers["allow"] == "GET, HEAD"


def test_an_unknown_category_is_named_in_the_error_everywhere(web_client: TestClient, web_seed: dict) -> None:
    from click.testing import CliRunner

    from papertide.cli import cli

    for path in ("/api/v1/search?q=graph&category=cs.XX", "/api/v1/search?q=graph%20cat:cs.XX",
                 "/api/v1/trending?category=false"):
        refused = web_client.get(path)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "unknown_category", path
    assert "cs.XX" in web_client.get("/api/v1/search?q=graph&category=cs.XX").json()["error"]["message"]
    assert web_client.get("/api/v1/search?q=graph&category=cs.cv&category=cs").status_code == 200
    for args in (["search", "graph", "--category", "cs.XX"], ["new", "--category", "cs.XX"],
                 ["trending", "--category", "cs.XX"]):
        result = CliRunner().invoke(cli, ["--db", web_seed["db"], *args])
        assert result.exit_code == 1 and "unknown category 'cs.XX'" in result.stderr, args


def test_out_of_range_parameters_get_a_readable_400(web_client: TestClient) -> None:
    expected = {"/?page=999": "page must be at most 50", "/api/v1/search?q=x&limit=500": "limit must be at most 100",
                "/api/v1/search?q=x&offset=0.5": "offset must be a whole number",
                "/api/v1/search?q=x&since=yesterday": "since must be a date like 2025, 2025-03 or 2025-03-18",
                "/api/v1/search": "q is required"}
    for path, message in expected.items():
        response = web_client.get(path)
        assert response.status_code == 400 and message in response.text, (path, response.text[:300])
        assert "Input should" not in response.text
