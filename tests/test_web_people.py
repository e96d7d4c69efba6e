"""A person on the site (issue 15): sign-in by a link mailed through a real local SMTP server,
the library, "For you", ratings, the feed, the account; and the attacks on all of it."""

from __future__ import annotations

import re
from contextlib import closing
from typing import Iterator

import bibtexparser
import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from web_support import web_settings

from papertide.digest import links
from papertide.store import open_store
from papertide.web.app import create_app
from test_people import _bib

SITE = "http://testserver"
SAME = {"Origin": SITE}


@pytest.fixture
def site(db: str, people_store, smtp_server) -> Iterator:  # noqa: ANN001
    settings = web_settings(db, smtp_port=smtp_server.port, base_url=SITE, smtp_from="papertide <p@papertide.test>")
    with TestClient(create_app(settings)) as client:
        client.smtp = smtp_server
        client.settings = settings
        yield client


def _csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def mailed_link(client: TestClient, email: str) -> str:
    address = email.lower()
    before = len(client.smtp.recorder.to(address))
    answer = client.post("/signin", data={"email": email, "csrf_token": _csrf(client, "/signin")}, headers=SAME)
    assert answer.status_code == 200 and "We sent a sign-in link" in answer.text
    mail = client.smtp.recorder.to(address)  # sent before the answer came back
    assert len(mail) == before + 1
    body = mail[-1].message.get_body(("plain",)).get_content()
    return re.search(r"(http://testserver/signin/\S+)", body).group(1).removeprefix(SITE)


def sign_in(client: TestClient, email: str) -> None:
    path = mailed_link(client, email)
    token = _csrf(client, path)
    done = client.post(path, data={"csrf_token": token}, headers=SAME, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/for-you"
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_sign_in_save_import_for_you_rate_export_and_delete(site: TestClient, arxiv_slice) -> None:
    _, records = arxiv_slice
    assert site.get("/for-you", follow_redirects=False).headers["location"].startswith("/signin")
    sign_in(site, "Ada@Example.org")
    for r in records[:3]:
        assert site.post("/me/save", data={"paper_id": r["id"]}, headers=SAME, follow_redirects=False).status_code == 303
    found = site.get("/search", params={"q": f'"{records[0]["title"]}"', "mode": "keyword"}).text
    assert "saved 1× here" in found  # saves are local signals, shown on every card (and weighed by trending)
    token = _csrf(site, "/library")
    upload = {"file": ("zotero.bib", _bib(records[3:9], missing=1, malformed=1).encode(), "application/x-bibtex")}
    page = site.post("/library/import", data={"csrf_token": token, "tags": "thesis"}, files=upload, headers=SAME)
    assert "6 matched" in page.text and "1 kept" in page.text and "1 malformed" in page.text
    assert page.text.count('class="library"') == 1 and records[0]["id"] in page.text
    for_you = site.get("/for-you")
    assert for_you.status_code == 200 and "close to “" in for_you.text
    first = re.search(r'name="paper_id" value="([^"]+)"', for_you.text).group(1)
    token = _csrf(site, "/for-you")
    site.post("/me/rate", data={"paper_id": first, "verdict": "down", "csrf_token": token}, headers=SAME)
    assert f'value="{first}"' not in site.get("/for-you").text
    api = site.get("/api/v1/me/recommendations").json()["results"]
    assert api and all(r["reason"] for r in api) and first not in {r["id"] for r in api}
    exported = site.get("/library/export.bib")
    assert exported.headers["content-type"].startswith("application/x-bibtex")
    assert len(bibtexparser.parse_string(exported.text).entries) == 10
    assert len(bibtexparser.parse_string(site.get("/library/export.bib?tag=thesis").text).entries) == 7
    data = site.get("/account/export.json").json()
    assert len(data["library"]) == 10 and data["feedback"][0]["value"] == "down"
    token = _csrf(site, "/account")
    gone = site.post("/account/delete", data={"csrf_token": token, "confirm": "yes"}, headers=SAME)
    assert "Your account is erased" in gone.text and "10 saved papers" in gone.text
    assert site.get("/library", follow_redirects=False).status_code == 303  # the session went with it
    with closing(open_store(site.settings.db)) as s:
        assert s.person(email="ada@example.org") is None


def test_another_persons_data_is_never_reachable(site: TestClient, arxiv_slice) -> None:
    _, records = arxiv_slice
    sign_in(site, "ada@example.org")
    site.post("/me/save", data={"paper_id": records[0]["id"]}, headers=SAME)
    ada_feed = re.search(r'href="(/feeds/for-you/[^"]+\.atom)"', site.get("/account").text).group(1)
    assert site.get(ada_feed).status_code == 200
    site.cookies.clear()
    sign_in(site, "bob@example.org")
    assert records[0]["title"][:30] not in site.get("/library").text
    assert site.get("/api/v1/me/library").json()["results"] == []
    guessed = ada_feed[:-10] + ("A" if ada_feed[-10] != "A" else "B") + ada_feed[-9:]
    assert site.get(guessed).status_code == 404  # a guessed feed token
    site.cookies.clear()
    assert site.get("/api/v1/me/library").status_code == 401
    assert site.get("/library/export.bib").status_code == 401
    sign_in(site, "ada@example.org")
    site.post("/account/feed", data={"csrf_token": _csrf(site, "/account")}, headers=SAME)
    assert site.get(ada_feed).status_code == 404  # revoked


def test_sign_in_links_work_once_expire_and_cannot_be_forged(site: TestClient, monkeypatch) -> None:
    older = mailed_link(site, "ada@example.org")
    newer = mailed_link(site, "ada@example.org")
    assert site.get(older).status_code == 400  # replaced by the newer one
    token = _csrf(site, newer)
    assert site.post(newer, data={"csrf_token": token}, headers=SAME, follow_redirects=False).status_code == 303
    site.cookies.delete("pt_session")
    again = site.post(newer, data={"csrf_token": token}, headers=SAME, follow_redirects=False)
    assert again.status_code == 400 and "used already" in again.text
    claims = URLSafeTimedSerializer("test-key", salt="papertide-signin").loads(newer.rsplit("/", 1)[1])
    forged = URLSafeTimedSerializer("another-key", salt="papertide-signin").dumps(claims)
    assert site.get("/signin/" + forged).status_code == 400
    stale = mailed_link(site, "ada@example.org")
    monkeypatch.setattr(URLSafeTimedSerializer, "get_timestamp", lambda self: 0, raising=False)
    import itsdangerous.timed

    real = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() + 31 * 60)
    assert "expired" in site.get(stale).text


