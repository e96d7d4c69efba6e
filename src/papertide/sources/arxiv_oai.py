"""arXiv's OAI-PMH endpoint: ``ListRecords`` with ``metadataPrefix=arXiv``, one set at a time.

Incremental and resumable. Each set has a checkpoint ``arxiv-oai:<set>``::

    {"harvested_until": "2026-07-01", "token": null, "from": "2026-06-28", "until": null}

While a harvest is under way, every stored page's checkpoint holds the
resumptionToken of the *next* page, so an interrupted run resumes with it. If
arXiv no longer accepts that token (``badResumptionToken``) the window is
harvested again from its ``from`` date; records merge, nothing is duplicated.
When a set is done, ``harvested_until`` becomes the window's end and is the
``from`` of the next run.

Category filter: when the user names no sets, the default sets
(``arxiv_sets``) are harvested and only records with at least one category in
``arxiv_categories`` are kept (a bare archive such as ``q-bio`` keeps
``q-bio.*``); the others are counted as skipped. Explicit sets keep everything.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import httpx

from papertide.errors import SourceGarbage, SourceUnavailable
from papertide.model import utc_now
from papertide.settings import Settings
from papertide.sources.base import HttpClient, Page, SyncRequest
from papertide.sources.oai_parse import OAIResponse, parse_response

log = logging.getLogger(__name__)

NAME = "arxiv-oai"
SKIP_CATEGORY = "not in arxiv_categories"


def in_categories(categories: list[str], wanted: list[str]) -> bool:
    """True if any category is wanted, exactly or as part of a wanted archive (q-bio -> q-bio.NC)."""
    return any(c == w or c.startswith(w + ".") for c in categories for w in wanted)


@dataclass
class _Window:
    """One set's harvest: the date range, and where to resume inside it."""

    set_spec: str
    start: str              # OAI 'from'
    until: str | None       # OAI 'until'; None = up to now
    token: str | None       # resumptionToken to continue with, from an interrupted run
    previous: str | None    # harvested_until before this harvest

    @property
    def key(self) -> str:
        return f"{NAME}:{self.set_spec}"

    def first_params(self) -> dict[str, str]:
        params = {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": self.set_spec, "from": self.start}
        if self.until:
            params["until"] = self.until
        return params

    def checkpoint(self, token: str | None, today: str) -> dict[str, Any]:
        done = self.until or today
        return {"harvested_until": self.previous if token else done, "token": token,
                "from": self.start, "until": self.until}


class ArxivOAISource:
    """Harvest arXiv metadata by set and date window over OAI-PMH."""

    name = NAME

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], str] = utc_now) -> None:
        self.settings = settings
        self.sleep = sleep
        self.now = now

    def pages(self, request: SyncRequest, checkpoints: dict[str, dict]) -> Iterator[Page]:
        sets = request.sets or self.settings.arxiv_sets.split()
        wanted = [] if request.sets else self.settings.arxiv_categories.split()
        client = HttpClient(self.settings, sleep=self.sleep)
        try:
            for set_spec in sets:
                window = self._window(set_spec, request, checkpoints.get(f"{NAME}:{set_spec}") or {})
                yield from self._harvest(client, window, wanted)
        finally:
            client.close()

    def _today(self) -> str:
        return self.now()[:10]

    def _window(self, set_spec: str, request: SyncRequest, saved: dict[str, Any]) -> _Window:
        previous = saved.get("harvested_until")
        token = saved.get("token")
        if token and request.resumes(saved):
            log.info("%s: resuming an interrupted harvest from %s", set_spec, saved["from"])
            return _Window(set_spec, saved["from"], saved.get("until"), token, previous)
        start = request.first_day(saved, self._today(), self.settings.sync_days)
        return _Window(set_spec, start, request.until, None, previous)

    def _harvest(self, client: HttpClient, window: _Window, wanted: list[str]) -> Iterator[Page]:
        params = {"verb": "ListRecords", "resumptionToken": window.token} if window.token \
            else window.first_params()
        restarted = False
        while True:
            response = self._fetch(client, params)
            if response.error:
                code, message = response.error
                if code == "noRecordsMatch":
                    yield Page(checkpoint_key=window.key, checkpoint=window.checkpoint(None, self._today()))
                    return
                if code == "badResumptionToken" and "resumptionToken" in params and not restarted:
                    log.warning("%s: resumption token refused; harvesting again from %s",
                                window.set_spec, window.start)
                    restarted, params = True, window.first_params()
                    continue
                raise SourceUnavailable(f"arXiv OAI-PMH refused set {window.set_spec}: {code}: {message[:160]}")
            yield self._page(response, window, wanted)
            if not response.token:
                return
            params = {"verb": "ListRecords", "resumptionToken": response.token}

    def _fetch(self, client: HttpClient, params: dict[str, str]) -> OAIResponse:
        url = self.settings.arxiv_oai_url
        label = f"arXiv OAI-PMH at {httpx.URL(url).host or url}"
        # OAI-PMH reports errors in the body; some servers send them with a 4xx status.
        response = client.get(url, params, ok_statuses=(200, 400, 404, 422))
        try:
            parsed = parse_response(response.content, label=label,
                                    max_abstract_chars=self.settings.max_abstract_chars)
        except SourceGarbage:
            if response.status_code != 200:
                raise SourceUnavailable(f"{label} answered HTTP {response.status_code}") from None
            raise
        if response.status_code != 200 and parsed.error is None:
            raise SourceUnavailable(f"{label} answered HTTP {response.status_code}")
        return parsed

    def _page(self, response: OAIResponse, window: _Window, wanted: list[str]) -> Page:
        page = Page(skipped=[(f"{window.set_spec}:{w}", r) for w, r in response.skipped],
                    checkpoint_key=window.key, checkpoint=window.checkpoint(response.token, self._today()),
                    fetched=response.fetched)
        for record in response.records:
            if wanted and not in_categories(record.categories, wanted):
                page.skipped.append((f"{window.set_spec}:{record.id}", SKIP_CATEGORY))
            else:
                page.records.append(record)
        return page
