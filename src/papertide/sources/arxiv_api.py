"""arXiv's Atom query API: look papers up by id, or search, page by page.

Ids are looked up in ``id_list`` batches; a query is paged with
``start``/``max_results`` until ``opensearch:totalResults`` or the request's
``max_results``. arXiv asks for a pause between requests: ``polite_delay``
seconds, taken through the injected ``sleep``. The API reports problems as an
entry whose id is ``https://arxiv.org/api/errors#...``: inside a normal answer
such an entry is skipped with its message as reason; with HTTP 400 the request
failed and ``SourceUnavailable`` says why in one line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import httpx

from papertide.errors import BadInput, InvalidRecord, SourceGarbage, SourceUnavailable
from papertide.model import PaperRecord, make_record, split_arxiv_id
from papertide.settings import Settings
from papertide.sources.base import HttpClient, Page, SyncRequest
from papertide.sources.links import code_links
from papertide.sources.oai_parse import local, parse_xml

NAME = "arxiv-api"
_ERROR_ID = "/api/errors"
# Child elements kept as text, by local name (Atom and arxiv: namespaces alike).
_TEXT_FIELDS = ("id", "title", "summary", "published", "updated", "comment", "journal_ref", "doi")


@dataclass
class Feed:
    """One API answer, parsed."""

    records: list[PaperRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # messages of error entries
    total: int | None = None
    entries: int = 0


def parse_feed(body: bytes, *, label: str, max_abstract_chars: int = 20000) -> Feed:
    """Entries of an Atom feed as records; SourceGarbage if it is not an Atom feed."""
    root = parse_xml(body, label=label, root_name="feed")
    feed = Feed()
    for child in root:
        name = local(child.tag)
        if name == "totalResults" and (child.text or "").strip().isdigit():
            feed.total = int(child.text.strip())
        elif name == "entry":
            feed.entries += 1
            _read_entry(child, feed, max_abstract_chars)
    return feed


def _read_entry(entry: Any, feed: Feed, max_abstract_chars: int) -> None:
    fields: dict[str, str] = {}
    authors: list[str] = []
    categories: list[str] = []
    primary = ""
    for child in entry:
        name = local(child.tag)
        if name == "author":
            authors += [(n.text or "").strip() for n in child if local(n.tag) == "name"]
        elif name == "category" and child.get("term"):
            categories.append(child.get("term"))
        elif name == "primary_category":
            primary = child.get("term") or ""
        elif name in _TEXT_FIELDS and name not in fields:
            fields[name] = child.text or ""
    raw_id = fields.get("id", "").strip()
    if _ERROR_ID in raw_id:
        message = " ".join(fields.get("summary", "").split()) or raw_id.rpartition("#")[2]
        feed.errors.append(message)
        feed.skipped.append((raw_id.rpartition("#")[2] or raw_id, message))
        return
    try:
        feed.records.append(_make(fields, authors, categories, primary, max_abstract_chars))
    except InvalidRecord as exc:
        feed.skipped.append((raw_id or f"entry {feed.entries}", str(exc)))


def _make(fields: dict[str, str], authors: list[str], categories: list[str], primary: str,
          max_abstract_chars: int) -> PaperRecord:
    paper_id, version = split_arxiv_id(fields.get("id", ""))
    comment, abstract = fields.get("comment"), fields.get("summary")
    if primary and primary not in categories:
        categories = [primary, *categories]
    links = {"abs": f"https://arxiv.org/abs/{paper_id}", "pdf": f"https://arxiv.org/pdf/{paper_id}",
             "code": code_links(comment, abstract)}
    return make_record(
        id=paper_id, version=version, source=NAME, title=fields.get("title"), abstract=abstract,
        authors=[a for a in authors if a], categories=categories, primary_category=primary or None,
        published=fields.get("published"), updated=fields.get("updated"), doi=fields.get("doi"),
        journal_ref=fields.get("journal_ref"), comment=comment, links=links,
        max_abstract_chars=max_abstract_chars,
    )


class _PoliteClient:
    """An HttpClient that waits ``delay`` seconds between two requests."""

    def __init__(self, settings: Settings, sleep: Callable[[float], None]) -> None:
        self.http = HttpClient(settings, sleep=sleep)
        self.sleep = sleep
        self.delay = settings.polite_delay
        self.used = False

    def get(self, url: str, params: dict[str, Any]) -> httpx.Response:
        if self.used and self.delay > 0:
            self.sleep(self.delay)
        self.used = True
        return self.http.get(url, params, ok_statuses=(200, 400))


class ArxivAPISource:
    """Papers by id or by search query from arXiv's Atom API."""

    name = NAME

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.sleep = sleep

    def pages(self, request: SyncRequest, checkpoints: dict[str, dict]) -> Iterator[Page]:
        if not request.ids and not request.query:
            raise BadInput("the arxiv-api source needs ids or a query")
        client = _PoliteClient(self.settings, self.sleep)
        try:
            if request.ids:
                yield from self._id_pages(client, request.ids)
            if request.query:
                yield from self._query_pages(client, request.query, request.max_results)
        finally:
            client.http.close()

    def _id_pages(self, client: _PoliteClient, ids: list[str]) -> Iterator[Page]:
        valid: list[str] = []
        invalid: list[tuple[str, str]] = []
        for raw in dict.fromkeys(i.strip() for i in ids if i.strip()):
            try:
                split_arxiv_id(raw)
                valid.append(raw)
            except InvalidRecord as exc:  # arXiv would reject the whole batch for one bad id
                invalid.append((raw, str(exc)))
        if invalid and not valid:
            yield Page(skipped=invalid, fetched=len(invalid))
        size = max(1, self.settings.arxiv_api_page_size)
        for start in range(0, len(valid), size):
            batch = valid[start:start + size]
            feed = self._fetch(client, search_query="", id_list=",".join(batch), start=0, max_results=size)
            found = {r.id for r in feed.records}
            missing = [(raw, "not found on arXiv") for raw in batch if split_arxiv_id(raw)[0] not in found]
            skipped = (invalid if start == 0 else []) + feed.skipped + missing
            yield Page(records=feed.records, skipped=skipped,
                       fetched=feed.entries + (len(invalid) if start == 0 else 0))

    def _query_pages(self, client: _PoliteClient, query: str, limit: int | None) -> Iterator[Page]:
        size, start = max(1, self.settings.arxiv_api_page_size), 0
        while True:
            asked = size if limit is None else min(size, limit - start)
            if asked <= 0:
                return
            feed = self._fetch(client, search_query=query, id_list="", start=start, max_results=asked)
            yield Page(records=feed.records, skipped=feed.skipped, fetched=feed.entries)
            start += asked
            if feed.entries == 0 or (feed.total is not None and start >= feed.total):
                return

    def _fetch(self, client: _PoliteClient, **params: Any) -> Feed:
        url = self.settings.arxiv_api_url
        label = f"arXiv API at {httpx.URL(url).host or url}"
        query = {"search_query": params["search_query"], "id_list": params["id_list"],
                 "sortBy": "relevance", "sortOrder": "descending",
                 "start": params["start"], "max_results": params["max_results"]}
        response = client.get(url, query)
        if response.status_code != 200:
            try:
                errors = parse_feed(response.content, label=label).errors
            except SourceGarbage:
                errors = []
            reason = errors[0] if errors else f"HTTP {response.status_code}"
            raise SourceUnavailable(f"{label} refused the request: {reason[:160]}")
        return parse_feed(response.content, label=label, max_abstract_chars=self.settings.max_abstract_chars)
