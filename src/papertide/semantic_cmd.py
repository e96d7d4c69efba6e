"""Bodies of the semantic commands (``index``, ``distill``, ``similar``, ``eval``); cli.py parses.

Each function takes the store and settings, does one thing, prints, and lets
papertide's named errors travel up to the CLI's one-line error handler.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from papertide import progress
from papertide.errors import SemanticUnavailable, SettingError
from papertide.index.embed import (Embedder, EmbedderSpec, SentenceTransformerEmbedder, distill_static, load_embedder,
                                   resolve_spec, static_model_dir)
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


def _index_progress() -> Any:
    """A one-line live counter on a terminal; a log line per chunk elsewhere."""
    def show(report: Any) -> None:
        done = report.embedded + report.unchanged
        progress.show(f"index: {done:,}/{report.total:,} papers, {report.embedded:,} embedded "
                      f"({report.docs_per_s:.1f} docs/s)")
    return show


def run_index_command(store: Store, settings: Settings, *, embedder_spec: str | None, as_json: bool) -> None:
    """``papertide index``: embed new and changed papers with the configured embedder."""
    from papertide.index.semantic_index import run_index

    embedder = open_embedder(settings, embedder_spec)
    report = run_index(store, embedder, batch_size=settings.embed_batch_size,
                       ann_threshold=settings.ann_threshold, on_progress=_index_progress())
    progress.finish()
    exported = export_for_queries(embedder, settings)  # also after a run with nothing new: older stores get one
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "query_encoder_exported": str(exported) if exported else None}))
        return
    click.echo(f"index: {report.embedded:,} embedded, {report.unchanged:,} unchanged, {report.vectors:,} vectors "
               f"for {report.embedder} in {report.seconds:.1f} s ({report.docs_per_s:.1f} docs/s)")
    if exported:
        click.echo(f"index: query encoder exported for onnxruntime ({exported}); searches embed queries without torch")


def run_distill_command(settings: Settings, *, source: str | None) -> None:
    """``papertide distill``: make the static embedder from the default model, on this machine."""
    out = static_model_dir(Path(settings.models_dir).expanduser())
    distill_static(out, source=source or "all-MiniLM-L6-v2")
    click.echo(f"distill: static model written to {out}; use it with PAPERTIDE_EMBEDDER=static "
               "and run `papertide index`")


_warned = False


def warn_keyword_only(reason: str) -> None:
    """Say once per process that search runs keyword-only, and why."""
    global _warned
    if not _warned:
        click.echo(f"papertide: note: keyword search only ({reason})", err=True)
        _warned = True


def semantic_or_none(settings: Settings) -> Embedder | None:
    """The embedder, or None (after one clear note) when the semantic extra is not installed."""
    try:
        return open_embedder(settings, queries_only=True)
    except SemanticUnavailable as exc:
        warn_keyword_only(str(exc))
        return None


def similar_papers(store: Store, embedder: Embedder, paper_id: str, limit: int) -> list[tuple[str, float]]:
    """(id, cosine) of the papers nearest to one paper's vector, itself left out."""
    from papertide.errors import NoVectors, PaperNotFound
    from papertide.store import vectors

    if store.get(paper_id) is None:
        raise PaperNotFound(f"no paper {paper_id!r} in the store")
    found = store.vector_set(embedder.key)
    if found is None:
        raise NoVectors(f"no vectors for {embedder.key} in this store; run `papertide index`")
    row = store.vector_rows_of(embedder.key, [paper_id]).get(paper_id)
    if row is None:
        raise NoVectors(f"paper {paper_id} has no vector yet; run `papertide index`")
    from papertide.rank.hybrid import one_blas_thread

    with one_blas_thread():
        rows, scores = vectors.exact_top(found.matrix, found.matrix[row], limit + 1)
    ids = store.vector_ids(embedder.key, rows)
    return [(pid, float(s)) for pid, s in zip(ids, scores.tolist()) if pid and pid != paper_id][:limit]


def run_similar_command(store: Store, settings: Settings, paper_id: str, *, limit: int, as_json: bool) -> None:
    """``papertide similar ID``: the papers nearest to one paper."""
    from papertide.cli import _print_paper_line, _result_json

    hits = similar_papers(store, open_embedder(settings, queries_only=True), paper_id, limit)
    papers = store.get_many(pid for pid, _ in hits)
    rows = [(papers[pid], score) for pid, score in hits if pid in papers]
    if as_json:
        click.echo(json.dumps({"id": paper_id, "results": [_result_json(p, s) for p, s in rows]},
                              ensure_ascii=False))
        return
    for rank, (paper, score) in enumerate(rows, 1):
        _print_paper_line(rank, paper, score)


def evaluate_queries(store: Store, queries: list[Any], *, mode: str, embedder: Embedder | None,
                     limit: int = 100, params: Any = None) -> dict[str, object]:
    """Run every query in ``mode`` and summarise quality and latency (``eval --json``'s object)."""
    import time

    from papertide.rank.evaluate import summarize
    from papertide.rank.hybrid import HybridParams, clear_query_cache, search_modes

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


def run_eval_command(obj: Any, queries_path: str, *, mode: str, limit: int, as_json: bool) -> None:
    """``papertide eval``: metrics of one mode over a query file or a BEIR folder."""
    import tempfile

    from papertide.index.semantic_index import run_index
    from papertide.rank.evaluate import load_beir_queries, load_jsonl
    from papertide.rank.hybrid import HybridParams

    settings: Settings = obj.settings
    path = Path(queries_path)
    # A BEIR folder's papers are embedded here too: that takes the full model.
    embedder = open_embedder(settings, queries_only=not path.is_dir()) if mode != "keyword" else None
    params = HybridParams.from_settings(settings)
    if path.is_dir():
        with tempfile.TemporaryDirectory(prefix="papertide-beir-") as scratch:
            store = beir_store(path, Path(scratch))
            try:
                if embedder is not None:
                    run_index(store, embedder, batch_size=settings.embed_batch_size)
                metrics = evaluate_queries(store, load_beir_queries(path), mode=mode, embedder=embedder,
                                           limit=limit, params=params)
            finally:
                store.close()
    else:
        metrics = evaluate_queries(obj.store, load_jsonl(path), mode=mode, embedder=embedder,
                                   limit=limit, params=params)
    if as_json:
        click.echo(json.dumps(metrics))
        return
    click.echo(f"{metrics['queries']} queries, mode {metrics['mode']}")
    for name in ("mrr@10", "ndcg@10", "recall@10", "recall@100"):
        click.echo(f"  {name:<11}{metrics[name]:.4f}")
    click.echo(f"  latency    p50 {metrics['p50_ms']:.1f} ms, p95 {metrics['p95_ms']:.1f} ms")


def run_semantic_search(store: Store, settings: Settings, query: str, *, filters: Any, limit: int,
                        mode: str | None) -> Any:
    """``papertide search`` in any mode; without a mode: hybrid when this store has vectors.

    When the mode was not asked for and the semantic extra is missing, search runs
    keyword-only after one note; an explicit semantic or hybrid mode is an error then."""
    from papertide.rank.hybrid import HybridParams, default_mode, search_modes
    from papertide.rank.search import search

    chosen = mode or default_mode(store, embedder_spec(settings))
    params = HybridParams.from_settings(settings)
    if chosen == "keyword":
        return search(store, query, filters=filters, limit=limit, mode="keyword")
    embedder = open_embedder(settings, queries_only=True) if mode else semantic_or_none(settings)
    return search_modes(store, query, filters=filters, limit=limit, mode=chosen, embedder=embedder, params=params)
