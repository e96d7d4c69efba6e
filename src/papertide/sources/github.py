"""GitHub stars of the repositories papers link to, as trending signals.

Stars are signals about papers already stored, not a source of new papers, so
this is not a sync plugin: ``papertide stars`` calls ``refresh_stars``, which
takes the newest papers with GitHub code links, asks ``GET /repos/{owner}/{repo}``
for each linked repository and records the paper's total stars as a
``github_stars`` observation from source ``github`` (a row only when it changed).

Being a good API citizen:

* Conditional requests: the ETag of every answer is saved in the store and sent
  back as ``If-None-Match``; an unchanged repository answers 304 (which does not
  count against an authenticated client's rate limit) and keeps its saved stars.
* A token (setting ``github_token``) is sent as ``Authorization: Bearer``; it is
  never logged nor put in a message.
* Rate limits: the client tracks ``X-RateLimit-Remaining``/``X-RateLimit-Reset``
  and never sends a request it knows will be refused. When the limit is reached
  (or a 403/429 says so, with ``Retry-After`` or the reset time) it waits if the
  wait is at most ``github_max_wait`` seconds, otherwise it stops with
  ``GitHubRateLimited`` saying when to come back. What was fetched is kept.
* A deleted or private repository (404/410) counts zero stars from then on; a
  blocked one (403 that is not a rate limit, 451) likewise.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import httpx

from papertide.errors import SourceGarbage, SourceUnavailable
from papertide.model import RepoState
from papertide.settings import Settings
from papertide.sources.base import USER_AGENT, retry_after

log = logging.getLogger(__name__)

SOURCE = "github"
KIND = "github_stars"
_SECONDARY_WAIT = 60.0  # GitHub: without Retry-After, wait at least a minute after a secondary limit


class GitHubRateLimited(SourceUnavailable):
    """GitHub's rate limit is reached and it resets later than papertide may wait."""


@dataclass
class RepoAnswer:
    """What one request told about a repository."""

    repo: str
    status: str          # ok | not_modified | missing | blocked
    stars: int | None = None
    etag: str = ""


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).replace(microsecond=0).isoformat()


