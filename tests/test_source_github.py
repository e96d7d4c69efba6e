"""GitHub stars over real HTTP against a local server replaying hand-written GitHub answers.

The answers follow GitHub's REST API documentation: ``ETag`` and 304 for conditional
requests, ``X-RateLimit-Remaining``/``X-RateLimit-Reset`` on every answer, 403 with
``X-RateLimit-Remaining: 0`` (primary limit) or ``Retry-After`` (secondary limit),
404 for a deleted repository.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from replay import ReplayServer, Reply

from papertide.cli import cli
from papertide.errors import SourceUnavailable
from papertide.model import make_record
from papertide.settings import Settings
from papertide.sources.base import Page
from papertide.app.stars import refresh_stars
from papertide.sources.github import GitHubClient
from papertide.store import open_store

JSON = "application/json; charset=utf-8"
NOW = 1_787_000_000.0  # a fixed epoch for the fake clock
TOKEN = "ghp_secret_test_token_123"


class Clock:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = NOW
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Recording(httpx.HTTPTransport):
    """Real HTTP, remembering the headers of every request sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Headers] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request.headers)
        return super().handle_request(request)


def repo_reply(stars: int, etag: str, remaining: int = 59) -> Reply:
    return Reply(body=json.dumps({"full_name": "x/y", "stargazers_count": stars}), content_type=JSON,
                 headers={"ETag": etag, "X-RateLimit-Limit": "60", "X-RateLimit-Remaining": str(remaining),
                          "X-RateLimit-Reset": str(int(NOW) + 3600)})


def not_modified(etag: str) -> Reply:
    return Reply(status=304, headers={"ETag": etag, "X-RateLimit-Remaining": "58",
                                      "X-RateLimit-Reset": str(int(NOW) + 3600)})


def gone() -> Reply:
    return Reply(status=404, content_type=JSON,
                 body='{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}')


