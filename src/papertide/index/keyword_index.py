"""The in-memory keyword index: BM25F postings plus what filters need (pure).

Built from the papers' text by ``build``; saved and loaded by the store
(``store/keyword_files.py``), which alone touches files. Rows are papers in
ascending store key (``pks``) order.
"""

from __future__ import annotations

import logging
import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from papertide.index.analyze import Analyzer, TermIds
from papertide.index.bm25 import (
    DEFAULT_BM25,
    FIELDS,
    BM25Params,
    PairCounter,
    TermMatrix,
)

log = logging.getLogger(__name__)

# (pk, id, title, abstract, author_names, published, categories)
PaperRow = tuple[int, str, str, str, str, str, Sequence[str]]


@dataclass
class KeywordIndex:
    vocabulary: dict[str, int]     # term -> row of the matrix
    matrix: TermMatrix
    pks: np.ndarray                # int64, ascending: the store key of each row
    ids: list[str]                 # paper id of each row
    published: np.ndarray          # int32 YYYYMMDD per row, 0 when unknown
    categories: list[str]          # category names, sorted
    category_ptr: np.ndarray       # int64: rows of category c are category_rows[ptr[c]:ptr[c+1]]
    category_rows: np.ndarray      # int32
    params: BM25Params = field(default_factory=BM25Params)
    signature: dict = field(default_factory=dict)  # which state of the store this describes
    analyzer: Analyzer = field(default_factory=Analyzer)

    @property
    def n_docs(self) -> int:
        return self.matrix.n_docs

    def term_ids(self, words: Iterable[str]) -> list[tuple[str, int]]:
        """(word, term id) for each distinct term among the words that the index knows."""
        found: dict[int, str] = {}
        for word in words:
            tid = self.vocabulary.get(self.analyzer.term(word))
            if tid is not None:
                found.setdefault(tid, word)
        return [(w, t) for t, w in found.items()]

    def rows_of(self, pks: np.ndarray) -> np.ndarray:
        """Rows of the given store keys (keys the index lacks are left out)."""
        pks = np.asarray(pks, dtype=np.int64)
        pos = np.searchsorted(self.pks, pks)
        pos = np.minimum(pos, max(len(self.pks) - 1, 0))
        return pos[self.pks[pos] == pks] if len(self.pks) else pos[:0]

    def filter_mask(self, categories: Sequence[str], since: str | None, until: str | None) -> np.ndarray | None:
        """Rows passing the filters (the same rules as the store's SQL), or None for all."""
        if not categories and not since and not until:
            return None
        mask = np.ones(self.n_docs, dtype=bool)
        if categories:
            mask &= self._category_mask(categories)
        if since:
            mask &= self.published >= _day_number(since)
        if until:
            mask &= (self.published > 0) & (self.published <= _day_number(until))
        return mask

    def _category_mask(self, wanted: Sequence[str]) -> np.ndarray:
        # 'q-bio' also means every 'q-bio.*' (SQL: = or LIKE 'q-bio.%', LIKE ignoring ASCII case).
        mask = np.zeros(self.n_docs, dtype=bool)
        prefixes = tuple(w.lower() + "." for w in wanted)
        for c, name in enumerate(self.categories):
            if name in wanted or name.lower().startswith(prefixes):
                mask[self.category_rows[self.category_ptr[c]:self.category_ptr[c + 1]]] = True
        return mask


def _day_number(day: str) -> int:
    digits = day.replace("-", "")[:8]
    return int(digits) if digits.isdigit() and len(digits) == 8 else 0


def build(rows: Iterable[PaperRow], params: BM25Params = DEFAULT_BM25, signature: dict | None = None,
          chunk: int = 1024) -> KeywordIndex:
    """Index papers' title, abstract and author names; rows must come in ascending pk order."""
    started = time.perf_counter()
    analyzer = Analyzer()
    ids = TermIds(analyzer)
    counter = PairCounter(len(FIELDS))
    pks, paper_ids, published, cats = array("q"), [], array("i"), []
    batch: list[PaperRow] = []

    def add(batch: list[PaperRow]) -> None:
        encoded = [ids.encode([row[2 + f] for row in batch]) for f in range(len(FIELDS))]
        counter.add([e[0] for e in encoded], np.stack([e[1] for e in encoded]))

    for row in rows:
        pk, pid, _, _, _, day, categories = row
        pks.append(pk)
        paper_ids.append(pid)
        published.append(_day_number(day or ""))
        cats.append(categories)
        batch.append(row)
        if len(batch) == chunk:
            add(batch)
            batch = []
            if len(pks) % (5 * chunk) == 0:
                log.info("keyword index: read %d papers (%.1f s)", len(pks), time.perf_counter() - started)
    if batch:
        add(batch)
    names, ptr, cat_rows = _category_postings(cats)
    index = KeywordIndex(vocabulary=ids.vocabulary, matrix=counter.matrix(len(ids.vocabulary), params),
                         pks=np.array(pks, dtype=np.int64), ids=paper_ids,
                         published=np.array(published, dtype=np.int32), categories=names,
                         category_ptr=ptr, category_rows=cat_rows, params=params,
                         signature=dict(signature or {}), analyzer=analyzer)
    log.info("keyword index: %d papers, %d terms, %d postings in %.1f s", index.n_docs,
             len(index.vocabulary), len(index.matrix.docs), time.perf_counter() - started)
    return index


def _category_postings(cats: list[Sequence[str]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    names = sorted({c for row in cats for c in row})
    number = {c: i for i, c in enumerate(names)}
    pairs = sorted((number[c], row) for row, cs in enumerate(cats) for c in set(cs))
    ptr = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(np.bincount(np.array([p[0] for p in pairs], dtype=np.int64), minlength=len(names)),
              out=ptr[1:])
    rows = np.array([p[1] for p in pairs], dtype=np.int32)
    return names, ptr, rows
