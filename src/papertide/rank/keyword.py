"""Which words a keyword query ranks by, and FTS5 expressions for the rest (pure).

Ranking (rank/search.py) scores free words with the in-memory BM25F index;
FTS5 answers the yes/no parts: phrases, ``author:`` and ``-exclusions``. Every
token reaches FTS5 inside double quotes, so no user string can be read as FTS5
syntax. Short queries rank papers having all their terms first, then the rest.
Short queries also score each pair of neighbouring words found as a phrase in a
paper's title or abstract (see :func:`adjacent_pairs`). When FTS5 ranks on its
own (no in-memory index), long natural-language queries
keep only their most selective terms, so a pasted sentence costs a few short
posting lists instead of a 30-term OR over the whole index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from papertide.index.analyze import STOPWORDS
from papertide.index.bm25 import BM25Params
from papertide.index.query import ParsedQuery
from papertide.store.base import TermStat



@dataclass(frozen=True)
class KeywordParams:
    """Tunable knobs of keyword search (see docs/search.md for the measurements behind them)."""

    bm25: BM25Params = field(default_factory=BM25Params)  # the in-memory index's BM25F
    weights: tuple[float, float, float] = (1.5, 1.0, 0.5)  # FTS5 bm25(): title, abstract, authors
    max_terms: int = 10          # FTS5 alone: terms kept from a long query
    max_scored_terms: int = 64   # in-memory index: terms kept from a pasted text
    long_query_words: int = 6    # queries with more words than this lose their stopwords
    and_max_terms: int = 3       # queries of 2..this many terms rank papers with all of them first
    phrase_weight: float = 1.0   # short queries: weight of each neighbouring word pair's phrase BM25 (0: off)
    long_phrase_weight: float = 0.3  # longer queries: the same for pairs without a stopword (0: off)
    accelerate: bool = True      # use the in-memory index when the store has one


def scoring_words(query: ParsedQuery, long_query_words: int) -> list[str]:
    """The words a query ranks by: free words and phrase words. A long query (a pasted
    description) drops its stopwords; a short one keeps them ('all you need')."""
    words = [*query.words, *(w for p in query.phrases for w in p)]
    if len(words) > long_query_words:
        words = [w for w in words if w not in STOPWORDS] or words
    return words


def keep_rarest(terms: list[tuple[str, int, int]], max_terms: int) -> list[tuple[str, int, int]]:
    """At most ``max_terms`` of (word, term, document frequency): the rarest, in query order."""
    if len(terms) <= max_terms:
        return terms
    kept = {t for _, t, _ in sorted(terms, key=lambda x: (x[2], x[1]))[:max_terms]}
    return [x for x in terms if x[1] in kept]


def adjacent_pairs(words: list[str]) -> list[tuple[str, str]]:
    """Each pair of neighbouring words, once, in query order ("graph neural networks" ->
    ("graph", "neural"), ("neural", "networks"))."""
    return list(dict.fromkeys(zip(words, words[1:])))


def phrase_match(pair: tuple[str, str]) -> str:
    """FTS5 expression: the two words next to each other in the title or the abstract."""
    return "{title abstract} : " + _quote(list(pair))


def required_match(query: ParsedQuery) -> str | None:
    """FTS5 expression every result must match (phrases, authors), or None."""
    parts = [_quote(p) for p in query.phrases] + ["author_names : " + _quote(a) for a in query.authors]
    return " AND ".join(parts) or None


def excluded_match(query: ParsedQuery) -> str | None:
    """FTS5 expression no result may match (the ``-`` words and phrases), or None."""
    return " OR ".join(_quote(e) for e in query.excluded) or None


def _quote(words: list[str]) -> str:
    return '"' + " ".join(words) + '"'


def select_terms(words: list[str], stats: list[TermStat], max_terms: int) -> list[str]:
    """The query words worth searching: no stopwords (unless nothing else), one per stem,
    and for long queries only the ``max_terms`` rarest that occur in the index."""
    by_token = {s.token: s for s in stats}
    content = [w for w in words if w not in STOPWORDS] or list(words)
    seen: dict[str, str] = {}
    for w in content:
        stat = by_token.get(w)
        term = stat.term if stat else w
        seen.setdefault(term, w)
    kept = list(seen.values())
    if len(kept) <= max_terms:
        return kept
    present = [w for w in kept if by_token.get(w) and by_token[w].docs > 0]
    present.sort(key=lambda w: by_token[w].docs)
    return present[:max_terms] or kept[:max_terms]


def build_match(query: ParsedQuery, terms: list[str], *, conjunctive: bool) -> str | None:
    """An FTS5 expression for the query, or None when it has nothing to match."""
    parts = []
    if terms:
        joined = (" AND " if conjunctive else " OR ").join(_quote([t]) for t in terms)
        parts.append(f"({joined})")
    required = required_match(query)
    if required:
        parts.append(required)
    if not parts:
        return None
    expr = " AND ".join(parts)
    excluded = excluded_match(query)
    return f"({expr}) NOT ({excluded})" if excluded else expr
