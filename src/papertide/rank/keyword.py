"""Keyword queries for the FTS5 index, built from a parsed query (pure).

Every token reaches FTS5 inside double quotes, so no user string can be read
as FTS5 syntax. Short queries are tried as AND first (precise and fast), then
topped up with OR. Long natural-language queries keep only their most
selective terms (by document frequency), so a pasted sentence costs a few
short posting lists instead of a 30-term OR over the whole index.
"""

from __future__ import annotations

from dataclasses import dataclass

from papertide.index.query import ParsedQuery
from papertide.store.base import TermStat

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has
have having he her here hers herself him himself his how i if in into is it its itself just me more
most my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up upon us very via was we were what when where which while who whom why
will with within without would you your yours yourself yourselves paper papers propose proposed
proposes approach approaches method methods using use used based new novel show shows work study
present presents introduce introduces
""".split())


@dataclass(frozen=True)
class KeywordParams:
    """Tunable knobs of keyword search (see docs/search.md)."""

    weights: tuple[float, float, float] = (4.0, 1.0, 1.5)  # title, abstract, authors
    max_terms: int = 10        # terms kept from a long query
    and_max_terms: int = 3     # queries up to this many terms try AND first


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
    required = [_quote(p) for p in query.phrases]
    required += ["author_names : " + _quote(a) for a in query.authors]
    parts = []
    if terms:
        joined = (" AND " if conjunctive else " OR ").join(_quote([t]) for t in terms)
        parts.append(f"({joined})")
    parts += required
    if not parts:
        return None
    expr = " AND ".join(parts)
    if query.excluded:
        expr = f"({expr}) NOT (" + " OR ".join(_quote(e) for e in query.excluded) + ")"
    return expr
