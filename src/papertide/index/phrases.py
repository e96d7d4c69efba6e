"""Which papers hold each pair of neighbouring words, for the phrase scores (pure).

Short queries score every pair of neighbouring query words found as a phrase in a
paper's title or abstract (rank/search.py). FTS5 can list the papers holding a
phrase, but for two common words ("language model") it reads both words' whole
position lists: 1-3 ms a pair at 80k papers, half of a short search. This index
keeps, for each pair of neighbouring terms, the rows holding it, so a pair is one
lookup.

Pairs with a stopword ("of the", "for medical") are left out: they are most of the
pairs in running text and rarely what a searcher means. For them ``rows`` answers
None and the caller asks FTS5, so results do not change.

Built a chunk of papers at a time, beside the BM25 postings (``Builder`` in
keyword_index.py). Each chunk's (pair, row) entries are kept grouped into buckets
by pair (on disk with ``spill``), so the final layout sorts one bucket at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BUCKETS = 16
_SPILLED = ("keys", "docs")  # a chunk's arrays on disk, int64 and int32 (where its buckets start stays in memory)
_EMPTY = np.zeros(0, dtype=np.int32)


def pair_keys(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """One int64 per pair of term ids (first, second)."""
    return (np.asarray(first, dtype=np.int64) << 32) | np.asarray(second, dtype=np.int64)


def _buckets(keys: np.ndarray) -> np.ndarray:
    return ((keys ^ (keys >> 32)) & (BUCKETS - 1)).astype(np.int64)


@dataclass
class PhraseIndex:
    """Rows ``docs[indptr[i]:indptr[i+1]]`` (ascending) hold pair ``keys[i]``; bucket b's
    keys, ascending, are ``keys[bucket_ptr[b]:bucket_ptr[b+1]]``."""

    keys: np.ndarray        # int64
    bucket_ptr: np.ndarray  # int64, BUCKETS + 1
    indptr: np.ndarray      # int32 (int64 past 2**31 entries), len(keys) + 1
    docs: np.ndarray        # int32

    def rows(self, first: int, second: int) -> np.ndarray:
        """Rows whose title or abstract has term ``first`` right before term ``second``."""
        key = int(pair_keys(np.array([first]), np.array([second]))[0])
        bucket = int(_buckets(np.array([key]))[0])
        lo, hi = int(self.bucket_ptr[bucket]), int(self.bucket_ptr[bucket + 1])
        at = lo + int(np.searchsorted(self.keys[lo:hi], key))
        if at < hi and int(self.keys[at]) == key:
            return np.asarray(self.docs[int(self.indptr[at]):int(self.indptr[at + 1])])
        return _EMPTY

    @property
    def size(self) -> int:
        return len(self.docs)


class PhraseCounter:
    """Collects each chunk's (pair, row) entries; ``finish`` lays them out by pair.
    Chunks are numbered in the order added and can be counted again (``recount``)."""

    def __init__(self, spill: Path | None = None) -> None:
        self._spill = spill
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = []
        self._ptrs: dict[int, np.ndarray] = {}  # where each bucket starts, of each spilled chunk
        self._starts: list[int] = []
        self.n_docs = 0

    def add(self, fields: Sequence[np.ndarray], lengths: np.ndarray, skip: np.ndarray) -> None:
        """The next documents: ``fields[f]`` holds field f's term ids, document after document,
        ``lengths[f, d]`` of them document d's; ``skip[t]`` leaves out pairs with term t."""
        lengths = np.asarray(lengths, dtype=np.int64)
        self._parts.append(None)
        self._starts.append(self.n_docs)
        self._put(len(self._parts) - 1, fields, lengths, skip)
        self.n_docs += lengths.shape[1]

    def recount(self, chunk: int, fields: Sequence[np.ndarray], lengths: np.ndarray, skip: np.ndarray) -> None:
        """Chunk number ``chunk`` again, from its documents' new text."""
        self._put(chunk, fields, np.asarray(lengths, dtype=np.int64), skip)

    def _put(self, chunk: int, fields: Sequence[np.ndarray], lengths: np.ndarray, skip: np.ndarray) -> None:
        part = _chunk_entries(fields, lengths, skip, self._starts[chunk])
        if self._spill is None:
            self._parts[chunk] = part
            return
        self._spill.mkdir(parents=True, exist_ok=True)
        for name, array in zip(_SPILLED, part[:2]):
            array.tofile(self._spill / f"{chunk}.phrase_{name}")
        self._ptrs[chunk] = part[2]

    def _bucket(self, chunk: int, bucket: int) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ``chunk``'s (keys, rows) in one bucket. Spilled chunks are read a bucket at a
        time (not mapped, so what was read is freed with it)."""
        part = self._parts[chunk]
        if part is not None:
            keys, docs, ptr = part
            return keys[ptr[bucket]:ptr[bucket + 1]], docs[ptr[bucket]:ptr[bucket + 1]]
        ptr = self._ptrs[chunk]
        lo, n = int(ptr[bucket]), int(ptr[bucket + 1] - ptr[bucket])
        return (np.fromfile(self._spill / f"{chunk}.phrase_keys", dtype=np.int64, count=n, offset=8 * lo),
                np.fromfile(self._spill / f"{chunk}.phrase_docs", dtype=np.int32, count=n, offset=4 * lo))

    def finish(self) -> PhraseIndex:
        """The index of everything counted (used up: the counter is empty afterwards)."""
        chunks = range(len(self._parts))
        docs_out = np.empty(sum(self._size(c) for c in chunks), dtype=np.int32)
        keys_out, counts_out = [], []
        bucket_ptr = np.zeros(BUCKETS + 1, dtype=np.int64)
        filled = 0
        for bucket in range(BUCKETS):
            found = [self._bucket(chunk, bucket) for chunk in chunks]
            keys = np.concatenate([k for k, _ in found] or [np.zeros(0, np.int64)])
            docs = np.concatenate([d for _, d in found] or [_EMPTY])
            del found
            # Chunks come in row order, so a stable sort keeps each pair's rows ascending.
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            docs_out[filled:filled + len(docs)] = docs[order]
            filled += len(docs)
            first = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1]))[:len(keys)])
            keys_out.append(keys[first])
            counts_out.append(np.diff(np.append(first, len(keys))).astype(np.int32))
            bucket_ptr[bucket + 1] = bucket_ptr[bucket] + len(first)
        self._parts, self._ptrs, self._starts, self.n_docs = [], {}, [], 0
        indptr = np.zeros(int(bucket_ptr[-1]) + 1, dtype=np.int32 if filled < 2**31 else np.int64)
        np.cumsum(np.concatenate(counts_out), out=indptr[1:])
        del counts_out
        return PhraseIndex(keys=np.concatenate(keys_out), bucket_ptr=bucket_ptr, indptr=indptr, docs=docs_out)

    def _size(self, chunk: int) -> int:
        """How many entries chunk ``chunk`` holds."""
        part = self._parts[chunk]
        if part is not None:
            return len(part[1])
        return int(self._ptrs[chunk][-1])


def _chunk_entries(fields: Sequence[np.ndarray], lengths: np.ndarray, skip: np.ndarray,
                   start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pair key, row) once per pair and document, grouped by bucket then pair then row,
    and where each bucket starts."""
    keys, docs = [], []
    for f, stream in enumerate(fields):
        stream = np.asarray(stream, dtype=np.int64)
        if len(stream) < 2:
            continue
        doc = np.repeat(np.arange(lengths.shape[1], dtype=np.int64), lengths[f])
        ok = (doc[:-1] == doc[1:]) & ~skip[stream[:-1]] & ~skip[stream[1:]]
        keys.append(pair_keys(stream[:-1][ok], stream[1:][ok]))
        docs.append(doc[:-1][ok])
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    doc = np.concatenate(docs) if docs else np.zeros(0, np.int64)
    key, doc, bucket = _sorted_unique(key, doc, lengths.shape[1])
    ptr = np.searchsorted(bucket, np.arange(BUCKETS + 1))
    return key, (doc + start).astype(np.int32), ptr.astype(np.int64)