def test_sign_in_mail_is_rate_limited(db: str, people_store, smtp_server) -> None:
    def attempts(limit: int, emails: list[str], headers: dict[str, str] | None = None) -> list[int]:
        settings = web_settings(db, smtp_port=smtp_server.port, base_url=SITE, rate_limit_signin=limit)
        with TestClient(create_app(settings)) as client:
            token = _csrf(client, "/signin")
            return [client.post("/signin", data={"email": e, "csrf_token": token},
                                headers={**SAME, **(headers or {})}).status_code for e in emails]

    # Per client, whatever address it asks for, and a forged forwarding header changes nothing.
    assert attempts(2, ["a@example.org", "b@example.org", "c@example.org"]) == [200, 200, 429]
    assert attempts(2, ["d@example.org", "e@example.org", "f@example.org"], {"X-Forwarded-For": "10.9.8.7"}) == \
        [200, 200, 429]
    # Per address (half the client allowance): one inbox is not flooded.
    assert attempts(4, ["ada@example.org"] * 3) == [200, 200, 429]
    assert len(smtp_server.recorder.to("ada@example.org")) == 2


def test_rating_links_work_without_signing_in_and_forged_ones_are_refused(site: TestClient, arxiv_slice) -> None:
    _, records = arxiv_slice
    sign_in(site, "ada@example.org")
    site.cookies.clear()
    with closing(open_store(site.settings.db)) as s:
        ada = s.person(email="ada@example.org")
        url = links.rating_link(site.settings, s, ada.id, ada.email, records[1]["id"], "down")
        bob = s.ensure_person("bob@example.org", "2026-12-01T00:00:00Z")
    path = url.removeprefix(SITE)
    assert "data-autosubmit-form" in site.get(path).text  # a button, pressed by the page's script
    assert site.post(path).status_code == 200
    with closing(open_store(site.settings.db)) as s:
        assert s.feedback(ada.id) == {records[1]["id"]: -1} and s.feedback(bob.id) == {}
    forged = links.rating_token("not-the-key", ada.id, ada.email, records[2]["id"], "up")
    assert site.post("/rate/" + forged).status_code == 400
    as_bob = links.rating_token("test-key", bob.id, "ada@example.org", records[2]["id"], "up")
    assert site.post("/rate/" + as_bob).status_code == 400  # id and address must belong together


