"""Trending lists from a store: the signals of a window, scored by rank/trending.py's formula,
then papers without a positive score by recency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable

from papertide.rank.trending import (Explanation, Ranking, TrendingParams, age_days, age_decay, parse_at,
                                     score_papers, window_days)
from papertide.settings import Settings
from papertide.store import Filters, Store


@dataclass
class TrendingResult:
    """A trending list: ``ranking`` first, then papers by recency (score 0)."""

    window: str
    at: datetime
    ranking: Ranking
    filled: int = 0     # how many of the papers came from the recency fill
    asked_at: datetime | None = None  # set when ``at`` moved back: the asked window had no signals

    @property
    def scored(self) -> int:
        """How many papers gained signals in the window (the rest are the recency fill)."""
        return len(self.ranking.ids) - self.filled

    @property
    def notice(self) -> str:
        """What the list is, when it is not simply what was asked for."""
        if self.asked_at is not None:
            return (f"No signals changed in the {self.window} up to {self.asked_at:%b %-d, %Y}; "
                    f"trending as of {self.at:%b %-d, %Y}, the newest signals.")
        if not self.scored:
            return f"No signals changed in this {self.window}, nor before it: the newest papers."
        return ""


def _bound(moment: datetime) -> str:
    """Stored timestamps at or before ``moment`` compare below this string.

    Stored observations are ISO 8601 in UTC with varying suffixes (``+00:00``, ``Z``,
    fractions); any of them within ``moment``'s second sorts below the next second.
    """
    return (moment + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")


# A search for --topic: (query, filters, limit) -> ids of the matching papers.
TopicSearch = Callable[[str, Filters, int], Iterable[str]]


def trending(store: Store, settings: Settings, *, window: str = "day", at: datetime | None = None,
             topic: str | None = None, categories: list[str] | None = None, limit: int = 20,
             params: TrendingParams | None = None, topic_search: TopicSearch | None = None,
             fill: bool = True) -> TrendingResult:
    """The trending papers as of ``at`` from the observations known then; with ``fill``, the
    newest papers after them (never among them). A window without any signal change falls back
    to the newest window that has some, and ``asked_at`` says it did.

    ``topic`` keeps the top ``trending_topic_limit`` hits of a search, by default a
    keyword search; ``topic_search`` runs another mode (the command passes its own).
    """
    at = at or parse_at(None)
    params = params or TrendingParams.from_settings(settings)
    days = window_days(window, settings)
    categories = list(categories or [])
    allowed = None
    if topic is not None:
        run = topic_search or (lambda q, f, n: _keyword_ids(store, q, f, n))
        allowed = set(run(topic, Filters(categories=list(categories)), int(settings.trending_topic_limit)))

    def ranked(moment: datetime) -> TrendingResult:
        deltas = store.signal_deltas(_bound(moment - timedelta(days=days)), _bound(moment), categories, allowed)
        return TrendingResult(window, moment, score_papers(deltas, at=moment.date(), params=params, limit=limit))

    result = ranked(at)
    if not result.ranking.ids:
        # Nothing moved in the window (the sources have not been synced for a while): show the
        # newest window that has signals, and say so, rather than the newest papers as if trending.
        latest = store.latest_signal_at(_bound(at - timedelta(days=days)), categories)
        earlier = ranked(parse_at(latest)) if latest else None
        if earlier is not None and earlier.scored:
            earlier.asked_at, result = at, earlier
    if fill and len(result.ranking.ids) < limit:
        # Fewer than `limit` papers scored, so every scored paper is already listed.
        _fill_by_recency(store, result, limit, categories, allowed, params, at)
    return result


def _keyword_ids(store: Store, query: str, filters: Filters, limit: int) -> list[str]:
    from papertide.app.search import search

    return [pid for pid, _ in search(store, query, filters=filters, limit=limit).hits]


def _fill_by_recency(store: Store, result: TrendingResult, limit: int, categories: list[str],
                     allowed: set[str] | None, params: TrendingParams, at: datetime) -> None:
    """Add papers without a positive score, newest published first (up to ``at``)."""
    listed = set(result.ranking.ids)
    until = at.date().isoformat()
    if allowed is None:
        # At most len(listed) of the newest `limit` are listed already: enough remain.
        rows = store.recent(Filters(categories=categories, until=until), limit)
        ids = [pid for pid, _ in rows]
        published = store.published_dates(ids)
    else:
        published = {pid: day for pid, day in store.published_dates(allowed).items() if day and day <= until}
        ids = sorted(published, reverse=True)
        ids.sort(key=published.__getitem__, reverse=True)
    at_day = result.at.date()
    for pid in ids:
        if len(result.ranking.ids) >= limit:
            break
        if pid in listed:
            continue
        day = published.get(pid, "")
        age = age_days(day, at_day)
        result.ranking.ids.append(pid)
        result.ranking.scores.append(0.0)
        result.ranking.explanations.append(Explanation(day, age, age_decay(age, params), ()))
        result.filled += 1
