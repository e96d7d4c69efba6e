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
from papertide.app.semantic import (beir_store, evaluate_queries, export_for_queries, open_embedder,
                                    similar_papers)
from papertide.index.embed import distill_static, static_model_dir
from papertide.settings import Settings
from papertide.store import Store

log = logging.getLogger("papertide")


def _index_progress(total: int) -> tuple[progress.Bar, Any]:
    """A progress bar with rate and ETA on a terminal; a log line every 10 s elsewhere."""
    bar = progress.Bar("index", total, unit="papers")

    def show(report: Any) -> None:
        bar.update_to(report.embedded + report.unchanged)
    return bar, show


def run_index_command(store: Store, settings: Settings, *, embedder_spec: str | None, as_json: bool,
                      fresh: bool = False) -> None:
    """``papertide index``: embed new and changed papers with the configured embedder
    (with ``fresh``, every paper again: ``reindex --vectors``)."""
    from papertide.app.semantic_index import run_index

    log.info("index: loading the embedding model (%s)", embedder_spec or settings.embedder)
    embedder = open_embedder(settings, embedder_spec)
    if fresh:
        store.forget_vectors(embedder.key)
    bar, show = _index_progress(store.count_to_embed(embedder.key))
    try:
        report = run_index(store, embedder, batch_size=settings.embed_batch_size,
                           ann_threshold=settings.ann_threshold, on_progress=show)
    finally:
        bar.close()
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
        click.echo(f"papertide: note: {reason}", err=True)
        _warned = True


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


def run_eval_command(obj: Any, queries_path: str, *, mode: str, limit: int, as_json: bool) -> None:
    """``papertide eval``: metrics of one mode over a query file or a BEIR folder."""
    import tempfile

    from papertide.app.semantic_index import run_index
    from papertide.rank.evaluate import load_beir_queries, load_jsonl
    from papertide.app.hybrid import HybridParams

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


