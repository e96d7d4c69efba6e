"""The in-memory keyword index: BM25F postings plus what filters need (pure).

Built from the papers' text by ``build``; saved and loaded by the store
(``store/keyword_files.py``), which alone touches files. Rows are papers in
ascending store key (``pks``) order.
"""

from __future__ import annotations

import functools
import logging
import time
from array import array
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import orjson

from papertide.index.analyze import STOPWORDS, Analyzer, TermIds
from papertide.index.bm25 import (
    DEFAULT_BM25,
    FIELDS,
    BM25Params,
    PairCounter,
    TermMatrix,
)
from papertide.index.phrases import PhraseCounter, PhraseIndex

log = logging.getLogger(__name__)

# (pk, id, title, abstract, author_names, published, categories): categories as a list, or
# as the JSON text the store keeps (parsed a batch at a time as papers are added)
PaperRow = tuple[int, str, str, str, str, str, Sequence[str] | str]


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
    phrases: PhraseIndex | None = None  # rows per pair of neighbouring terms (title, abstract)

    @property
    def n_docs(self) -> int:
        return self.matrix.n_docs

    def phrase_rows(self, first: str, second: str) -> np.ndarray | None:
        """Rows whose title or abstract has the word ``first`` right before ``second``
        (as terms: stemmed), or None when this index cannot tell (no phrase postings, or a
        stopword: ask FTS5)."""
        if self.phrases is None:
            return None
        terms = [self.analyzer.term(first), self.analyzer.term(second)]
        if any(t in _stop_terms() for t in terms):
            return None
        ids = [self.vocabulary.get(t) for t in terms]
        if ids[0] is None or ids[1] is None:
            return np.zeros(0, dtype=np.int32)  # a word no paper has
        return self.phrases.rows(ids[0], ids[1])

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


@functools.cache
def _stop_terms() -> frozenset[str]:
    """The index terms of the stopwords (pairs holding one get no phrase postings)."""
    return frozenset(Analyzer().stems(sorted(STOPWORDS)))


def _text_hash(row: PaperRow) -> int:
    """What ``Builder.update`` compares to tell a paper's counted text from its text now
    (Python's string hash: the same within one process, which is all it needs)."""
    return hash((row[2], row[3], row[4]))


def _day_numbers(days: list[str | None]) -> np.ndarray:
    """``_day_number`` of each day (int32): 'YYYY-MM-DD', what the store keeps, by numpy;
    anything else one by one."""
    days = [d or "" for d in days]
    plain = [d if len(d) == 10 and d.isascii() else "" for d in days]
    raw = np.array(plain, dtype="S10").view(np.uint8).reshape(len(days), 10).astype(np.int32)
    digits = raw[:, [0, 1, 2, 3, 5, 6, 8, 9]] - ord("0")
    ok = ((digits >= 0) & (digits <= 9)).all(axis=1) & (raw[:, 4] == ord("-")) & (raw[:, 7] == ord("-"))
    out = np.where(ok, digits @ np.array([10**7, 10**6, 10**5, 10**4, 1000, 100, 10, 1], dtype=np.int32), 0)
    for at in np.flatnonzero(~ok).tolist():
        if days[at]:
            out[at] = _day_number(days[at])
    return out.astype(np.int32)


def _day_number(day: str) -> int:
    digits = day.replace("-", "")[:8]
    return int(digits) if digits.isdigit() and len(digits) == 8 else 0


def build(rows: Iterable[PaperRow], params: BM25Params = DEFAULT_BM25, signature: dict | None = None,
          chunk: int = 1024) -> KeywordIndex:
    """Index papers' title, abstract and author names; rows must come in ascending pk order."""
    builder = Builder(chunk=chunk)
    builder.add(rows)
    return builder.finish(params, signature)