def test_cross_site_and_tokenless_posts_are_refused(site: TestClient, arxiv_slice) -> None:
    _, records = arxiv_slice
    sign_in(site, "ada@example.org")
    evil = site.post("/me/save", data={"paper_id": records[0]["id"]}, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    blind = site.post("/me/save", data={"paper_id": records[0]["id"]})  # no Origin, Referer or Sec-Fetch-Site
    assert blind.status_code == 403
    no_csrf = site.post("/account/delete", data={"confirm": "yes", "csrf_token": "x"}, headers=SAME)
    assert no_csrf.status_code == 403 and site.get("/api/v1/me/library").status_code == 200
    assert site.post("/signin", data={"email": "x@example.org"}, headers=SAME).status_code == 403


def test_the_digest_starts_with_for_you_whose_rating_links_work(site: TestClient, arxiv_slice) -> None:
    from papertide.app import library as lib
    from papertide.app.recommend import update
    from papertide.digest import subscriptions
    from papertide.digest.outbox import preview

    _, records = arxiv_slice
    with closing(open_store(site.settings.db)) as s:
        request = subscriptions.request_subscription(s, site.settings, "ada@example.org", {"authors": ["Nobody Here"]})
        s.confirm_subscriber(request.subscriber.id, request.subscriber.nonce, "2026-12-01T00:00:00Z")
        ada = s.ensure_person("ada@example.org", "2026-12-01T00:00:00Z")
        lib.import_file(s, ada.id, _bib(records[:8]).encode())
        update(s, days=3650)
        top = s.recommendations(ada.id, 1)[0][0]
        rendered, _ = preview(s, site.settings, "ada@example.org")
    assert rendered.text.split("==")[1].strip() == "For you"  # the first section
    assert "Why: close to" in rendered.text and ">Not for me<" in rendered.html
    down = re.search(r"Not for me: (\S+)", rendered.text).group(1).removeprefix(SITE)
    assert site.post(down).status_code == 200
    with closing(open_store(site.settings.db)) as s:
        assert s.feedback(ada.id) == {top: -1}  # the first paper of For you is the best recommendation
        assert top not in [pid for pid, _, _ in s.recommendations(ada.id, 200)]


def test_a_library_never_scored_is_scored_in_the_background_while_the_page_says_so(site: TestClient,
                                                                                   arxiv_slice) -> None:
    from papertide.app import library as lib

    _, records = arxiv_slice
    sign_in(site, "ada@example.org")
    with closing(open_store(site.settings.db)) as s:  # imported elsewhere (the command line): never scored
        lib.import_file(s, s.person(email="ada@example.org").id, _bib(records[:5]).encode())
    first = site.get("/for-you")  # answers at once; the scoring runs after the answer
    assert "Reading your 5 papers" in first.text and 'http-equiv="refresh"' in first.text
    second = site.get("/for-you")
    assert "Reading your" not in second.text and "close to “" in second.text


def test_a_real_sized_library_file_is_not_refused_as_too_large(site: TestClient, arxiv_slice) -> None:
    _, records = arxiv_slice
    sign_in(site, "ada@example.org")
    text = _bib(records[:400]).encode()
    assert len(text) > site.settings.web_max_body_bytes  # larger than any other form may send
    page = site.post("/library/import", data={"csrf_token": _csrf(site, "/library")},
                     files={"file": ("My Library.bib", text, "application/x-bibtex")}, headers=SAME)
    assert page.status_code == 200 and "400 matched" in page.text
    too_big = site.post("/me/save", data={"paper_id": "x" * 70_000}, headers=SAME)
    assert too_big.status_code == 413  # elsewhere the usual limit holds
