"""Which paper was embedded by which embedder, from which text (table ``vectors_embedded``):
what makes indexing incremental and resumable on either backend. Where the vectors themselves
live is the backend's: ``.npy`` files beside a SQLite store, a pgvector column in PostgreSQL."""

from __future__ import annotations

from typing import Any, Iterable


class EmbeddedMixin:
    """Mixed into a store's vectors mixin; ``self.db`` is the connection."""

    db: Any

    def embedder_keys(self) -> dict[str, int]:
        """Embedder keys that have vectors in this store, with how many papers each covers."""
        return dict(self.db.execute(
            "SELECT embedder, count(*) FROM vectors_embedded GROUP BY embedder").fetchall())

    # -- indexing ----------------------------------------------------------------
    def papers_to_embed(self, key: str, limit: int, after_pk: int = 0) -> list[dict[str, Any]]:
        """Papers (after ``after_pk``, by pk) that are new or changed since ``key`` embedded them.

        Each row: pk, changed_at, title, abstract, and text_hash (of what was embedded; '' if never)."""
        rows = self.db.execute(
            "SELECT p.pk, p.changed_at, p.title, p.abstract, coalesce(e.text_hash, '') AS text_hash "
            "FROM papers p LEFT JOIN vectors_embedded e ON e.pk = p.pk AND e.embedder = ? "
            "WHERE p.pk > ? AND (e.pk IS NULL OR e.changed_at != p.changed_at) ORDER BY p.pk LIMIT ?",
            (key, after_pk, limit)).fetchall()
        return [dict(r) for r in rows]

    def count_to_embed(self, key: str) -> int:
        """How many papers ``papers_to_embed`` would still return."""
        return self.db.execute(
            "SELECT count(*) FROM papers p LEFT JOIN vectors_embedded e ON e.pk = p.pk AND e.embedder = ? "
            "WHERE e.pk IS NULL OR e.changed_at != p.changed_at", (key,)).fetchone()[0]

    def cosines(self, key: str, query: Any, ids: Iterable[str]) -> dict[str, float]:
        """Cosine between ``query`` and the ``key`` vector of each of ``ids`` that has one."""
        found = self.paper_vectors(key, ids)
        if not found:
            return {}
        import numpy as np

        return dict(zip(found, (np.stack(list(found.values())) @ np.asarray(query, dtype=np.float32)).tolist()))
