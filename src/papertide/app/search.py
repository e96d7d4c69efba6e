"""Search entry point: a query string and filters in, ranked paper ids out.

The store's keyword index (tantivy, store/keyword.py) ranks and filters; this parses the
query, merges the filters typed into it with those given as options, and times the answer.
See docs/search.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from papertide.errors import UnknownCategory
from papertide.query import ParsedQuery, parse_query
from papertide.store import Filters, Store

Hits = list[tuple[str, float]]


@dataclass
class SearchResult:
    query: str
    mode: str
    hits: Hits = field(default_factory=list)  # (id, score), best first
    took_ms: float = 0.0
    terms: list[str] = field(default_factory=list)  # the words searched, for highlighting


def merged_filters(parsed: ParsedQuery, filters: Filters | None) -> Filters:
    """Filters from options and from the query text; the query's own win on dates."""
    filters = filters or Filters()
    return Filters(
        categories=[*filters.categories, *parsed.categories],
        sources=[*filters.sources, *parsed.sources],
        since=parsed.since or filters.since,
        until=parsed.until or filters.until,
    )


def count(store: Store, query: str, filters: Filters | None = None) -> int:
    """How many papers a keyword search matches in all."""
    parsed = parse_query(query)
    return store.keyword_count(parsed, merged_filters(parsed, filters))


def check_categories(categories: list[str], known: dict[str, int]) -> None:
    """UnknownCategory naming the first category (or archive, as 'q-bio') that no stored paper has."""
    names = {c.lower() for c in known} | {c.split(".", 1)[0].lower() for c in known}
    for category in categories:
        if category.lower() not in names:
            common = ", ".join(sorted(known, key=known.__getitem__, reverse=True)[:6])
            raise UnknownCategory(f"unknown category {category[:40]!r}; this store has {common or 'none yet'}, …")


def search(store: Store, query: str, *, filters: Filters | None = None, limit: int = 20,
           mode: str = "keyword", window: tuple[int, int] | None = None, newest: bool = False) -> SearchResult:
    """Run a query. Any string is valid: the worst a query can do is match nothing.
    ``window``: only papers whose position is in (lo, hi] (a digest's new papers); ``newest``:
    the matches newest first instead of best first."""
    started = time.perf_counter()
    parsed = parse_query(query)
    hits = store.keyword_search(parsed, merged_filters(parsed, filters), limit, window, newest=newest)
    took = (time.perf_counter() - started) * 1000
    return SearchResult(query=query, mode=mode, hits=hits, took_ms=took,
                        terms=list(dict.fromkeys([*parsed.words, *(w for p in parsed.phrases for w in p)])))
