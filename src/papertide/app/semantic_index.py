"""``papertide index``: embed the title and abstract of new or changed papers.

Incremental (only papers whose ``changed_at`` moved since this embedder saw them,
and of those only the ones whose text really changed), batched, and resumable:
each chunk is written as its own vector segment and recorded in one transaction,
so Ctrl-C loses at most the chunk in flight. Vectors are kept per embedder key;
switching embedder starts a fresh set instead of mixing two models' vectors.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from papertide.index.embed import Embedder, paper_text
from papertide.store import Store

if TYPE_CHECKING:
    from papertide.settings import Settings


@dataclass
class IndexReport:
    """What one ``index`` run did."""

    embedder: str
    total: int = 0          # papers that needed a look at the start
    embedded: int = 0       # papers whose text was embedded
    unchanged: int = 0      # papers whose metadata changed but whose text did not
    vectors: int = 0        # vectors the store holds for this embedder afterwards
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def docs_per_s(self) -> float:
        return self.embedded / self.timings["embed"] if self.timings.get("embed") else 0.0

    def as_dict(self) -> dict[str, object]:
        return {"embedder": self.embedder, "total": self.total, "embedded": self.embedded,
                "unchanged": self.unchanged, "vectors": self.vectors, "seconds": round(self.seconds, 2),
                "docs_per_s": round(self.docs_per_s, 1)}


def text_hash(text: str) -> str:
    """A short stable digest of the embedded text (tells a real text change from a metadata one)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def run_index(store: Store, embedder: Embedder, *, chunk: int = 512, batch_size: int = 64,
              ann_threshold: int = 0, on_progress: Callable[[IndexReport], None] | None = None) -> IndexReport:
    """Embed every paper that is new or changed for ``embedder``; returns what was done."""
    started = time.perf_counter()
    report = IndexReport(embedder=embedder.key, total=store.count_to_embed(embedder.key))
    report.timings["embed"] = 0.0
    after = 0
    while True:
        rows = store.papers_to_embed(embedder.key, chunk, after)
        if not rows:
            break
        after = rows[-1]["pk"]
        _index_chunk(store, embedder, rows, batch_size, report)
        if on_progress is not None:
            on_progress(report)
    report.vectors = store.compact_vectors(embedder.key, ann_threshold=ann_threshold)
    report.seconds = time.perf_counter() - started
    return report


def _index_chunk(store: Store, embedder: Embedder, rows: list[dict], batch_size: int,
                 report: IndexReport) -> None:
    texts, todo, same = [], [], []
    for row in rows:
        text = paper_text(row["title"], row["abstract"])
        digest = text_hash(text)
        if digest == row["text_hash"]:
            same.append((row["pk"], row["changed_at"], digest))
        else:
            texts.append(text)
            todo.append((row["pk"], row["changed_at"], digest))
    if todo:
        began = time.perf_counter()
        matrix = embedder.encode(texts, batch_size=batch_size)
        report.timings["embed"] += time.perf_counter() - began
        store.add_vectors(embedder.key, todo, matrix)
        report.embedded += len(todo)
    if same:
        store.add_vectors(embedder.key, same, None)
        report.unchanged += len(same)


def embed_new_papers(store: Store, settings: "Settings") -> IndexReport | None:
    """Embed the papers that are new or changed since the last run, with the configured
    embedder, unless another process is indexing (then None). What ``papertide serve`` runs
    in the background and ``sync`` after its sources, so a store gains semantic search and keeps
    it without a manual ``index``."""
    from papertide.app.semantic import open_embedder
    from papertide.errors import JobBusy

    try:
        with store.job_lock("index"):
            embedder = open_embedder(settings)
            if not store.count_to_embed(embedder.key):
                return None
            return run_index(store, embedder, batch_size=settings.embed_batch_size,
                             ann_threshold=settings.ann_threshold)
    except JobBusy:
        return None
