"""Hugging Face Daily Papers: ``/api/daily_papers?date=YYYY-MM-DD``, one day per request.

Items drifted over the years (fields appear and vanish; ``summary`` moved;
``githubRepo``/``githubStars`` arrived in 2025). ``parse_item`` reads what an
item has and ignores the rest.

``HFDailySource`` fetches one day per page. Its checkpoint ``hf-daily:days``
holds the last day done; a default sync fetches the days after it up to today,
and always the last ``hf_refetch_days`` days again, since upvotes keep moving.
Each fetch records the signal values as observed at that moment.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any, Callable, Iterator

from papertide.errors import BadInput, InvalidRecord, SourceGarbage
from papertide.model import PaperRecord, Signal, make_record, parse_day, split_arxiv_id, utc_now
from papertide.settings import Settings
from papertide.sources.base import HttpClient, Page, SyncRequest
from papertide.sources.links import find_code_links

NAME = "hf-daily"
CHECKPOINT_KEY = f"{NAME}:days"


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if isinstance(mapping, dict) and mapping.get(key) not in (None, ""):
            return mapping[key]
    return None


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRecord(f"{what} is {type(value).__name__}, not a number")
    return float(value)


def parse_item(item: Any, *, source: str, observed_at: str, max_abstract_chars: int = 20000) -> PaperRecord:
    """One daily-papers item -> a record with upvotes/comments/stars as signals."""
    if not isinstance(item, dict) or not isinstance(item.get("paper"), dict):
        raise InvalidRecord("item has no 'paper' object")
    paper = item["paper"]
    if not isinstance(paper.get("id"), str):
        raise InvalidRecord("paper has no id")
    paper_id, version = split_arxiv_id(paper["id"])
    authors = paper.get("authors") or []
    if not isinstance(authors, list):
        raise InvalidRecord("authors is not a list")
    names = [a.get("name") if isinstance(a, dict) else a for a in authors]
    abstract = _get(paper, "summary") or _get(item, "summary")
    github = _get(paper, "githubRepo")
    code = find_code_links(github, abstract)
    links: dict[str, Any] = {"abs": f"https://arxiv.org/abs/{paper_id}", "pdf": f"https://arxiv.org/pdf/{paper_id}",
                             "hf": f"https://huggingface.co/papers/{paper_id}", "code": code}
    project = _get(paper, "projectPage")
    if isinstance(project, str) and project.startswith(("http://", "https://")):
        links["project"] = project
    signals = []
    for kind, value in (("upvotes", _number(paper.get("upvotes"), "upvotes")),
                        ("comments", _number(item.get("numComments"), "numComments")),
                        ("github_stars", _number(paper.get("githubStars"), "githubStars") if code else None)):
        if value is not None:
            signals.append(Signal(kind, value, observed_at, NAME))
    featured = _get(item, "_listing_date") or _get(paper, "submittedOnDailyAt")
    if isinstance(featured, str):
        signals.append(Signal("hf_featured", 1.0, featured[:10] + "T00:00:00+00:00", NAME))
    keywords = paper.get("ai_keywords") if isinstance(paper.get("ai_keywords"), list) else None
    return make_record(
        id=paper_id, version=version, source=source, title=_get(paper, "title") or _get(item, "title"),
        abstract=abstract, authors=names, published=_get(paper, "publishedAt"),
        links=links, keywords=keywords, signals=signals, max_abstract_chars=max_abstract_chars,
    )


def _day_range(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _user_day(value: str, what: str) -> date:
    try:
        day = parse_day(value, field_name=what)
    except InvalidRecord as exc:
        raise BadInput(str(exc)) from None
    if not day:
        raise BadInput(f"{what} is empty")
    return date.fromisoformat(day)


class HFDailySource:
    """Hugging Face Daily Papers, one listing day per page, with upvotes as signals."""

    name = NAME

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], str] = utc_now) -> None:
        self.settings = settings
        self.sleep = sleep
        self.now = now

    def pages(self, request: SyncRequest, checkpoints: dict[str, dict]) -> Iterator[Page]:
        last_done = (checkpoints.get(CHECKPOINT_KEY) or {}).get("last_day")
        client = HttpClient(self.settings, sleep=self.sleep)
        try:
            for day in self.days(request, last_done):
                page = self._day_page(client, day)
                # Never move the mark back when the user asks for old days explicitly.
                last_done = max(day, last_done) if last_done else day
                page.checkpoint_key, page.checkpoint = CHECKPOINT_KEY, {"last_day": last_done}
                yield page
        finally:
            client.close()

    def days(self, request: SyncRequest, last_done: str | None) -> list[str]:
        """The listing days to fetch, oldest first."""
        if request.dates:
            return sorted({_user_day(d, "date").isoformat() for d in request.dates})
        today = date.fromisoformat(self.now()[:10])
        end = _user_day(request.until, "until") if request.until else today
        if request.since:
            return _day_range(_user_day(request.since, "since"), end)
        if not last_done:
            return _day_range(end - timedelta(days=self.settings.sync_days), end)
        refetch = end - timedelta(days=max(1, self.settings.hf_refetch_days) - 1)
        return _day_range(min(date.fromisoformat(last_done) + timedelta(days=1), refetch), end)

    def _day_page(self, client: HttpClient, day: str) -> Page:
        url = self.settings.hf_url.rstrip("/") + "/api/daily_papers"
        response = client.get(url, {"date": day})
        try:
            items = response.json()
        except ValueError:
            raise SourceGarbage(f"Hugging Face daily papers for {day}: the answer is not JSON") from None
        if not isinstance(items, list):
            raise SourceGarbage(
                f"Hugging Face daily papers for {day}: expected a JSON list, got {type(items).__name__}")
        observed_at = self.now()
        page = Page(fetched=len(items))
        for number, item in enumerate(items):
            if isinstance(item, dict):
                item = {**item, "_listing_date": day}  # the day it was featured is the day asked for
            try:
                page.records.append(parse_item(item, source=NAME, observed_at=observed_at,
                                               max_abstract_chars=self.settings.max_abstract_chars))
            except InvalidRecord as exc:
                page.skipped.append((f"{day}#{number}", str(exc)))
        return page
