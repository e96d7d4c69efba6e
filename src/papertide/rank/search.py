"""Search entry point: a query string and filters in, ranked paper ids out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from papertide.index.query import ParsedQuery, parse_query
from papertide.rank.keyword import KeywordParams, build_match, select_terms
from papertide.store import Filters, Store


@dataclass
class SearchResult:
    query: str
    mode: str
    hits: list[tuple[str, float]] = field(default_factory=list)  # (id, score), best first
    took_ms: float = 0.0
    terms: list[str] = field(default_factory=list)  # the words actually searched, for highlighting


def merged_filters(parsed: ParsedQuery, filters: Filters | None) -> Filters:
    """Filters from options and from the query text; the query's own win on dates."""
    filters = filters or Filters()
    return Filters(
        categories=[*filters.categories, *parsed.categories],
        since=parsed.since or filters.since,
        until=parsed.until or filters.until,
    )


def keyword_hits(store: Store, parsed: ParsedQuery, filters: Filters, limit: int,
                 params: KeywordParams = KeywordParams()) -> tuple[list[tuple[str, float]], list[str]]:
    """BM25 hits for a parsed query: AND first for short queries, then OR to fill."""
    stats = store.term_stats(list(dict.fromkeys(parsed.words)))
    terms = select_terms(parsed.words, stats, params.max_terms)
    if not parsed.has_text:
        return store.recent(filters, limit), terms
    hits: list[tuple[str, float]] = []
    if 1 < len(terms) <= params.and_max_terms:
        expr = build_match(parsed, terms, conjunctive=True)
        hits = store.keyword_search(expr, filters, limit, params.weights) if expr else []
    if len(hits) < limit:
        expr = build_match(parsed, terms, conjunctive=False)
        seen = {pid for pid, _ in hits}
        # OR results rank below every AND result: shift their scores under the lowest.
        floor = min((s for _, s in hits), default=None)
        extra = [(pid, s) for pid, s in store.keyword_search(expr, filters, limit, params.weights)
                 if pid not in seen] if expr else []
        if floor is not None and extra:
            shift = floor - max(s for _, s in extra) - 1e-6
            extra = [(pid, s + min(shift, 0.0)) for pid, s in extra]
        hits += extra[: limit - len(hits)]
    return hits, terms


def search(store: Store, query: str, *, filters: Filters | None = None, limit: int = 20,
           mode: str = "keyword", params: KeywordParams = KeywordParams()) -> SearchResult:
    """Run a query. Any string is valid: the worst a query can do is match nothing."""
    started = time.perf_counter()
    parsed = parse_query(query)
    hits, terms = keyword_hits(store, parsed, merged_filters(parsed, filters), limit, params)
    took = (time.perf_counter() - started) * 1000
    return SearchResult(query=query, mode=mode, hits=hits, took_ms=took,
                        terms=terms + [w for p in parsed.phrases for w in p])
