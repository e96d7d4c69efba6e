"""Search in three modes: keyword, semantic and hybrid (the two fused).

``search_modes`` is the one entry point. Keyword search is
:func:`papertide.app.search.search`; semantic search embeds the query's free
text and takes the nearest paper vectors (exact by default, HNSW when built);
hybrid runs keyword search first, moves the query vector towards its best hits
(:func:`fusion.rocchio`, pseudo-relevance feedback), takes candidates from both
sides and fuses them with :func:`fusion.convex`. Every filter (categories, dates,
``author:``) applies in every mode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from papertide.errors import BadInput, NoVectors
from papertide.query import parse_query, words_of
from papertide.rank import fusion
from papertide.app.search import SearchResult, merged_filters, search
from papertide.store import Filters, Store

if TYPE_CHECKING:
    import numpy as np

    from papertide.index.embed import Embedder, EmbedderSpec

MODES = ("keyword", "semantic", "hybrid")


@dataclass(frozen=True)
class HybridParams:
    """How hybrid search fuses (defaults tuned on the dev sets; docs/semantic.md)."""

    keyword_weight: float = 0.9
    candidates: int = 150
    ann_ef: int = 128
    method: str = "convex"   # or "rrf" (reciprocal rank fusion, k = rrf_k), kept for comparison
    rrf_k: float = 60.0
    feedback_docs: int = 0   # top keyword hits whose mean vector is added to the query vector (0: off)
    query_cache: int = 1024  # query vectors kept per embedder (0: every query goes to the model)

    @classmethod
    def from_settings(cls, settings: Any) -> "HybridParams":
        """The search knobs a ``Settings`` object holds."""
        return cls(keyword_weight=float(settings.hybrid_keyword_weight), candidates=int(settings.hybrid_candidates),
                   feedback_docs=int(settings.hybrid_feedback_docs), query_cache=int(settings.query_cache))


def default_mode(store: Store, embedder_spec: "str | EmbedderSpec") -> str:
    """Hybrid when the store has vectors of the configured embedder, else keyword (no model is loaded)."""
    from papertide.index.embed import key_prefix

    prefix = key_prefix(embedder_spec)
    return "hybrid" if any(key.startswith(prefix) for key in store.embedder_keys()) else "keyword"


class QueryEmbeddings:
    """Query vectors, cached per text (a repeated query costs no model call)."""

    def __init__(self, embedder: "Embedder", size: int = 1024) -> None:
        self.embedder = embedder
        self.size = size
        self._encode = lru_cache(maxsize=size)(self._one)

    def _one(self, text: str) -> "np.ndarray":
        return self.embedder.encode_queries([text])[0]

    def __call__(self, text: str) -> "np.ndarray":
        return self._encode(text)


_QUERY_CACHE: dict[str, QueryEmbeddings] = {}


def clear_query_cache() -> None:
    """Forget cached query vectors (benchmarks time the model call of every query)."""
    _QUERY_CACHE.clear()


def embed_query(embedder: "Embedder", text: str, cache: int = 1024) -> "np.ndarray":
    """The unit vector of a query text with ``embedder`` (from the last ``cache`` queries' when
    it is one of them; 0: always from the model)."""
    if cache <= 0:
        return embedder.encode_queries([text])[0]
    found = _QUERY_CACHE.get(embedder.key)
    if found is None or found.size != cache:
        found = _QUERY_CACHE[embedder.key] = QueryEmbeddings(embedder, cache)
    return found(text)


def semantic_hits(store: Store, embedder: "Embedder", text: "str | np.ndarray", filters: Filters,
                  authors: list[list[str]], limit: int, params: HybridParams = HybridParams()
                  ) -> list[tuple[str, float]]:
    """(id, cosine) of the papers nearest ``text`` (or a query vector) that pass the filters, best first."""
    if not store.has_vectors(embedder.key):
        raise NoVectors(f"no vectors for {embedder.key} in this store; run `papertide index`")
    query = embed_query(embedder, text, params.query_cache) if isinstance(text, str) else text
    return store.nearest(embedder.key, query, limit, filters=filters, authors=authors, ef=params.ann_ef)


def cosines(store: Store, embedder: "Embedder", text: "str | np.ndarray", ids: list[str]) -> dict[str, float]:
    """Cosine between the query (text or vector) and each of ``ids`` that has a vector."""
    if not ids or not store.has_vectors(embedder.key):
        return {}
    query = embed_query(embedder, text) if isinstance(text, str) else text
    return store.cosines(embedder.key, query, ids)


def feedback_query(store: Store, embedder: "Embedder", text: str, ids: list[str],
                   cache: int = 1024) -> "np.ndarray":
    """The query vector moved towards the vectors of ``ids`` (:func:`fusion.rocchio`)."""
    query = embed_query(embedder, text, cache)
    found = list(store.paper_vectors(embedder.key, ids).values()) if ids else []
    if not found:
        return query
    import numpy as np

    return fusion.rocchio(query, np.stack(found))


def search_modes(store: Store, query: str, *, filters: Filters | None = None, limit: int = 20,
                 mode: str = "hybrid", embedder: "Embedder | None" = None,
                 params: HybridParams = HybridParams()) -> SearchResult:
    """Run a query in one mode. Semantic and hybrid need an embedder and indexed vectors."""
    if mode not in MODES:
        raise BadInput(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
    started = time.perf_counter()
    parsed = parse_query(query)
    if mode == "keyword" or embedder is None or not parsed.text.strip():
        result = search(store, query, filters=filters, limit=limit, mode="keyword")
        result.mode = "keyword"
        return result
    merged = merged_filters(parsed, filters)
    wanted = limit * 2 + 10 if parsed.excluded else limit  # room for the excluded papers dropped below
    if mode == "semantic":
        hits = semantic_hits(store, embedder, parsed.text, merged, parsed.authors, wanted, params)
        terms = [w for w in words_of(parsed.text) if len(w) > 2]
    else:
        kw = search(store, query, filters=filters, limit=params.candidates, mode="keyword")
        vector = feedback_query(store, embedder, parsed.text, [pid for pid, _ in kw.hits[:params.feedback_docs]],
                                params.query_cache)
        sem = semantic_hits(store, embedder, vector, merged, parsed.authors, params.candidates, params)
        keyword_scores = dict(kw.hits)
        # Keyword candidates the semantic list missed still get their real cosine.
        semantic_scores = dict(sem)
        missed = [pid for pid in keyword_scores if pid not in semantic_scores]
        semantic_scores.update(cosines(store, embedder, vector, missed))
        if params.method == "rrf":
            hits = fusion.rrf([kw.hits, sem], k=params.rrf_k)
        else:
            hits = fusion.convex(keyword_scores, semantic_scores, keyword_weight=params.keyword_weight)
        hits, terms = hits[:wanted], kw.terms
    hits = (_drop_excluded(store, hits, parsed.excluded) if parsed.excluded else hits)[:limit]
    took = (time.perf_counter() - started) * 1000
    return SearchResult(query=query, mode=mode, hits=hits, took_ms=took, terms=terms)


def _drop_excluded(store: Store, hits: list[tuple[str, float]], excluded: list[list[str]]) -> list[tuple[str, float]]:
    """Papers whose title or abstract holds an excluded word or phrase are left out."""
    papers = store.get_many(pid for pid, _ in hits)
    kept = []
    for pid, score in hits:
        paper = papers.get(pid)
        text = " " + " ".join(words_of(f"{paper.title} {paper.abstract}")) + " " if paper else ""
        if not any(f" {' '.join(words)} " in text for words in excluded):
            kept.append((pid, score))
    return kept
