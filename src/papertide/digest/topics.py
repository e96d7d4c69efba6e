"""Ask the store for each topic's candidates, ranked, within a digest's window.

Searches, authors and categories look only at papers the store learned of since the
subscriber's last digest: the window of paper positions (lo, hi]. Trending looks at
the trending list of the moment, since a paper may start trending days after it was
stored; papers already sent to the subscriber are left out later, when composing.
Identical topics of different subscribers with the same window are asked once.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from papertide.digest.compose import Topic, TopicHits
from papertide.errors import PapertideError
from papertide.query import parse_query
from papertide.settings import Settings
from papertide.store.base import Filters

log = logging.getLogger("papertide.digest")

TOPIC_LIMIT = 100     # candidates asked per topic; a digest holds at most 100 papers
SEMANTIC_POOL = 3000  # newest window papers a semantic saved search compares with its query


@dataclass
class TopicFinder:
    """Finds topics' candidates for one digest run, remembering every answer."""

    store: Any
    settings: Settings
    at: datetime                      # the run's moment (trending is computed as of it)
    cache: dict[tuple[Any, ...], TopicHits] = field(default_factory=dict)
    published: dict[str, str] = field(default_factory=dict)

    def hits(self, topic: Topic, lo: int, hi: int, frequency: str) -> TopicHits:
        if topic.kind == "trending":
            window = topic.window or ("week" if frequency == "weekly" else "day")
            key: tuple[Any, ...] = (topic.key, window)
        else:
            key = (topic.key, lo, hi)
        if topic.kind == "foryou":
            return self._for_you(topic)
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = (self._trending(topic, key[1]) if topic.kind == "trending"
                                       else self._search(topic, lo, hi))
        return found

    def _for_you(self, topic: Topic) -> TopicHits:
        """The person's stored recommendations (``update`` keeps them current after each sync)."""
        from papertide.app.recommend import for_person

        person = self.store.person(email=topic.query)
        if person is None:
            return TopicHits(topic)
        recs = for_person(self.store, person, limit=TOPIC_LIMIT, score_now=False)
        return TopicHits(topic, [(r.paper.id, r.score) for r in recs], why={r.paper.id: r.reason for r in recs})

    @property
    def oldest(self) -> str | None:
        """Papers published before this day are not news (``digest_max_age_days``)."""
        days = int(self.settings.digest_max_age_days)
        return (self.at.date() - timedelta(days=days)).isoformat() if days > 0 else None

    def _search(self, topic: Topic, lo: int, hi: int) -> TopicHits:
        from papertide.app import search as search_module

        filters = Filters(categories=list(topic.categories), since=self.oldest)
        if topic.kind == "category":
            filters.categories = [topic.query]
            query = ""
        elif topic.kind == "author":
            query = f'author:"{topic.query}"'
        else:
            query = topic.query
        try:
            hits = search_module.search(self.store, query, filters=filters, limit=TOPIC_LIMIT,
                                        window=(lo, hi)).hits
        except PapertideError as exc:
            log.warning("digest topic %s: %s", topic.label, exc)
            return TopicHits(topic, [], note=f"this search failed: {exc}")
        if topic.mode == "keyword":
            return TopicHits(topic, hits)
        if self.embedder is None:
            return TopicHits(topic, hits, note=f"{topic.mode} search is not available here "
                                               "(no paper vectors: `papertide index`); keyword results")
        return TopicHits(topic, by_meaning(self.store, self.embedder, topic.mode, query, hits, (lo, hi), filters))

    @functools.cached_property
    def embedder(self) -> Any:
        """The configured embedder if the store has its vectors, else None; loaded once per run."""
        try:
            from papertide.index.embed import key_prefix
            from papertide.app.semantic import embedder_spec, semantic_or_none
        except ImportError:  # pragma: no cover - semantic search ships with papertide
            return None
        prefix = key_prefix(embedder_spec(self.settings))
        if not any(key.startswith(prefix) for key in self.store.embedder_keys()):
            return None  # nothing indexed for this embedder: do not load the model
        try:
            embedder = semantic_or_none(self.settings)
        except PapertideError as exc:
            log.warning("digest: semantic search unavailable: %s", exc)
            return None
        if embedder is None or not self.store.has_vectors(embedder.key):
            return None
        return embedder

    def _trending(self, topic: Topic, window: str) -> TopicHits:
        hits, note = _trending_ids(self.store, self.settings, list(topic.categories), window, self.at,
                                   TOPIC_LIMIT * 2)
        oldest = self.oldest
        if oldest is not None:
            missing = [pid for pid, _ in hits if pid not in self.published]
            if missing:
                self.published.update(self.store.published_dates(missing))
            hits = [(pid, s) for pid, s in hits if self.published.get(pid, "") >= oldest]
        return TopicHits(topic, hits[:TOPIC_LIMIT], note=note)


def by_meaning(store: Any, embedder: Any, mode: str, query: str, keyword_hits: list[tuple[str, float]],
               window: tuple[int, int], filters: Filters) -> list[tuple[str, float]]:
    """Semantic or hybrid ranking of the window's papers: cosine to the query's text over the
    keyword hits and (unless the query requires phrases or authors) the window's newest papers,
    fused with the keyword scores for hybrid as ``papertide search --mode hybrid`` does."""
    from papertide.rank import fusion
    from papertide.app.hybrid import HybridParams, cosines
    from papertide.app.search import merged_filters

    parsed = parse_query(query)
    if not parsed.text.strip():
        return keyword_hits
    ids = [pid for pid, _ in keyword_hits]
    if not (parsed.phrases or parsed.authors or parsed.excluded):
        ids += [pid for pid, _ in store.recent(merged_filters(parsed, filters), SEMANTIC_POOL, window)]
    semantic = cosines(store, embedder, parsed.text, list(dict.fromkeys(ids)))
    if mode == "semantic":
        return sorted(semantic.items(), key=lambda item: (-item[1], item[0]))[:TOPIC_LIMIT]
    return fusion.convex(dict(keyword_hits), semantic, keyword_weight=HybridParams().keyword_weight,
                         limit=TOPIC_LIMIT)


def _trending_ids(store: Any, settings: Settings, categories: list[str], window: str, at: datetime,
                  limit: int) -> tuple[list[tuple[str, float]], str]:
    """Papers that gained signals in the window up to ``at``, best first (never padded with
    papers that did not), and a note when the window had none and an earlier one is shown."""
    from papertide.app.trending import trending

    result = trending(store, settings, window=window, at=at, categories=categories, limit=limit, fill=False)
    return list(zip(result.ranking.ids, result.ranking.scores, strict=True)), result.notice
