"""A parsed query and filters as a tantivy query: the only place that speaks tantivy's query terms.

Free words score with BM25 over the title and abstract together (one field: the known-item
descriptions hold no title words, yet people also type a title's words); a query of a few
words also scores each pair of neighbouring words, and the whole query, found as a phrase,
and a long one its two rarest pairs. Phrases and ``author:``
must match; ``-word`` and ``-"phrase"`` must not (in title, abstract or authors); categories,
dates and a digest's window of new papers filter without scoring. Every word is analysed by
the index's own analyzer and given as a term, so no user text is read as query syntax: any
string is valid and at worst matches nothing. docs/search.md has the measurements behind the
weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tantivy

from papertide.query import STOPWORDS, ParsedQuery
from papertide.store.base import Filters
from papertide.store.keyword import SCHEMA, day_number, name_terms, term

_MUST, _SHOULD, _NOT = tantivy.Occur.Must, tantivy.Occur.Should, tantivy.Occur.MustNot


@dataclass(frozen=True)
class KeywordParams:
    """The weights of keyword search (see docs/search.md for how they were chosen)."""

    pair: float = 2.0            # a neighbouring word pair found as a phrase
    pair_max_words: int = 6      # queries of 2..this many words score their pairs
    long_pair: float = 2.0       # longer queries: a constant for each of their rarest pairs found
    long_pairs: int = 2          # how many pairs (without a stopword, of the rarest words) they score
    long_query_words: int = 6    # queries with more words than this lose their stopwords
    max_terms: int = 64          # terms kept from a pasted text


DEFAULT_PARAMS = KeywordParams()


def scoring_words(query: ParsedQuery, params: KeywordParams = DEFAULT_PARAMS) -> list[str]:
    """The words a query ranks by: free words and phrase words. A long query (a pasted
    description) drops its stopwords; a short one keeps them ('all you need')."""
    words = [*query.words, *(w for p in query.phrases for w in p)]
    if len(words) > params.long_query_words:
        words = [w for w in words if w not in STOPWORDS] or words
    return words


def build(query: ParsedQuery, filters: Filters, window: tuple[int, int] | None = None,
          params: KeywordParams = DEFAULT_PARAMS, doc_freq: Callable[[str], int] | None = None
          ) -> tantivy.Query | None:
    """The tantivy query, or None when the query has no text to match (list by date instead).
    ``doc_freq`` (papers holding an index term) picks a long query's rarest pairs."""
    if not query.has_text:
        return None
    clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
    terms = list(dict.fromkeys(t for t in map(term, scoring_words(query, params)) if t))[: params.max_terms]
    if query.words and terms:
        scored = [(_SHOULD, _in_text(t)) for t in terms]
        if 2 <= len(query.words) <= params.pair_max_words:
            scored += [(_SHOULD, _pair(pair, params.pair)) for pair in adjacent_pairs(query.words)]
            if len(query.words) > 2:  # a topic typed as words is meant as a phrase
                scored.append((_SHOULD, _pair(tuple(query.words), params.pair)))
        elif len(query.words) > params.pair_max_words and doc_freq is not None:
            scored += [(_SHOULD, tantivy.Query.const_score_query(_pair(pair, 1.0), params.long_pair))
                       for pair in rarest_pairs(query.words, params.long_pairs, doc_freq)]
        clauses.append((_MUST, tantivy.Query.boolean_query(scored)))
    elif terms:  # phrases alone: their words still rank
        clauses.append((_SHOULD, tantivy.Query.boolean_query([(_SHOULD, _in_text(t)) for t in terms])))
    for phrase in query.phrases:
        clauses.append((_MUST, _phrase_anywhere(phrase, ("text",))))
    for author in query.authors:
        clauses.append((_MUST, _filter(_phrase_in("authors", name_terms(author)))))
    if not any(occur == _MUST for occur, _ in clauses):  # only words the index never holds
        return tantivy.Query.empty_query()
    for excluded in query.excluded:
        clauses.append((_NOT, _phrase_anywhere(excluded, ("text", "authors"))))
    clauses += [(_MUST, _filter(q)) for q in filter_queries(filters, window)]
    if len(clauses) == 1:  # free words alone, the common case: one flat disjunction
        return clauses[0][1]
    return tantivy.Query.boolean_query(clauses)


def filter_queries(filters: Filters, window: tuple[int, int] | None = None) -> list[tantivy.Query]:
    """Categories (an archive matches all its categories), published dates, a window of pks."""
    found = []
    if filters.categories:
        found.append(tantivy.Query.term_set_query(SCHEMA, "cat", [c.lower() for c in filters.categories]))
    if filters.sources:
        found.append(tantivy.Query.term_set_query(SCHEMA, "source", list(filters.sources)))
    if filters.since or filters.until:
        lo = day_number(filters.since) if filters.since else 1  # 'until' leaves out unknown days
        hi = day_number(filters.until) if filters.until else None
        found.append(tantivy.Query.range_query(SCHEMA, "day", tantivy.FieldType.Integer, lo, hi))
    if window is not None:
        lo, hi = window
        if hi <= lo:
            found.append(tantivy.Query.empty_query())
        else:
            found.append(tantivy.Query.range_query(SCHEMA, "pk", tantivy.FieldType.Unsigned, lo + 1, hi))
    return found


def adjacent_pairs(words: list[str]) -> list[tuple[str, str]]:
    """Each pair of neighbouring words, once, in query order ("graph neural networks" ->
    ("graph", "neural"), ("neural", "networks"))."""
    return list(dict.fromkeys(zip(words, words[1:])))


def _in_text(t: str) -> tantivy.Query:
    return tantivy.Query.term_query(SCHEMA, "text", t)


def rarest_pairs(words: list[str], count: int, doc_freq: Callable[[str], int]) -> list[tuple[str, str]]:
    """The ``count`` neighbouring pairs without a stopword whose rarer word is rarest: a pasted
    description holds many pairs, most of them incidental, and each costs a phrase search."""
    pairs = [p for p in adjacent_pairs(words) if not (set(p) & STOPWORDS) and all(map(term, p))]
    return sorted(pairs, key=lambda p: min(doc_freq(term(w)) or 1 << 40 for w in p))[:count]


def _pair(pair: tuple[str, ...], weight: float) -> tantivy.Query:
    """The words side by side, in this order, in the title or the abstract."""
    terms = [term(w) for w in pair]
    if not all(terms):
        return tantivy.Query.empty_query()
    return tantivy.Query.boost_query(tantivy.Query.phrase_query(SCHEMA, "text", terms), weight)


def _phrase_in(field: str, terms: list[str]) -> tantivy.Query:
    if not terms:
        return tantivy.Query.empty_query()
    if len(terms) == 1:
        return tantivy.Query.term_query(SCHEMA, field, terms[0])
    return tantivy.Query.phrase_query(SCHEMA, field, terms)


def _phrase_anywhere(words: list[str], fields: tuple[str, ...]) -> tantivy.Query:
    """The words next to each other in any of these fields (authors: names unstemmed)."""
    stemmed = [t for t in map(term, words) if t]
    names = name_terms(words)
    return tantivy.Query.boolean_query([
        (_SHOULD, _phrase_in(f, names if f == "authors" else stemmed)) for f in fields])


def _filter(query: tantivy.Query) -> tantivy.Query:
    return tantivy.Query.const_score_query(query, 0.0)
