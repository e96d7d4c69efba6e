"""Vector files beside the store: plain float32 ``.npy``, written atomically, and searched.

One folder per embedder key holds numbered segments, each a pair
``seg-000001.npy`` (float32, one row per paper) and ``seg-000001.pks.npy``
(int64 paper keys). Indexing appends a segment per batch, so an interrupted run
keeps every finished batch; :func:`compact` merges the segments into one. A later
segment wins for a paper embedded twice. Search is exact (one matrix product)
unless an HNSW index (hnswlib) has been built for a large collection.
"""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import numpy as np

_SEGMENT = re.compile(r"^seg-(\d{6})\.npy$")
HNSW_FILE = "hnsw.bin"
HNSW_META = "hnsw.count.npy"


@dataclass
class VectorSet:
    """Every vector of one embedder: ``pks[i]`` is the paper of ``matrix[i]``."""

    pks: np.ndarray      # int64, shape (n,)
    matrix: np.ndarray   # float32, shape (n, dim), rows of unit length
    ann: object | None = None  # an hnswlib.Index over ``matrix`` row numbers, when built

    def __len__(self) -> int:
        return int(self.pks.shape[0])

    def rows(self, numbers: list[int] | np.ndarray) -> np.ndarray:
        """The vectors of some row numbers. From the HNSW index when there is one, which holds
        its own copy: the matrix, mapped from its file, is then read only by exact searches."""
        if self.ann is not None and len(numbers):
            return np.asarray(self.ann.get_items(np.asarray(numbers, dtype=np.int64)), dtype=np.float32)
        return np.asarray(self.matrix[np.asarray(numbers, dtype=np.int64)], dtype=np.float32)


def folder_name(key: str) -> str:
    """A file-system-safe folder name for an embedder key."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key)


def save_atomic(path: Path, array: np.ndarray) -> None:
    """Write one ``.npy`` under a temporary name, flush it to disk, rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def segments(folder: Path) -> list[int]:
    """Numbers of the complete segments in a folder, oldest first."""
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        m = _SEGMENT.match(entry.name)
        if m and (folder / f"seg-{m.group(1)}.pks.npy").is_file():
            found.append(int(m.group(1)))
    return sorted(found)


def write_segment(folder: Path, pks: np.ndarray, matrix: np.ndarray) -> int:
    """Append a segment; the pks file is renamed in last, so a segment is whole or absent."""
    number = (segments(folder) or [0])[-1] + 1
    (folder / HNSW_META).unlink(missing_ok=True)  # an HNSW index no longer covers every row
    save_atomic(folder / f"seg-{number:06d}.npy", np.ascontiguousarray(matrix, dtype=np.float32))
    save_atomic(folder / f"seg-{number:06d}.pks.npy", np.asarray(pks, dtype=np.int64))
    return number


def read(folder: Path) -> VectorSet | None:
    """All segments merged (a later segment wins for the same paper); None when empty."""
    numbers = segments(folder)
    if not numbers:
        return None
    pks = [np.load(folder / f"seg-{n:06d}.pks.npy", allow_pickle=False) for n in numbers]
    # One segment (after `index` compacts) is mapped, not read: its pages load as searches need
    # them and are shared between the processes that map it (the web workers).
    mats = [np.load(folder / f"seg-{n:06d}.npy", allow_pickle=False, mmap_mode="r" if len(numbers) == 1 else None)
            for n in numbers]
    all_pks = np.concatenate(pks)
    matrix = np.concatenate(mats) if len(mats) > 1 else mats[0]
    # Keep the last occurrence of each pk: unique over the reversed array.
    _, first_in_reversed = np.unique(all_pks[::-1], return_index=True)
    keep = np.sort(len(all_pks) - 1 - first_in_reversed)
    if len(keep) != len(all_pks):
        all_pks, matrix = all_pks[keep], matrix[keep]
    return VectorSet(all_pks, np.ascontiguousarray(matrix, dtype=np.float32), _load_ann(folder, len(all_pks), int(matrix.shape[1])))


def compact(folder: Path, keep_pks: np.ndarray | None = None) -> VectorSet | None:
    """Merge every segment into one (dropping papers not in ``keep_pks``); atomic per file."""
    numbers = segments(folder)
    merged = read(folder)
    if merged is None:
        return None
    mask = np.isin(merged.pks, keep_pks) if keep_pks is not None else None
    if len(numbers) == 1 and (mask is None or mask.all()):
        return merged
    if mask is not None:
        merged = VectorSet(merged.pks[mask], merged.matrix[mask])
    number = write_segment(folder, merged.pks, merged.matrix)
    for n in numbers:  # the new segment already wins over these; removing them changes nothing
        if n != number:
            (folder / f"seg-{n:06d}.pks.npy").unlink(missing_ok=True)
            (folder / f"seg-{n:06d}.npy").unlink(missing_ok=True)
    return merged


def remove(folder: Path) -> None:
    """Delete an embedder's vector folder."""
    shutil.rmtree(folder, ignore_errors=True)


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - part of the semantic extra
        return None
    return ThreadpoolController()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run a query's vector scan on one BLAS thread. OpenBLAS splits even one matrix-vector
    product over every core, and its threads spin while they wait: with anything else running
    (another request, an `index` run) that made the scan of 9,577 vectors 8 ms instead of 0.4 ms."""
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


def exact_top(matrix: np.ndarray, query: np.ndarray, k: int,
              rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers and cosine scores of the ``k`` rows nearest ``query``, best first.

    ``rows`` limits the search to those row numbers (filters)."""
    sub = matrix if rows is None else matrix[rows]
    if sub.shape[0] == 0 or k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    scores = sub @ query
    k = min(k, scores.shape[0])
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    found = top if rows is None else rows[top]
    return found.astype(np.int64), scores[top]


def build_ann(folder: Path, matrix: np.ndarray, *, m: int = 16, ef_construction: int = 100,
              threads: int = 1) -> object:
    """Build and save an HNSW index (hnswlib, inner product) over every row of ``matrix``."""
    import hnswlib

    index = hnswlib.Index(space="ip", dim=int(matrix.shape[1]))
    index.init_index(max_elements=int(matrix.shape[0]), M=m, ef_construction=ef_construction)
    index.set_num_threads(threads)
    index.add_items(matrix, np.arange(matrix.shape[0]))
    tmp = folder / f".{HNSW_FILE}.tmp{os.getpid()}"
    index.save_index(str(tmp))
    os.replace(tmp, folder / HNSW_FILE)
    save_atomic(folder / HNSW_META, np.asarray([matrix.shape[0]], dtype=np.int64))
    return index


def _load_ann(folder: Path, count: int, dim: int) -> object | None:
    """The saved HNSW index if it covers exactly the current rows (else it is stale: None)."""
    if not (folder / HNSW_FILE).is_file() or not (folder / HNSW_META).is_file():
        return None
    if int(np.load(folder / HNSW_META)[0]) != count:
        return None
    try:
        import hnswlib
    except ImportError:
        return None
    index = hnswlib.Index(space="ip", dim=dim)
    index.load_index(str(folder / HNSW_FILE), max_elements=count)
    return index


def ann_top(index: object, query: np.ndarray, k: int, ef: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers and scores from an HNSW index, best first."""
    index.set_ef(max(ef, k))
    labels, distances = index.knn_query(query.reshape(1, -1), k=k)
    return labels[0].astype(np.int64), (1.0 - distances[0]).astype(np.float32)