def rate_limited(reset_in: int) -> Reply:
    return Reply(status=403, content_type=JSON, headers={
        "X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + reset_in)},
        body='{"message": "API rate limit exceeded for 127.0.0.1.", "documentation_url": "https://docs.github.com"}')


def settings_for(replay: ReplayServer, **extra) -> Settings:
    return Settings({"github_url": replay.url, "http_retries": 2, "http_timeout": 5.0, **extra}, environ={})


@pytest.fixture
def store(new_db, tmp_path: Path):
    s = open_store(new_db("gh"))
    papers = [("2608.00002", "2026-08-05", ["https://github.com/lab/newest", "https://github.com/lab/deleted"]),
              ("2608.00001", "2026-08-03", ["https://github.com/lab/older"]),
              ("2608.00003", "2026-08-09", ["https://gitlab.com/a/b"]),  # not on GitHub
              ("2608.00004", "2026-08-09", [])]
    s.ingest(Page(records=[make_record(id=pid, source="file:arxiv", title=f"Paper {pid}", published=day,
                                       links={"code": urls}) for pid, day, urls in papers]))
    yield s
    s.close()


def stars_rows(store) -> list[tuple[str, str, float]]:
    return [tuple(r) for r in store.db.execute(
        "SELECT p.id, s.observed_at, s.value FROM signals s JOIN papers p ON p.pk = s.pk "
        "WHERE s.kind = 'github_stars' AND s.source = 'github' ORDER BY s.observed_at, p.id")]


def test_stars_with_etags_over_three_runs(replay: ReplayServer, store) -> None:
    replay.add("/repos/lab/newest", None, repo_reply(120, '"n1"'), not_modified('"n1"'), repo_reply(95, '"n2"'))
    replay.add("/repos/lab/deleted", None, gone())
    replay.add("/repos/lab/older", None, repo_reply(7, '"o1"'), not_modified('"o1"'))
    clock, transport = Clock(), Recording()

    def once():
        return refresh_stars(store, settings_for(replay), limit=10, sleep=clock.sleep, clock=clock,
                             transport=transport)

    first = once()
    assert (first.papers, first.repos, first.changed, first.missing, first.signals) == (2, 3, 2, 1, 2)
    assert [r.path for r in replay.requests] == ["/repos/lab/newest", "/repos/lab/deleted", "/repos/lab/older"]
    assert "if-none-match" not in transport.sent[0]
    clock.now += 86400
    second = once()  # 304s: saved stars kept, nothing new stored
    assert (second.not_modified, second.signals) == (2, 0)
    assert transport.sent[3]["if-none-match"] == '"n1"'
    assert "if-none-match" not in transport.sent[4]  # a deleted repository has no ETag to send
    assert transport.sent[5]["if-none-match"] == '"o1"'
    clock.now += 86400
    third = once()  # stars dropped 120 -> 95: a new observation (trending counts the drop as 0)
    assert (third.changed, third.signals) == (1, 1)
    rows = stars_rows(store)
    assert [(pid, value) for pid, _, value in rows] == [("2608.00001", 7.0), ("2608.00002", 120.0),
                                                        ("2608.00002", 95.0)]
    assert store.github_repos(["lab/newest"])["lab/newest"].etag == '"n2"'
    assert store.github_repos(["lab/deleted"])["lab/deleted"].status == "missing"
    assert clock.sleeps == []


def test_token_is_sent_as_bearer_and_never_logged(replay: ReplayServer, store,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    replay.add("/repos/lab/newest", None, repo_reply(1, '"a"'))
    replay.add("/repos/lab/deleted", None, gone())
    replay.add("/repos/lab/older", None, Reply(status=401, body='{"message": "Bad credentials"}',
                                               content_type=JSON))
    transport = Recording()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceUnavailable) as info:
        refresh_stars(store, settings_for(replay, github_token=TOKEN), limit=10, sleep=Clock().sleep,
                      clock=Clock(), transport=transport)
    assert all(h["authorization"] == f"Bearer {TOKEN}" for h in transport.sent)
    assert "HTTP 401" in str(info.value) and TOKEN not in str(info.value)
    assert TOKEN not in caplog.text
    unauthenticated = Recording()
    client = GitHubClient(settings_for(replay), transport=unauthenticated)
    assert client.repo("lab/newest").stars == 1
    client.close()
    assert "authorization" not in unauthenticated.sent[0]


def test_rate_limit_far_away_stops_without_hammering(replay: ReplayServer, store) -> None:
    replay.add("/repos/lab/newest", None, repo_reply(120, '"n1"'))
    replay.add("/repos/lab/deleted", None, gone())
    replay.add("/repos/lab/older", None, rate_limited(reset_in=1800))
    clock = Clock()
    report = refresh_stars(store, settings_for(replay), limit=10, sleep=clock.sleep, clock=clock)
    assert "rate limit" in report.stopped and "PAPERTIDE_GITHUB_TOKEN" in report.stopped
    assert "in 1801s" in report.stopped
    assert len(replay.requests) == 3 and clock.sleeps == []  # asked once, then stopped
    assert [(pid, value) for pid, _, value in stars_rows(store)] == [("2608.00002", 120.0)]


def test_used_up_budget_is_respected_before_asking(replay: ReplayServer, store) -> None:
    # The first answer says no request is left for an hour: the next one is never sent.
    replay.add("/repos/lab/newest", None, repo_reply(120, '"n1"', remaining=0))
    replay.add("/repos/lab/deleted", None, gone())
    clock = Clock()
    report = refresh_stars(store, settings_for(replay), limit=10, sleep=clock.sleep, clock=clock)
    assert report.stopped and [r.path for r in replay.requests] == ["/repos/lab/newest"]
    assert report.papers == 0  # its other repository is unknown, so no partial total is stored


def test_short_waits_are_waited(replay: ReplayServer, store) -> None:
    replay.add("/repos/lab/newest", None, rate_limited(reset_in=30), repo_reply(120, '"n1"'))
    replay.add("/repos/lab/deleted", None,
               Reply(status=429, headers={"Retry-After": "5"}, body='{"message": "secondary rate limit"}'),
               gone())
    replay.add("/repos/lab/older", None, Reply(status=502, body="bad gateway"), repo_reply(7, '"o1"'))
    clock = Clock()
    report = refresh_stars(store, settings_for(replay), limit=10, sleep=clock.sleep, clock=clock)
    assert not report.stopped and (report.changed, report.missing) == (2, 1)
    assert clock.sleeps == [31.0, 5.0, 1.0]  # until the reset (+1 s), Retry-After, backoff after 502
    assert len(replay.requests) == 6


def test_forbidden_repository_is_blocked_not_a_rate_limit(replay: ReplayServer, store) -> None:
    replay.add("/repos/lab/newest", None, Reply(status=403, content_type=JSON,
                                                body='{"message": "Repository access blocked"}'))
    replay.add("/repos/lab/deleted", None, gone())
    replay.add("/repos/lab/older", None, repo_reply(3, '"o"'))
    report = refresh_stars(store, settings_for(replay), limit=10, sleep=Clock().sleep, clock=Clock())
    assert (report.blocked, report.missing, report.changed, report.stopped) == (1, 1, 1, "")
    assert {pid: value for pid, _, value in stars_rows(store)} == {"2608.00002": 0.0, "2608.00001": 3.0}


def test_stars_command_reports_and_exits_nonzero_at_the_limit(replay: ReplayServer, store, new_db) -> None:
    replay.add("/repos/lab/newest", None, repo_reply(12, '"n1"'))
    replay.add("/repos/lab/deleted", None, gone())
    replay.add("/repos/lab/older", None, rate_limited(reset_in=10_000_000))
    env = {"PAPERTIDE_GITHUB_URL": replay.url, "PAPERTIDE_HTTP_RETRIES": "0"}
    result = CliRunner().invoke(cli, ["--db", new_db("gh"), "stars", "--json"], env=env)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["papers"] == 1
    assert "rate limit" in result.stderr and "everything fetched before is stored" in result.stderr


def test_repositories_never_asked_about_go_first(replay: ReplayServer, store) -> None:
    from papertide.store.base import RepoState

    for repo in ("lab/newest", "lab/deleted"):
        store.save_github_repo(RepoState(repo, '"e"', 5, "ok", "2026-08-20T00:00:00+00:00"))
    replay.add("/repos/lab/older", None, repo_reply(7, '"o1"'))
    replay.add("/repos/lab/newest", None, not_modified('"e"'))
    replay.add("/repos/lab/deleted", None, not_modified('"e"'))
    report = refresh_stars(store, settings_for(replay), limit=10, sleep=Clock().sleep, clock=Clock())
    assert [r.path for r in replay.requests] == ["/repos/lab/older", "/repos/lab/newest", "/repos/lab/deleted"]
    assert {pid: value for pid, _, value in stars_rows(store)} == {"2608.00001": 7.0, "2608.00002": 10.0}
    assert report.not_modified == 2
