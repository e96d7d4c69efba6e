"""Search entry point: a query string and filters in, ranked paper ids out.

Free text is ranked by the store's in-memory BM25F index (index/bm25.py) when it
has one; FTS5 decides the yes/no parts (phrases, ``author:``, exclusions) and
ranks on its own when there is no such index or nothing to score (``author:``
alone). Each pair of neighbouring query words found as a phrase adds that phrase's
idf (the index's phrase postings, or FTS5 for a short query's stopword pair); long
queries count only pairs without a stopword, at a lower weight. See docs/search.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from papertide.index import bm25
from papertide.index.query import ParsedQuery, parse_query
from papertide.rank.keyword import (
    KeywordParams,
    adjacent_pairs,
    build_match,
    excluded_match,
    keep_rarest,
    phrase_match,
    required_match,
    scoring_words,
    select_terms,
)
from papertide.store import Filters, Store

if TYPE_CHECKING:
    from papertide.index.keyword_index import KeywordIndex

Hits = list[tuple[str, float]]
DEFAULT_PARAMS = KeywordParams()


@dataclass
class SearchResult:
    query: str
    mode: str
    hits: Hits = field(default_factory=list)  # (id, score), best first
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
                 params: KeywordParams = DEFAULT_PARAMS) -> tuple[Hits, list[str]]:
    """(id, score) best first, and the words searched. Scores are BM25F (higher is better);
    for short queries, papers with every term come first and the others' scores are
    shifted below theirs."""
    if not parsed.has_text:
        return store.recent(filters, limit), []
    index = _accelerator(store, params) if params.accelerate else None
    if index is not None:
        found = indexed_hits(store, index, parsed, filters, limit, params)
        if found is not None:
            return found
    return fts_hits(store, parsed, filters, limit, params)


def _accelerator(store: Store, params: KeywordParams) -> KeywordIndex | None:
    """The store's in-memory index, unless ``keyword_search`` is answered by another object
    than the index's owner: a wrapper that narrows keyword_search (the digest's window
    view) must keep its meaning, so FTS5 answers for it."""
    get = getattr(store, "keyword_index", None)
    owner = getattr(get, "__self__", None)
    if get is None or owner is not getattr(store.keyword_search, "__self__", owner):
        return None
    return get(params.bm25)


def indexed_hits(store: Store, index: KeywordIndex, parsed: ParsedQuery, filters: Filters, limit: int,
                 params: KeywordParams) -> tuple[Hits, list[str]] | None:
    """Rank with the in-memory index; None when the query has no word the index knows."""
    words = scoring_words(parsed, params.long_query_words)
    terms = [(w, t, index.matrix.df(t)) for w, t in index.term_ids(words)]
    if not terms:
        return None
    terms = keep_rarest(terms, params.max_scored_terms)
    scores, matched = bm25.score(index.matrix, [t for _, t, _ in terms])
    short = len(parsed.words) <= params.long_query_words
    if short and params.phrase_weight > 0:
        scores += params.phrase_weight * phrase_scores(store, index, parsed.words)
    elif not short and params.long_phrase_weight > 0:
        scores += params.long_phrase_weight * phrase_scores(store, index, parsed.words, indexed_only=True)
    first = matched >= len(terms) if 1 < len(terms) <= params.and_max_terms else None
    rows = bm25.top_rows(scores, limit, allowed=_allowed_rows(store, index, parsed, filters), first=first)
    values = scores[rows]
    if first is not None:
        values = _below_all_and_hits(values, first[rows])
    return [(index.ids[r], float(v)) for r, v in zip(rows.tolist(), values)], [w for w, _, _ in terms]


def phrase_scores(store: Store, index: KeywordIndex, words: list[str], indexed_only: bool = False) -> np.ndarray:
    """Per index row, the sum over neighbouring word pairs found as a phrase in the title or
    abstract of that phrase's idf (the idf BM25 would give it as one term); 0 where none is.

    The index's phrase postings list the rows holding each pair (index/phrases.py); a pair
    they leave out (a stopword in it) is asked of FTS5. A topic such as "generation quality"
    is mostly about papers that use those words together: docs/search.md has the measurements."""
    found = np.zeros(index.n_docs)
    for pair in adjacent_pairs(words):
        rows = index.phrase_rows(*pair)
        if rows is None and indexed_only:
            continue
        if rows is None:
            rows = index.rows_of(store.matching_pks(phrase_match(pair)))
        if len(rows):
            found[rows] += bm25.idf(np.array([len(rows)]), index.n_docs)[0]
    return found


def _allowed_rows(store: Store, index: KeywordIndex, parsed: ParsedQuery, filters: Filters) -> np.ndarray | None:
    """Which rows may be returned (bool per row), or None for all."""
    allowed = index.filter_mask(filters.categories, filters.since, filters.until)
    required = required_match(parsed)
    if required:
        hits = np.zeros(index.n_docs, dtype=bool)
        hits[index.rows_of(store.matching_pks(required))] = True
        allowed = hits if allowed is None else allowed & hits
    excluded = excluded_match(parsed)
    if excluded:
        allowed = np.ones(index.n_docs, dtype=bool) if allowed is None else allowed
        allowed[index.rows_of(store.matching_pks(excluded))] = False
    return allowed


def _below_all_and_hits(values: np.ndarray, is_and: np.ndarray) -> np.ndarray:
    """Shift the scores of hits lacking a term under the lowest hit having them all."""
    if not is_and.any() or is_and.all():
        return values
    shift = min(values[is_and].min() - values[~is_and].max() - 1e-6, 0.0)
    return np.where(is_and, values, values + shift)


def fts_hits(store: Store, parsed: ParsedQuery, filters: Filters, limit: int,
             params: KeywordParams = DEFAULT_PARAMS) -> tuple[Hits, list[str]]:
    """FTS5 on its own: AND first for short queries, then OR to fill."""
    stats = store.term_stats(list(dict.fromkeys(parsed.words)))
    terms = select_terms(parsed.words, stats, params.max_terms)
    hits: Hits = []
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
           mode: str = "keyword", params: KeywordParams = DEFAULT_PARAMS) -> SearchResult:
    """Run a query. Any string is valid: the worst a query can do is match nothing."""
    started = time.perf_counter()
    parsed = parse_query(query)
    hits, terms = keyword_hits(store, parsed, merged_filters(parsed, filters), limit, params)
    took = (time.perf_counter() - started) * 1000
    return SearchResult(query=query, mode=mode, hits=hits, took_ms=took,
                        terms=list(dict.fromkeys(terms + [w for p in parsed.phrases for w in p])))
