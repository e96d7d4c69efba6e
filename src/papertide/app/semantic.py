"""Semantic search as the site, the digest and the CLI use it: the configured embedder, similar
papers, evaluation runs, and search in whichever mode a store supports."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from papertide.errors import SemanticUnavailable, SettingError
from papertide.index.embed import (Embedder, EmbedderSpec, SentenceTransformerEmbedder, load_embedder,
                                   resolve_spec)
from papertide.settings import Settings
from papertide.store import Store

log = logging.getLogger("papertide")


def embedder_spec(settings: Settings, model: str | None = None) -> EmbedderSpec:
    """The configured embedder (or ``model`` with the configured prefixes): models and prefixes."""
    return resolve_spec(model or settings.embedder, document_model=settings.embedder_documents,
                        query_prefix=settings.embed_query_prefix, document_prefix=settings.embed_document_prefix)


QUERY_ENCODERS = ("auto", "onnx", "torch")


def onnx_queries(settings: Settings) -> bool:
    """Whether searches may embed queries with the ONNX export (the ``query_encoder`` setting)."""
    if settings.query_encoder not in QUERY_ENCODERS:
        raise SettingError(f"query_encoder is one of {', '.join(QUERY_ENCODERS)}, not {settings.query_encoder!r}")
    return settings.query_encoder != "torch"


def open_embedder(settings: Settings, spec: str | None = None, *, queries_only: bool = False) -> Embedder:
    """The configured embedder (or the model ``spec``), loaded once. ``queries_only``: for searching
    (the ONNX export of the query model when there is one, see ``query_encoder``)."""
    return load_embedder(embedder_spec(settings, spec), models_dir=Path(settings.models_dir).expanduser(),
                         max_seq_length=settings.embed_max_tokens, query_threads=settings.embed_query_threads,
                         queries_only=queries_only and onnx_queries(settings),
                         int8=settings.query_encoder == "auto")


def export_for_queries(embedder: Embedder, settings: Settings) -> Path | None:
    """After ``index``: export the query model for onnxruntime unless an export exists or the
    ``query_encoder`` setting says torch; the new export's folder, or None."""
    if not isinstance(embedder, SentenceTransformerEmbedder) or not onnx_queries(settings):
        return None
    from papertide.index.embed_onnx import ensure_query_encoder

    return ensure_query_encoder(embedder, Path(settings.models_dir).expanduser())


def semantic_or_none(settings: Settings, note: Callable[[str], None] = log.warning) -> Embedder | None:
    """The embedder, or None (after ``note`` says why) when the semantic extra is not installed."""
    try:
        return open_embedder(settings, queries_only=True)
    except SemanticUnavailable as exc:
        note(f"keyword search only ({exc})")
        return None


def similar_papers(store: Store, embedder: Embedder, paper_id: str, limit: int) -> list[tuple[str, float]]:
    """(id, cosine) of the papers nearest to one paper's vector, itself left out."""
    from papertide.errors import NoVectors, PaperNotFound

    if store.get(paper_id) is None:
        raise PaperNotFound(f"no paper {paper_id!r} in the store")
    if not store.has_vectors(embedder.key):
        raise NoVectors(f"no vectors for {embedder.key} in this store; run `papertide index`")
    vector = store.paper_vectors(embedder.key, [paper_id]).get(paper_id)
    if vector is None:
        raise NoVectors(f"paper {paper_id} has no vector yet; run `papertide index`")
    hits = store.nearest(embedder.key, vector, limit + 1)
    return [(pid, score) for pid, score in hits if pid != paper_id][:limit]


def evaluate_queries(store: Store, queries: list[Any], *, mode: str, embedder: Embedder | None,
                     limit: int = 100, params: Any = None) -> dict[str, object]:
    """Run every query in ``mode`` and summarise quality and latency (``eval --json``'s object)."""
    import time

    from papertide.rank.evaluate import summarize
    from papertide.app.hybrid import HybridParams, clear_query_cache, search_modes

    params = params or HybridParams()
    clear_query_cache()
    runs = []
    for q in queries:
        began = time.perf_counter()
        result = search_modes(store, q.query, limit=limit, mode=mode, embedder=embedder, params=params)
        ms = (time.perf_counter() - began) * 1000
        runs.append(([pid for pid, _ in result.hits], q.relevant, ms))
    return summarize(runs, mode)


def beir_store(folder: Path, scratch: Path) -> Store:
    """A scratch store holding a BEIR corpus (ids kept as they are)."""
    from papertide.model import PaperRecord
    from papertide.rank.evaluate import beir_corpus
    from papertide.sources.base import Page
    from papertide.store import open_store

    store = open_store(str(scratch / "beir.db"))
    docs = beir_corpus(folder)
    for start in range(0, len(docs), 2000):
        records = [PaperRecord(id=d["id"], title=d["title"] or d["id"], source="beir", abstract=d["text"])
                   for d in docs[start:start + 2000]]
        store.ingest(Page(records=records, fetched=len(records)))
    return store


def run_semantic_search(store: Store, settings: Settings, query: str, *, filters: Any, limit: int,
                        mode: str | None, note: Callable[[str], None] = log.warning) -> Any:
    """``papertide search`` in any mode; without a mode: hybrid when this store has vectors.

    When the mode was not asked for and the semantic extra is missing, search runs
    keyword-only after one note; an explicit semantic or hybrid mode is an error then."""
    from papertide.app.hybrid import HybridParams, default_mode, search_modes
    from papertide.app.search import search

    chosen = mode or default_mode(store, embedder_spec(settings))
    params = HybridParams.from_settings(settings)
    if chosen == "keyword":
        return search(store, query, filters=filters, limit=limit, mode="keyword")
    embedder = open_embedder(settings, queries_only=True) if mode else semantic_or_none(settings, note)
    return search_modes(store, query, filters=filters, limit=limit, mode=chosen, embedder=embedder, params=params)