class Builder:
    """A keyword index built from papers that arrive in batches (ascending pks, each batch
    after the last), as a long ingest commits them; papers changed after they were counted
    are counted again with ``recount``. ``build`` is the one-batch case."""

    def __init__(self, chunk: int = 1024, spill: Path | None = None) -> None:
        self.started = time.perf_counter()
        self.chunk = chunk
        self.analyzer = Analyzer()
        self._ids = TermIds(self.analyzer)
        self._counter = PairCounter(len(FIELDS), spill=spill)
        self._phrases = PhraseCounter(spill=spill)
        self.pks = array("q")
        self._paper_ids: list[str] = []
        self._published = array("i")
        self._cats: list[Sequence[str]] = []
        self._texts = array("q")  # hash of each paper's text as counted (``update`` compares)
        self._pending: list[PaperRow] = []  # fewer than a chunk, not counted yet

    @property
    def last_pk(self) -> int:
        return self.pks[-1] if self.pks else 0

    def add(self, rows: Iterable[PaperRow]) -> None:
        rows = iter(rows)
        while batch := list(islice(rows, self.chunk - len(self._pending))):  # up to the next chunk
            pks = np.array([row[0] for row in batch], dtype=np.int64)
            if pks[0] <= self.last_pk or (np.diff(pks) <= 0).any():
                late = int(pks[0]) if pks[0] <= self.last_pk else int(pks[1:][np.diff(pks) <= 0][0])
                raise ValueError(f"paper pk {late} arrived after a larger or equal pk")
            self.pks.extend(pks.tolist())
            self._paper_ids.extend([row[1] for row in batch])
            self._published.extend(_day_numbers([row[5] for row in batch]).tolist())
            self._cats.extend(_categories([row[6] for row in batch]))
            self._texts.extend(map(_text_hash, batch))
            self._pending.extend(batch)
            if len(self._pending) == self.chunk:
                self._count(self._pending)
                self._pending = []
                if len(self.pks) % (20 * self.chunk) == 0:
                    log.info("keyword index: read %d papers (%.1f s)", len(self.pks),
                             time.perf_counter() - self.started)

    def update(self, rows: Iterable[PaperRow]) -> list[int]:
        """Papers read again after they changed (any pks already added, in any order): their
        id, date and categories are taken as they are now, and so is the text of those not
        counted yet. Returns the pks whose counted text differs, for ``chunk_spans``."""
        pks = np.frombuffer(self.pks, dtype=np.int64)
        counted = len(self.pks) - len(self._pending)
        recount = []
        for row in rows:
            at = int(np.searchsorted(pks, row[0]))
            if at == len(pks) or pks[at] != row[0]:
                raise ValueError(f"paper pk {row[0]} was never added")
            self._take_row(at, row)
            if at >= counted:
                self._pending[at - counted] = row
                self._texts[at] = _text_hash(row)
            elif _text_hash(row) != self._texts[at]:
                recount.append(row[0])
        return recount

    def chunk_spans(self, pks: Iterable[int]) -> list[tuple[int, int]]:
        """(first pk, last pk) of each stretch of papers that must be read again so that
        these papers count as they are now: the counted chunks holding them, and the
        papers not counted yet."""
        rows = np.unique(np.searchsorted(np.frombuffer(self.pks, dtype=np.int64), list(pks)))
        rows = rows[rows < len(self.pks)]
        counted = len(self.pks) - len(self._pending)
        spans = {(int(r) // self.chunk) for r in rows if r < counted}
        out = [(self.pks[c * self.chunk], self.pks[(c + 1) * self.chunk - 1]) for c in sorted(spans)]
        if self._pending and (rows >= counted).any():
            out.append((self._pending[0][0], self._pending[-1][0]))
        return out

    def recount(self, rows: Sequence[PaperRow]) -> None:
        """Rows read again for one of ``chunk_spans``: exactly the papers of that stretch."""
        if not rows:
            return
        first = int(np.searchsorted(np.frombuffer(self.pks, dtype=np.int64), rows[0][0]))
        if tuple(self.pks[first:first + len(rows)]) != tuple(r[0] for r in rows):
            raise ValueError("the papers read again are not those counted before")
        for at, row in enumerate(rows, first):
            self._take_row(at, row)
            self._texts[at] = _text_hash(row)
        counted = len(self.pks) - len(self._pending)
        if first >= counted:
            self._pending = list(rows)
        else:
            self._count(rows, first // self.chunk)

    def _take_row(self, at: int, row: PaperRow) -> None:
        """Paper number ``at``'s id, date and categories as ``row`` has them now."""
        self._paper_ids[at] = row[1]
        self._published[at] = _day_number(row[5] or "")
        self._cats[at] = _categories([row[6]])[0]

    def finish(self, params: BM25Params = DEFAULT_BM25, signature: dict | None = None) -> KeywordIndex:
        if self._pending:
            self._count(self._pending)
            self._pending = []
        names, ptr, cat_rows = _category_postings(self._cats)
        vocabulary = self._ids.vocabulary
        # What only counting needed goes before the layout, the build's peak of memory.
        self._ids, self._cats = TermIds(self.analyzer), []
        self.analyzer.forget()
        # The phrase postings are laid out on a thread beside the BM25 postings: both are
        # numpy work that lets go of the GIL, and what each adds to memory is small.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="papertide-phrases") as pool:
            phrases = pool.submit(self._phrases.finish)
            matrix = self._counter.matrix(len(vocabulary), params)
            index = KeywordIndex(vocabulary=vocabulary, matrix=matrix, pks=np.array(self.pks, dtype=np.int64),
                                 ids=self._paper_ids, published=np.array(self._published, dtype=np.int32),
                                 categories=names, category_ptr=ptr, category_rows=cat_rows, params=params,
                                 signature=dict(signature or {}), analyzer=self.analyzer,
                                 phrases=phrases.result())
        log.info("keyword index: %d papers, %d terms, %d postings, %d phrase postings in %.1f s", index.n_docs,
                 len(index.vocabulary), len(index.matrix.docs), index.phrases.size,
                 time.perf_counter() - self.started)
        return index

    def _count(self, rows: Sequence[PaperRow], chunk: int | None = None) -> None:
        """Count a chunk of papers: the next one, or chunk number ``chunk`` again."""
        encoded = [self._ids.encode([row[2 + f] for row in rows]) for f in range(len(FIELDS))]
        tokens, lengths = [e[0] for e in encoded], np.stack([e[1] for e in encoded])
        skip = np.zeros(len(self._ids.vocabulary), dtype=bool)
        skip[[t for t in map(self._ids.vocabulary.get, _stop_terms()) if t is not None]] = True
        title_abstract = tokens[:2], lengths[:2]
        if chunk is None:
            self._counter.add(tokens, lengths)
            self._phrases.add(*title_abstract, skip)
        else:
            self._counter.recount(chunk, tokens, lengths)
            self._phrases.recount(chunk, *title_abstract, skip)


def _categories(values: list[Sequence[str] | str]) -> list[Sequence[str]]:
    """Category lists; those given as the JSON text the store keeps are parsed in one call."""
    stored = [at for at, value in enumerate(values) if isinstance(value, str)]
    if stored:
        values = list(values)
        for at, value in zip(stored, orjson.loads("[" + ",".join(values[at] for at in stored) + "]")):
            values[at] = value
    return values  # type: ignore[return-value]


def _category_postings(cats: list[Sequence[str]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    names = sorted({c for row in cats for c in row})
    number = {c: i for i, c in enumerate(names)}
    codes = np.fromiter((number[c] for row in cats for c in row), dtype=np.int64)
    rows = np.repeat(np.arange(len(cats), dtype=np.int64), np.fromiter(map(len, cats), dtype=np.int64,
                                                                         count=len(cats)))
    # One sort by (category, row), which also drops a category a row lists twice.
    pairs = np.unique(codes * max(len(cats), 1) + rows)
    codes, rows = np.divmod(pairs, max(len(cats), 1))
    ptr = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(np.bincount(codes, minlength=len(names)), out=ptr[1:])
    return names, ptr, rows.astype(np.int32)
