"""BM25F over a term -> (document, weight) matrix held in numpy arrays (pure).

Every (term, document) pair's contribution to a score is worked out once, when
the index is built; a query then only adds up the rows of its terms
(``np.bincount``) and picks the best with ``np.argpartition``. That is a few
milliseconds for a 25-word query over 80k papers, where SQLite's ``bm25()``
needs ~150 ms because it recomputes every matched document's score per query.

The formula (BM25F, with Lucene's always-positive idf)::

    tf~(t, d)    = sum over fields f of  w_f * tf_f(t, d) / (1 - b_f + b_f * len_f(d) / avglen_f)
    score(q, d)  = sum over terms t in q of  idf(t) * tf~ * (k1 + 1) / (tf~ + k1)
    idf(t)       = ln(1 + (N - df + 0.5) / (df + 0.5))

See docs/search.md for why these parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FIELDS = ("title", "abstract", "authors")


@dataclass(frozen=True)
class BM25Params:
    """BM25F knobs, one value per field where it says so (title, abstract, authors)."""

    k1: float = 0.9
    b: tuple[float, float, float] = (0.5, 0.5, 0.5)
    weights: tuple[float, float, float] = (1.5, 1.0, 0.5)

    def as_dict(self) -> dict:
        return {"k1": self.k1, "b": list(self.b), "weights": list(self.weights)}


DEFAULT_BM25 = BM25Params()


@dataclass
class TermMatrix:
    """Postings by term: documents ``docs[indptr[t]:indptr[t+1]]`` contain term ``t``,
    each adding ``weights[...]`` to its score (CSC layout, documents ascending)."""

    indptr: np.ndarray   # int64, n_terms + 1
    docs: np.ndarray     # int32, one per posting
    weights: np.ndarray  # float32, one per posting
    n_docs: int

    def df(self, term: int) -> int:
        return int(self.indptr[term + 1] - self.indptr[term])


@dataclass
class Counts:
    """Raw term frequencies before weighting: one column per (term, document) pair."""

    indptr: np.ndarray   # int64, n_terms + 1
    docs: np.ndarray     # int32
    tf: np.ndarray       # uint8, (n_fields, n_pairs): a field's tf above 255 counts as 255
    lengths: np.ndarray  # float64, (n_fields, n_docs): tokens per field


def idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """Lucene's BM25 idf: positive for every term, even one in every document."""
    df = np.asarray(df, dtype=np.float64)
    return np.log1p((n_docs - df + 0.5) / (df + 0.5))