def _sorted_unique(key: np.ndarray, doc: np.ndarray, n_docs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(key, doc) entries sorted by (bucket, key, doc) without repeats, and their buckets.

    One sort of one int64 per entry, (bucket, first term, second term, doc) as digits of
    a mixed-radix number, when it fits (a vocabulary under about 20 million terms);
    otherwise a three-key lexsort, the same order, about three times slower."""
    bucket = _buckets(key)
    first, second = key >> 32, key & 0xFFFFFFFF
    terms = int(max(first.max(initial=0), second.max(initial=0))) + 1
    if BUCKETS * terms * terms * max(n_docs, 1) < 2**63:
        mixed = ((bucket * terms + first) * terms + second) * n_docs + doc
        mixed.sort()
        mixed = mixed[np.concatenate(([True], mixed[1:] != mixed[:-1]))[:len(mixed)]]
        doc, rest = np.divmod(mixed, n_docs)[::-1]
        rest, second = np.divmod(rest, terms)
        bucket, first = np.divmod(rest, terms)
        return (first << 32) | second, doc, bucket
    order = np.lexsort((doc, key, bucket))
    key, doc, bucket = key[order], doc[order], bucket[order]
    new = np.concatenate(([True], (key[1:] != key[:-1]) | (doc[1:] != doc[:-1])))[:len(key)]
    return key[new], doc[new], bucket[new]