class GitHubClient:
    """``GET /repos/{owner}/{repo}`` with ETags, a token and rate-limit manners."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.base = settings.github_url.rstrip("/")
        headers = {"User-Agent": USER_AGENT, "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": "2022-11-28"}
        if settings.github_token:
            headers["Authorization"] = f"Bearer {settings.github_token}"
        self.client = httpx.Client(timeout=settings.http_timeout, follow_redirects=True,
                                   transport=transport, headers=headers)
        self.remaining: int | None = None  # requests left in the current rate-limit window
        self.reset_at: float = 0.0         # epoch seconds when the window resets
        self.requests = 0

    def close(self) -> None:
        self.client.close()

    def repo(self, name: str, etag: str = "") -> RepoAnswer:
        """Stars of ``owner/repo``; raises GitHubRateLimited or SourceUnavailable."""
        attempts = self.settings.http_retries + 1
        for attempt in range(attempts):
            self._wait_for_budget()
            response = self._send(name, etag, last=attempt == attempts - 1)
            if response is None:
                self.sleep(2.0 ** attempt)
                continue
            answer = self._answer(name, response)
            if answer is not None:
                return answer
            wait = self._rate_limit_wait(response)
            if wait is not None:
                self._wait(wait, f"GitHub rate limit ({response.status_code})")
                self.remaining = None
                continue
            if response.status_code >= 500 and attempt < attempts - 1:
                log.info("GitHub answered %d for %s; retrying", response.status_code, name)
                self.sleep(2.0 ** attempt)
                continue
            raise SourceUnavailable(f"GitHub answered HTTP {response.status_code} for {name}")
        raise SourceUnavailable(f"GitHub kept failing for {name}; try again later")

    def _send(self, name: str, etag: str, *, last: bool) -> httpx.Response | None:
        headers = {"If-None-Match": etag} if etag else {}
        try:
            response = self.client.get(f"{self.base}/repos/{name}", headers=headers)
        except httpx.TransportError as exc:
            if last:
                raise SourceUnavailable(f"cannot reach GitHub: {type(exc).__name__}") from None
            log.warning("GitHub: %s; retrying", type(exc).__name__)
            return None
        self.requests += 1
        self._note_budget(response.headers)
        return response

    def _answer(self, name: str, response: httpx.Response) -> RepoAnswer | None:
        """The answer for a final status; None when the request must be retried or fails."""
        status = response.status_code
        etag = response.headers.get("ETag", "")
        if status == 200:
            try:
                stars = response.json().get("stargazers_count")
            except (ValueError, AttributeError):
                raise SourceGarbage(f"GitHub's answer for {name} is not a JSON object") from None
            if isinstance(stars, bool) or not isinstance(stars, int):
                raise SourceGarbage(f"GitHub's answer for {name} has no stargazers_count")
            return RepoAnswer(name, "ok", stars, etag)
        if status == 304:
            return RepoAnswer(name, "not_modified", None, etag)
        if status in (404, 410):
            return RepoAnswer(name, "missing")
        if status == 401:
            raise SourceUnavailable("GitHub rejected the token (HTTP 401); check github_token "
                                    "(PAPERTIDE_GITHUB_TOKEN) or unset it")
        if status == 451 or (status == 403 and self._rate_limit_wait(response) is None):
            return RepoAnswer(name, "blocked")
        return None

    def _note_budget(self, headers: httpx.Headers) -> None:
        remaining, reset = headers.get("X-RateLimit-Remaining"), headers.get("X-RateLimit-Reset")
        if remaining is not None and remaining.strip().isdigit():
            self.remaining = int(remaining)
        if reset is not None and reset.strip().isdigit():
            self.reset_at = float(reset)

    def _rate_limit_wait(self, response: httpx.Response) -> float | None:
        """Seconds to wait if a 403/429 is a rate limit, else None."""
        if response.status_code not in (403, 429):
            return None
        if "Retry-After" in response.headers:
            return retry_after(response.headers["Retry-After"], default=_SECONDARY_WAIT)
        if response.headers.get("X-RateLimit-Remaining") == "0":
            return max(1.0, self.reset_at - self.clock() + 1.0)
        if response.status_code == 429 or "rate limit" in response.text.lower():
            return _SECONDARY_WAIT
        return None

    def _wait_for_budget(self) -> None:
        """Never send a request the rate limit is known to refuse."""
        if self.remaining == 0 and self.reset_at > self.clock():
            self._wait(self.reset_at - self.clock() + 1.0, "GitHub rate limit used up")
            self.remaining = None

    def _wait(self, seconds: float, why: str) -> None:
        if seconds > self.settings.github_max_wait:
            when = iso_time(self.clock() + seconds)
            hint = "" if self.settings.github_token else "; a token (PAPERTIDE_GITHUB_TOKEN) allows 5,000 an hour"
            raise GitHubRateLimited(f"{why}: it resets at {when}, in {seconds:.0f}s (more than "
                                    f"github_max_wait); run `papertide stars` again then{hint}")
        log.info("%s; waiting %.0fs", why, seconds)
        self.sleep(seconds)


def merge_answer(old: RepoState | None, answer: RepoAnswer, now: str) -> RepoState:
    """The repository's new saved state after an answer."""
    if answer.status == "not_modified":
        if old is None:  # a 304 for an ETag we never sent cannot happen; keep what is known
            return RepoState(answer.repo, answer.etag, None, "ok", now)
        return RepoState(answer.repo, answer.etag or old.etag, old.stars, "ok", now)
    if answer.status == "ok":
        return RepoState(answer.repo, answer.etag, answer.stars, "ok", now)
    return RepoState(answer.repo, "", None, answer.status, now)
