"""SQLite: which papers are embedded by which embedder, and their vectors beside the store.

The table ``vectors_embedded`` (migration 0008) records, per embedder key and
paper, the ``changed_at`` and a hash of the text that was embedded; the vectors
are ``.npy`` segments in ``<store>.vectors/<embedder key>/`` (store/vectors.py).
Vectors of two embedder keys are never mixed: each key has its own folder.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from papertide import scratch
from papertide.store.base import Filters
from papertide.store.sql_search import _filter_sql
from papertide.store.sql_vectors import EmbeddedMixin
from papertide.store.sql_util import _chunks

if TYPE_CHECKING:  # numpy comes with the optional extra papertide[semantic]; imported on use
    import numpy as np

    from papertide.store import vectors


class VectorsMixin(EmbeddedMixin):
    """Vectors. Mixed into ``SQLiteStore``; ``self.db`` is the connection, ``self.path`` the file."""

    db: sqlite3.Connection
    path: Path

    # -- where -------------------------------------------------------------------
    def vectors_root(self) -> Path:
        """The folder beside the store holding one sub-folder per embedder key."""
        if str(self.path) == ":memory:":
            raise_memory()
        return self.path.with_name(self.path.name + ".vectors")

    def _vector_folder(self, key: str) -> Path:
        from papertide.store import vectors

        return self.vectors_root() / vectors.folder_name(key)

    def add_vectors(self, key: str, rows: list[tuple[int, str, str]], matrix: np.ndarray | None) -> None:
        """Record ``rows`` (pk, changed_at, text_hash) as embedded by ``key``.

        With ``matrix`` (one row per entry) a segment is written first, then the rows are
        committed; ``None`` only refreshes the bookkeeping of papers whose text is unchanged."""
        import numpy as np
        from papertide.store import vectors

        if matrix is not None and rows:
            vectors.write_segment(self._vector_folder(key), np.array([r[0] for r in rows]), matrix)
        with self._write_txn():
            self.db.executemany(
                "INSERT INTO vectors_embedded (embedder, pk, changed_at, text_hash) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (embedder, pk) DO UPDATE SET changed_at = excluded.changed_at, "
                "text_hash = excluded.text_hash", [(key, *r) for r in rows])
        self._vector_cache().pop(key, None)

    def forget_vectors(self, key: str) -> None:
        """Drop every vector of ``key`` and its bookkeeping (before embedding everything again)."""
        from papertide.store import vectors

        self.db.execute("DELETE FROM vectors_embedded WHERE embedder = ?", (key,))
        vectors.remove(self._vector_folder(key))
        self._vector_cache().pop(key, None)

    def compact_vectors(self, key: str, *, ann_threshold: int = 0, ann_threads: int = 1) -> int:
        """Merge an embedder's segments into one; build an HNSW index at ``ann_threshold`` rows or more.

        Returns the number of vectors kept (papers deleted from the store are dropped)."""
        import numpy as np
        from papertide.store import vectors

        keep = np.array([r[0] for r in self.db.execute(
            "SELECT pk FROM vectors_embedded WHERE embedder = ?", (key,))], dtype=np.int64)
        folder = self._vector_folder(key)
        scratch.sweep(folder)  # segments a killed `index` left half-written
        merged = vectors.compact(folder, keep)
        self._vector_cache().pop(key, None)
        if merged is None:
            return 0
        if ann_threshold and len(merged) >= ann_threshold and merged.ann is None:
            vectors.build_ann(folder, merged.matrix, threads=ann_threads)
        return len(merged)

    # -- searching ---------------------------------------------------------------
    def _vector_cache(self) -> dict[str, tuple[int, vectors.VectorSet, np.ndarray, dict[str, int]]]:
        if "_vcache" not in self.__dict__:
            self.__dict__["_vcache"] = {}
            self.__dict__["_vlock"] = threading.Lock()
        return self.__dict__["_vcache"]

    def vector_set(self, key: str) -> vectors.VectorSet | None:
        """Every vector of ``key`` (cached in this process until the folder changes)."""
        from papertide.store import vectors

        folder = self._vector_folder(key)
        stamp = folder.stat().st_mtime_ns if folder.is_dir() else 0
        cache = self._vector_cache()
        hit = cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        with self.__dict__["_vlock"]:
            found = vectors.read(folder)
            if found is None:
                return None
            ids = self._ids_of(found.pks)
            cache[key] = (stamp, found, ids, {pid: i for i, pid in enumerate(ids.tolist()) if pid})
        return found

    def vector_ids(self, key: str, rows: np.ndarray) -> list[str]:
        """Paper ids of row numbers of ``vector_set(key)`` ('' for a paper no longer stored)."""
        ids = self._vector_cache()[key][2]
        return [ids[r] for r in rows.tolist()]

    def vector_rows_of(self, key: str, paper_ids: Iterable[str]) -> dict[str, int]:
        """Row numbers in ``vector_set(key)`` of the given papers (those without a vector left out)."""
        row_of = self._vector_cache()[key][3]
        return {pid: row_of[pid] for pid in paper_ids if pid in row_of}

    def vector_rows_matching(self, key: str, filters: Filters,
                             authors: list[list[str]] | None = None) -> np.ndarray:
        """Row numbers of ``vector_set(key)`` whose papers pass the filters and author words."""
        import numpy as np

        where, params = _filter_sql(filters)
        by_author = self._pks_matching(filters, authors or [])
        if by_author is not None:
            pks = np.array(by_author, dtype=np.int64)
        else:
            pks = np.fromiter((r[0] for r in self.db.execute(f"SELECT p.pk FROM papers p WHERE TRUE {where}", params)),
                              dtype=np.int64)
        found = self.vector_set(key)
        if found is None:
            return np.empty(0, dtype=np.int64)
        return np.flatnonzero(np.isin(found.pks, pks)).astype(np.int64)

    # -- in domain terms: ids and scores out ------------------------------------------
    def has_vectors(self, key: str) -> bool:
        return self.vector_set(key) is not None

    def nearest(self, key: str, query: Any, limit: int, *, filters: Filters | None = None,
                authors: list[list[str]] | None = None, ef: int = 128) -> list[tuple[str, float]]:
        """(id, cosine) of the papers whose ``key`` vectors are nearest ``query`` (a unit vector),
        best first, among those passing the filters and author phrases. Exact when restricted or
        small; the HNSW index otherwise. Raises NoVectors when ``key`` has none."""
        from papertide.store import vectors

        found = self._vectors_or_raise(key)
        filters = filters or Filters()
        restricted = bool(filters.categories or filters.sources or filters.since or filters.until or authors)
        with vectors.one_blas_thread():
            if restricted:
                allowed = self.vector_rows_matching(key, filters, authors)
                rows, scores = vectors.exact_top(found.matrix, query, limit, allowed)
            elif found.ann is not None:
                rows, scores = vectors.ann_top(found.ann, query, limit, ef)
            else:
                rows, scores = vectors.exact_top(found.matrix, query, limit)
        ids = self.vector_ids(key, rows)
        return [(pid, float(score)) for pid, score in zip(ids, scores.tolist()) if pid]

    def paper_vectors(self, key: str, ids: Iterable[str]) -> dict[str, Any]:
        """The ``key`` vector of each of ``ids`` that has one."""
        found = self.vector_set(key)
        if found is None:
            return {}
        rows = self.vector_rows_of(key, ids)
        matrix = found.rows(list(rows.values())) if rows else []
        return dict(zip(rows, matrix))

    def _vectors_or_raise(self, key: str) -> vectors.VectorSet:
        from papertide.errors import NoVectors

        found = self.vector_set(key)
        if found is None:
            raise NoVectors(f"no vectors for {key} in this store; run `papertide index`")
        return found

    def _ids_of(self, pks: np.ndarray) -> np.ndarray:
        import numpy as np

        by_pk: dict[int, str] = {}
        for chunk in _chunks(pks.tolist()):
            marks = ",".join("?" * len(chunk))
            by_pk.update(self.db.execute(f"SELECT pk, id FROM papers WHERE pk IN ({marks})", chunk).fetchall())
        return np.array([by_pk.get(pk, "") for pk in pks.tolist()], dtype=object)


def raise_memory() -> None:
    """Vectors live in files beside the store, so an in-memory store cannot hold them."""
    from papertide.errors import StoreError

    raise StoreError("an in-memory store cannot hold vectors; use a file")
