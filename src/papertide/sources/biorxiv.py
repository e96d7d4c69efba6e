"""bioRxiv and medRxiv over their public API (api.biorxiv.org, one host for both servers).

``/details/{server}/{from}/{to}/{cursor}/json[?category=]`` lists every version posted in
an interval, a page at a time. The cursor is a record offset: it advances by the number of
records a page actually returned (30 today; older documentation says 100), and the
interval is done when it reaches ``messages[0].total`` or a page comes back empty. An
interval without posts answers ``"status": "no posts found"``. Each version is its own
record under the preprint's DOI, so versions merge into one paper (the newest wins, the
others are kept as links). ``/pubs/{server}/{from}/{to}/{cursor}`` then lists preprints that
a journal published in the interval: their records carry the journal's DOI as an alias,
which is how the journal version (from PubMed, say) finds its preprint.

Checkpoints, one per server and subject and one for ``/pubs``::

    {"harvested_until": "2026-07-01", "from": "2026-06-28", "until": "2026-07-01", "cursor": 60}

A run interrupted inside an interval resumes at its cursor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import orjson

from papertide.errors import InvalidRecord, SourceGarbage, SourceUnavailable
from papertide.model import PaperRecord, make_record, normal_doi, utc_now
from papertide.settings import Settings
from papertide.sources.base import TRANSIENT_STATUSES, HttpClient, Page, SyncRequest
from papertide.sources.markup import subject_category, text_of_markup

log = logging.getLogger(__name__)

SERVERS = ("biorxiv", "medrxiv")
_NO_POSTS = "no posts found"


def parse_day(value: Any) -> str:
    """'2026-6-30' or '2026-06-30' -> '2026-06-30'; InvalidRecord when it is no date."""
    try:
        year, month, day = (int(part) for part in str(value).strip()[:10].split("-"))
        return date(year, month, day).isoformat()
    except (TypeError, ValueError):
        raise InvalidRecord(f"invalid date {str(value)[:30]!r}") from None


def authors_of(text: Any) -> list[str]:
    """'Smith, J. A.; van der Berg, K.' -> ['J. A. Smith', 'K. van der Berg']."""
    if not isinstance(text, str):
        return []
    names = []
    for part in text.split(";"):
        surname, comma, given = part.strip().partition(",")
        names.append(f"{given.strip()} {surname.strip()}".strip() if comma else surname.strip())
    return [n for n in names if n]


def content_url(server: str, doi: str, version: int | None) -> str:
    return f"https://www.{server}.org/content/{doi}" + (f"v{version}" if version else "")


def make_details_record(item: Any, server: str, *, max_abstract_chars: int = 20000) -> PaperRecord:
    """One ``/details`` item (one version of a preprint) as a record; InvalidRecord with a reason."""
    if not isinstance(item, dict):
        raise InvalidRecord("record is not an object")
    doi = normal_doi(item.get("doi"))
    if not doi:
        raise InvalidRecord("missing or invalid DOI")
    try:
        version = int(item.get("version") or 1)
    except (TypeError, ValueError):
        version = None
    server = str(item.get("server") or server).lower() if str(item.get("server") or "").lower() in SERVERS \
        else server
    day = parse_day(item.get("date"))
    url = content_url(server, doi, version)
    links: dict[str, Any] = {"abs": url, "pdf": url + ".full.pdf", "versions": [url]}
    aliases = []
    if published := normal_doi(item.get("published")):
        aliases.append("doi:" + published)
        links["journal"] = f"https://doi.org/{published}"
    category = subject_category(server, item.get("category"))
    return make_record(
        id="doi:" + doi, source=server, version=version, title=text_of_markup(item.get("title")),
        abstract=text_of_markup(item.get("abstract")), authors=authors_of(item.get("authors")),
        categories=[category] if category else [], published=day, updated=day, doi=doi, links=links,
        aliases=aliases, max_abstract_chars=max_abstract_chars)


def make_pubs_record(item: Any, server: str, *, max_abstract_chars: int = 20000) -> PaperRecord:
    """One ``/pubs`` item (a preprint and the journal that published it) as a record."""
    if not isinstance(item, dict):
        raise InvalidRecord("record is not an object")
    doi = normal_doi(item.get("preprint_doi") or item.get("biorxiv_doi"))
    published = normal_doi(item.get("published_doi"))
    if not doi or not published:
        raise InvalidRecord("missing or invalid DOI")
    journal = text_of_markup(item.get("published_journal")).strip()
    when = parse_day(item.get("published_date")) if item.get("published_date") else ""
    category = subject_category(server, item.get("preprint_category"))
    return make_record(
        id="doi:" + doi, source=server, title=text_of_markup(item.get("preprint_title")),
        abstract=text_of_markup(item.get("preprint_abstract")),
        authors=authors_of(item.get("preprint_authors")), categories=[category] if category else [],
        published=parse_day(item.get("preprint_date")) if item.get("preprint_date") else None, doi=doi,
        journal_ref=", ".join(p for p in (journal, when) if p),
        links={"abs": content_url(server, doi, None), "journal": f"https://doi.org/{published}"},
        aliases=["doi:" + published], max_abstract_chars=max_abstract_chars)


@dataclass
class Answer:
    """One page of the API, parsed."""

    records: list[PaperRecord]
    skipped: list[tuple[str, str]]
    returned: int          # items in the collection, the cursor's step
    total: int | None      # messages[0].total, when given
    empty: bool            # "no posts found"


def parse_answer(body: bytes, *, label: str, server: str, pubs: bool = False,
                 wanted: set[str] | None = None, max_abstract_chars: int = 20000) -> Answer:
    """A ``/details`` or ``/pubs`` page; SourceGarbage when it is not the API's JSON."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SourceGarbage(f"{label} sent malformed JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("collection", []), list):
        raise SourceGarbage(f"{label} answered with something other than its JSON")
    messages = data.get("messages") or [{}]
    message = messages[0] if isinstance(messages, list) and isinstance(messages[0], dict) else {}
    status = str(message.get("status", "ok")).strip().lower()
    if status == _NO_POSTS:
        return Answer([], [], 0, 0, True)
    if status != "ok":
        raise SourceUnavailable(f"{label} says: {status[:160]}")
    make = make_pubs_record if pubs else make_details_record
    records, skipped = [], []
    collection = data.get("collection") or []
    for number, item in enumerate(collection, 1):
        where = str(item.get("preprint_doi") or item.get("biorxiv_doi") or item.get("doi") or f"item {number}") \
            if isinstance(item, dict) else f"item {number}"
        try:
            record = make(item, server, max_abstract_chars=max_abstract_chars)
        except InvalidRecord as exc:
            skipped.append((where, str(exc)))
            continue
        if wanted and not set(record.categories) & wanted:
            skipped.append((where, "not in the chosen subjects"))
        else:
            records.append(record)
    total = message.get("total")
    return Answer(records, skipped, len(collection), int(total) if str(total).isdigit() else None, False)