class PairCounter:
    """Counts (term, document, field) occurrences chunk of documents by chunk, then lays
    the pairs out by term with a counting sort: no sort of all the postings at once, and
    little more memory than the postings themselves (about 11 bytes a pair, then 8).
    With ``spill`` (a folder), counted chunks wait on disk instead of in memory."""

    def __init__(self, n_fields: int = len(FIELDS), spill: Path | None = None) -> None:
        self.n_fields = n_fields
        self.n_docs = 0
        self._spill = spill
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = []  # sorted by (term, doc)
        self._lengths: list[np.ndarray] = []
        self._starts: list[int] = []  # first document of each chunk
        self._df_so_far = np.zeros(0, dtype=np.int64)  # documents per term, over the chunks counted

    def add(self, tokens: Sequence[np.ndarray], lengths: np.ndarray) -> None:
        """The next documents: ``tokens[f]`` holds field f's term ids, document after document;
        ``lengths[f, d]`` says how many of them belong to document d."""
        lengths = np.asarray(lengths, dtype=np.int64).reshape(self.n_fields, -1)
        self._parts.append(None)
        self._lengths.append(lengths)
        self._starts.append(self.n_docs)
        self._put(len(self._parts) - 1, tokens, lengths)
        self.n_docs += lengths.shape[1]

    def recount(self, chunk: int, tokens: Sequence[np.ndarray], lengths: np.ndarray) -> None:
        """Count chunk number ``chunk`` (in the order added) again, from its documents' new text."""
        lengths = np.asarray(lengths, dtype=np.int64).reshape(self.n_fields, -1)
        if lengths.shape != self._lengths[chunk].shape:
            raise ValueError(f"chunk {chunk} holds {self._lengths[chunk].shape[1]} documents, "
                             f"not {lengths.shape[1]}")
        self._lengths[chunk] = lengths
        self._count_df(self._part(chunk)[0], -1)  # its old terms go first
        self._put(chunk, tokens, lengths)

    def _put(self, chunk: int, tokens: Sequence[np.ndarray], lengths: np.ndarray) -> None:
        terms, docs, tf = _count_chunk(tokens, lengths)
        self._count_df(terms, 1)
        part = (terms, (docs + self._starts[chunk]).astype(np.int32), tf)
        if self._spill is None:
            self._parts[chunk] = part
            return
        self._spill.mkdir(parents=True, exist_ok=True)
        for name, array in zip(("terms", "docs", "tf"), part):
            np.save(self._spill / f"{chunk}.{name}.npy", array, allow_pickle=False)

    def _part(self, chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        part = self._parts[chunk]
        if part is not None:
            return part
        return tuple(np.load(self._spill / f"{chunk}.{name}.npy", allow_pickle=False)  # type: ignore[return-value]
                     for name in ("terms", "docs", "tf"))

    def counts(self, n_terms: int) -> Counts:
        """The raw counts, by term (used up: the counter is empty afterwards)."""
        lengths = self._all_lengths()
        indptr, (docs, tf) = self._lay_out(n_terms, lambda terms, docs, tf: (docs, tf))
        return Counts(indptr=indptr, docs=docs, tf=tf, lengths=lengths)

    def matrix(self, n_terms: int, params: BM25Params) -> TermMatrix:
        """Each posting's BM25F contribution (see the module docstring), by term (used up)."""
        lengths = self._all_lengths()
        n_docs = self.n_docs
        norm = _length_norms(lengths, params)
        df = self._df(n_terms)
        term_idf = idf(df, n_docs).astype(np.float32)

        def weights(terms: np.ndarray, docs: np.ndarray, tf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return docs, _posting_weights(tf, norm[:, docs], term_idf[terms], params)

        indptr, (docs, w) = self._lay_out(n_terms, weights, df)
        return TermMatrix(indptr=indptr, docs=docs, weights=w, n_docs=n_docs)

    def _all_lengths(self) -> np.ndarray:
        if not self._lengths:
            return np.zeros((self.n_fields, 0))
        return np.concatenate(self._lengths, axis=1).astype(np.float64)

    def _count_df(self, terms: np.ndarray, sign: int) -> None:
        """Each (term, document) pair of a chunk adds one to its term's document count."""
        counts = np.bincount(terms)
        if len(counts) > len(self._df_so_far):
            self._df_so_far = np.concatenate((self._df_so_far, np.zeros(len(counts) - len(self._df_so_far),
                                                                         dtype=np.int64)))
        self._df_so_far[:len(counts)] += sign * counts

    def _df(self, n_terms: int) -> np.ndarray:
        df = np.zeros(n_terms, dtype=np.int64)
        df[:len(self._df_so_far)] = self._df_so_far[:n_terms]
        return df

    def _lay_out(self, n_terms: int, columns, df: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
        """indptr, and the arrays ``columns(terms, docs, tf)`` gives per part, placed by term.
        Parts come in document order, so each term's documents stay ascending."""
        df = self._df(n_terms) if df is None else df
        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        cursor = indptr[:-1].copy()
        out: tuple | None = None
        for chunk in range(len(self._parts)):
            terms, docs, tf = self._part(chunk)
            self._parts[chunk] = None
            values = columns(terms, docs, tf)
            if out is None:
                out = tuple(np.empty(v.shape[:-1] + (int(indptr[-1]),), dtype=v.dtype) for v in values)
            if not len(terms):
                continue
            first = np.flatnonzero(np.concatenate(([True], terms[1:] != terms[:-1])))
            runs = np.diff(np.append(first, len(terms)))
            place = cursor[terms] + (np.arange(len(terms)) - np.repeat(first, runs))
            for target, value in zip(out, values):
                target[..., place] = value
            cursor[terms[first]] += runs
        if out is None:
            out = (np.zeros(0, np.int32), np.zeros((self.n_fields, 0), np.uint8))
        self._parts, self._lengths, self._starts, self.n_docs = [], [], [], 0
        self._df_so_far = np.zeros(0, dtype=np.int64)
        return indptr, out


def count_pairs(tokens: Sequence[np.ndarray], lengths: np.ndarray, n_terms: int,
                chunk: int = 4096) -> Counts:
    """Term frequencies per (term, document, field) from each field's whole token stream
    (``PairCounter`` for documents that arrive a chunk at a time)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    ends = np.cumsum(lengths, axis=1)
    starts = ends - lengths
    counter = PairCounter(len(tokens))
    for lo in range(0, lengths.shape[1], chunk):
        hi = min(lo + chunk, lengths.shape[1])
        counter.add([np.asarray(t)[starts[f, lo]:ends[f, hi - 1]] for f, t in enumerate(tokens)],
                    lengths[:, lo:hi])
    return counter.counts(n_terms)


def _count_chunk(tokens: Sequence[np.ndarray], lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(term, document, tf per field) for a chunk's documents, sorted by (term, document)."""
    n_fields, span = lengths.shape
    n_terms = 1 + max((int(t.max()) for t in tokens if len(t)), default=0)
    # One sortable key per token; 32 bits when they fit (sorts about twice as fast).
    kind = np.int32 if n_terms * span * n_fields < 2**31 else np.int64
    keys = []
    for f, stream in enumerate(tokens):
        local = np.repeat(np.arange(span, dtype=kind), lengths[f])
        keys.append((np.asarray(stream).astype(kind) * kind(span) + local) * kind(n_fields) + kind(f))
    key = np.sort(np.concatenate(keys)) if keys else np.zeros(0, np.int64)
    if not len(key):
        return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros((n_fields, 0), np.uint8)
    # Runs of equal keys are one (term, document, field) triple; their length is its tf.
    first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    counts = np.diff(np.append(first, len(key)))
    pair, field = np.divmod(key[first], n_fields)
    new_pair = np.concatenate(([True], pair[1:] != pair[:-1]))
    tf = np.zeros((n_fields, int(new_pair.sum())), dtype=np.uint8)
    tf[field, np.cumsum(new_pair) - 1] = np.minimum(counts, np.iinfo(np.uint8).max)
    term, doc = np.divmod(pair[new_pair], span)
    return term.astype(np.int32), doc.astype(np.int32), tf


def _length_norms(lengths: np.ndarray, params: BM25Params) -> np.ndarray:
    """1 - b + b * len / avglen per field and document (float32)."""
    n_docs = lengths.shape[1]
    avg = lengths.mean(axis=1, keepdims=True) if n_docs else np.ones((len(params.b), 1))
    avg[avg == 0] = 1.0
    return (1.0 - np.asarray(params.b)[:, None] * (1.0 - lengths / avg)).astype(np.float32)


def _posting_weights(tf: np.ndarray, norm: np.ndarray, term_idf: np.ndarray, params: BM25Params) -> np.ndarray:
    pseudo = np.zeros(tf.shape[1], dtype=np.float32)
    for f, weight in enumerate(params.weights):
        pseudo += np.float32(weight) * tf[f] / norm[f]
    return (term_idf * pseudo * np.float32(params.k1 + 1.0) / (pseudo + np.float32(params.k1))).astype(np.float32)


def weigh(counts: Counts, params: BM25Params) -> TermMatrix:
    """Each posting's BM25F contribution (see the module docstring)."""
    n_docs = counts.lengths.shape[1]
    norm = _length_norms(counts.lengths, params)
    term_idf = idf(np.diff(counts.indptr), n_docs).astype(np.float32)
    per_posting = np.repeat(term_idf, np.diff(counts.indptr))
    return TermMatrix(indptr=counts.indptr, docs=counts.docs,
                      weights=_posting_weights(counts.tf, norm[:, counts.docs], per_posting, params),
                      n_docs=n_docs)


def score(matrix: TermMatrix, terms: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(score, number of the terms matched) for every document."""
    if not terms:
        return np.zeros(matrix.n_docs), np.zeros(matrix.n_docs, dtype=np.int64)
    spans = [slice(int(matrix.indptr[t]), int(matrix.indptr[t + 1])) for t in terms]
    docs = np.concatenate([matrix.docs[s] for s in spans])
    weights = np.concatenate([matrix.weights[s] for s in spans])
    scores = np.bincount(docs, weights=weights, minlength=matrix.n_docs)
    matched = np.bincount(docs, minlength=matrix.n_docs)
    return scores, matched


def top_rows(scores: np.ndarray, k: int, *, allowed: np.ndarray | None = None,
             first: np.ndarray | None = None) -> np.ndarray:
    """Rows of the ``k`` best positive scores, best first; ties go to the lower row.

    ``allowed`` (bool per row) drops rows; rows where ``first`` is true rank above all others.
    """
    keep = scores > 0
    if allowed is not None:
        keep &= allowed
    rows = np.flatnonzero(keep)
    if k <= 0 or not len(rows):
        return rows[:0]
    key = scores[rows].astype(np.float64)
    if first is not None:
        key = key + np.where(first[rows], key.max() + 1.0, 0.0)
    if len(rows) > k:
        part = np.argpartition(-key, k - 1)[:k]
        rows, key = rows[part], key[part]
    return rows[np.lexsort((rows, -key))]
