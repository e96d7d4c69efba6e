"""The interface every source plugin implements, and the HTTP client they share.

A source turns a ``SyncRequest`` into ``Page`` objects. Each page carries the
records it parsed, the ones it had to skip (with reasons) and a checkpoint:
the store writes a page's records and its checkpoint in one transaction, so an
interrupted sync resumes after the last page it stored.
"""

from __future__ import annotations

import email.utils
import logging
import socket
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Protocol

import httpx

from papertide import __version__
from papertide.errors import SourceUnavailable
from papertide.model import Page
from papertide.settings import Settings

log = logging.getLogger(__name__)

# Answers that mean busy or failing for a moment: waited for, then asked again (bioRxiv, PubMed).
TRANSIENT_STATUSES = (429, 500, 502, 503, 504)
USER_AGENT = f"papertide/{__version__} (self-hosted paper radar)"


@dataclass
class SyncRequest:
    """What the user asked a source for; each source uses the fields it knows."""

    since: str | None = None          # YYYY-MM-DD
    until: str | None = None          # YYYY-MM-DD
    sets: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    query: str | None = None
    dates: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    max_results: int | None = None

    def resumes(self, saved: dict[str, Any]) -> bool:
        """Whether ``saved``, a window's checkpoint, is the window asked for (no other --from or
        --until), so that its interrupted harvest goes on where it stopped."""
        return bool(saved.get("from")) and self.since in (None, saved["from"]) and \
            self.until in (None, saved.get("until"))

    def first_day(self, saved: dict[str, Any], today: str, days: int) -> str:
        """Where a new window starts: --from, else where the last harvest ended, else ``days``
        before ``today`` (a fresh store)."""
        return self.since or saved.get("harvested_until") or (date.fromisoformat(today) - timedelta(days=days)).isoformat()


class Source(Protocol):
    """A source plugin: a name and a generator of pages."""

    name: str

    def pages(self, request: SyncRequest, checkpoints: dict[str, dict]) -> Iterator[Page]:
        """Yield pages; ``checkpoints`` holds what earlier runs stored, by key."""
        ...


class HttpClient:
    """httpx with the retry policy every source shares.

    Retries 503/429 (or the given ``retry_statuses``) honouring ``Retry-After`` (seconds or HTTP date), and
    dropped connections/timeouts with exponential backoff. Anything else that
    is not 2xx becomes ``SourceUnavailable`` with one clear line.
    """

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None, per_second: float = 0.0,
                 clock: Callable[[], float] = time.monotonic,
                 retry_statuses: tuple[int, ...] = (429, 503)) -> None:
        self.settings = settings
        self.retry_statuses = retry_statuses
        self.sleep = sleep
        # A host's rate limit (PubMed: 3 requests/s): every request, retries included, starts
        # at least this long after the one before.
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.clock = clock
        self._next_at = 0.0
        self.client = httpx.Client(
            timeout=settings.http_timeout, follow_redirects=True, transport=transport,
            headers={"User-Agent": USER_AGENT},
        )

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, params: dict[str, Any] | None = None, *,
            ok_statuses: tuple[int, ...] = (200,)) -> httpx.Response:
        attempts = self.settings.http_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            if self.interval:
                if (wait := self._next_at - self.clock()) > 0:
                    self.sleep(wait)
                self._next_at = self.clock() + self.interval
            try:
                response = self.client.get(url, params=params)
            except httpx.TransportError as exc:
                if _name_not_resolved(exc):  # offline, or a mistyped host: retrying will not help
                    raise SourceUnavailable(f"cannot reach {_host(url)}: its name does not resolve "
                                            "(offline?)") from None
                if last:
                    raise SourceUnavailable(f"cannot reach {_host(url)}: {_reason(exc)}") from None
                delay = 2.0 ** attempt
                log.warning("%s: %s; retrying in %.0fs", _host(url), _reason(exc), delay)
                self.sleep(delay)
                continue
            if response.status_code in ok_statuses:
                return response
            if response.status_code in self.retry_statuses and not last:
                delay = retry_after(response.headers.get("Retry-After"), default=2.0 ** attempt)
                if delay > self.settings.max_retry_after:
                    raise SourceUnavailable(
                        f"{_host(url)} asks to wait {delay:.0f}s (more than max_retry_after); try again later")
                log.info("%s answered %d; waiting %.0fs as asked", _host(url), response.status_code, delay)
                self.sleep(delay)
                continue
            raise SourceUnavailable(f"{_host(url)} answered HTTP {response.status_code}")
        raise AssertionError("unreachable")


def retry_after(header: str | None, *, default: float) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not header:
        return default
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _name_not_resolved(exc: BaseException) -> bool:
    """Whether a transport error comes from a DNS lookup that failed."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _host(url: str) -> str:
    return httpx.URL(url).host or url


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