@dataclass
class _Window:
    key: str
    start: str
    until: str
    cursor: int
    previous: str | None

    def checkpoint(self, cursor: int | None) -> dict[str, Any]:
        return {"harvested_until": self.previous if cursor is not None else self.until,
                "from": self.start, "until": self.until, "cursor": cursor}


class BiorxivSource:
    """Preprints from bioRxiv or medRxiv (``server``), and which of them journals published."""

    def __init__(self, settings: Settings, server: str, *, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], str] = utc_now) -> None:
        if server not in SERVERS:
            raise ValueError(server)
        self.settings = settings
        self.name = server
        self.sleep = sleep
        self.now = now

    def _subjects(self, request: SyncRequest) -> list[str]:
        chosen = request.sets or getattr(self.settings, f"{self.name}_categories").split(",")
        return [s.strip() for s in chosen if s.strip()]

    def pages(self, request: SyncRequest, checkpoints: dict[str, dict]) -> Iterator[Page]:
        subjects = self._subjects(request)
        client = HttpClient(self.settings, sleep=self.sleep, retry_statuses=TRANSIENT_STATUSES)
        try:
            for subject in subjects or [""]:
                key = f"{self.name}:{subject or '*'}"
                window = self._window(key, request, checkpoints.get(key) or {})
                yield from self._harvest(client, window, f"details/{self.name}", subject)
            key = f"{self.name}:pubs"
            wanted = {subject_category(self.name, s) for s in subjects}
            yield from self._harvest(client, self._window(key, request, checkpoints.get(key) or {}),
                                     f"pubs/{self.name}", "", wanted)
        finally:
            client.close()

    def _window(self, key: str, request: SyncRequest, saved: dict[str, Any]) -> _Window:
        today = self.now()[:10]
        previous = saved.get("harvested_until")
        if saved.get("cursor") is not None and request.resumes(saved):
            log.info("%s: resuming %s..%s at record %d", key, saved["from"], saved["until"], saved["cursor"])
            return _Window(key, saved["from"], saved["until"], int(saved["cursor"]), previous)
        start = request.first_day(saved, today, self.settings.sync_days)
        return _Window(key, start, request.until or today, 0, previous)

    def _harvest(self, client: HttpClient, window: _Window, path: str, subject: str,
                 wanted: set[str] | None = None) -> Iterator[Page]:
        base = self.settings.biorxiv_url.rstrip("/")
        label = f"{self.name} API at {httpx.URL(base).host or base}"
        cursor = window.cursor
        while True:
            url = f"{base}/{path}/{window.start}/{window.until}/{cursor}" + ("" if "pubs" in path else "/json")
            answer = self._fetch(client, url, {"category": subject} if subject else None, label,
                                 pubs="pubs" in path, wanted=wanted)
            cursor += answer.returned
            more = answer.returned > 0 and (answer.total is None or cursor < answer.total)
            yield Page(records=answer.records, skipped=answer.skipped, fetched=answer.returned,
                       checkpoint_key=window.key, checkpoint=window.checkpoint(cursor if more else None))
            if not more:
                return

    def _fetch(self, client: HttpClient, url: str, params: dict[str, str] | None, label: str, *,
               pubs: bool, wanted: set[str] | None) -> Answer:
        for attempt in (1, 2):  # a body cut short in transit is asked for once more
            response = client.get(url, params)
            try:
                return parse_answer(response.content, label=label, server=self.name, pubs=pubs, wanted=wanted,
                                    max_abstract_chars=self.settings.max_abstract_chars)
            except SourceGarbage:
                if attempt == 2:
                    raise
                log.warning("%s: unreadable answer; asking once more", label)
        raise AssertionError("unreachable")

