"""Phrase postings: which papers hold each pair of neighbouring words (index/phrases.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from papertide.index import phrases
from papertide.index.keyword_index import Builder
from papertide.index.phrases import PhraseCounter
from papertide.index.query import parse_query
from papertide.model import make_record
from papertide.rank.keyword import adjacent_pairs, phrase_match
from papertide.sources.base import Page
from papertide.store import keyword_files, open_store

# A document is (title term ids, abstract term ids); small ids so pairs repeat.
DOCS = st.lists(st.tuples(st.lists(st.integers(0, 7), max_size=6), st.lists(st.integers(0, 7), max_size=12)),
                max_size=25)


def brute_force(docs: list[tuple[list[int], list[int]]], skip: set[int]) -> dict[tuple[int, int], list[int]]:
    found: dict[tuple[int, int], set[int]] = {}
    for row, fields in enumerate(docs):
        for field in fields:
            for pair in zip(field, field[1:]):
                if not skip & set(pair):
                    found.setdefault(pair, set()).add(row)
    return {pair: sorted(rows) for pair, rows in found.items()}


def count(docs, skip: set[int], chunk: int, spill: Path | None = None, counter: PhraseCounter | None = None):
    mask = np.zeros(8, dtype=bool)
    mask[list(skip)] = True
    counter = counter or PhraseCounter(spill=spill)
    for lo in range(0, len(docs), chunk):
        part = docs[lo:lo + chunk]
        fields = [np.array([t for d in part for t in d[f]], dtype=np.int32) for f in (0, 1)]
        lengths = np.array([[len(d[f]) for d in part] for f in (0, 1)])
        counter.add(fields, lengths, mask)
    return counter


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=DOCS, skip=st.sets(st.integers(0, 7), max_size=2), chunk=st.integers(1, 7))
def test_rows_of_each_pair_are_exactly_the_documents_holding_it(tmp_path: Path, docs, skip, chunk) -> None:
    expected = brute_force(docs, skip)
    for spill in (None, tmp_path / f"spill-{chunk}-{len(docs)}"):
        index = count(docs, skip, chunk, spill).finish()
        for a in range(8):
            for b in range(8):
                assert index.rows(a, b).tolist() == expected.get((a, b), []), (a, b, spill)
        assert index.size == sum(len(rows) for rows in expected.values())


def test_a_chunk_counted_again_replaces_what_it_held_before() -> None:
    docs = [([1, 2], [3, 4, 5]), ([2, 3], [1, 2]), ([5, 6], [6, 5])]
    changed = [([7, 7], [7, 7]), ([2, 3], [1, 2]), ([5, 6], [6, 5])]
    counter = count(changed[:2], set(), chunk=2)
    count(changed[2:], set(), chunk=2, counter=counter)
    fields = [np.array([t for d in docs[:2] for t in d[f]], dtype=np.int32) for f in (0, 1)]
    counter.recount(0, fields, np.array([[len(d[f]) for d in docs[:2]] for f in (0, 1)]), np.zeros(8, dtype=bool))
    index = counter.finish()
    assert index.rows(7, 7).tolist() == []
    assert index.rows(1, 2).tolist() == [0, 1] and index.rows(6, 5).tolist() == [2]


PAPERS = [
    dict(id="2503.00001", title="Large language models for clinical notes",
         abstract="We adapt language models to clinical text; models of language are compared.",
         authors=["A One"], categories=["cs.CL"], published="2025-03-01"),
    dict(id="2503.00002", title="Segmenting CT volumes from a few clicks",
         abstract="Interactive segmentation of 3D CT volumes with a foundation model for medical images.",
         authors=["B Two"], categories=["eess.IV"], published="2025-03-02"),
    dict(id="2503.00003", title="Medical image segmentation with language guidance",
         abstract="Language-guided medical image segmentation; the model reads clinical notes.",
         authors=["C Three"], categories=["cs.CV"], published="2025-03-03"),
]


def test_phrase_rows_agree_with_fts5_phrases_and_survive_a_reload(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    store = open_store(str(db))
    store.ingest(Page(records=[make_record(source="t", **p) for p in PAPERS]))
    index = store.keyword_index()
    queries = ["large language models", "medical image segmentation", "clinical notes", "CT volumes",
               "models language", "language guided segmentation", "foundation model for medical images"]
    checked = 0
    for query in queries:
        for pair in adjacent_pairs(parse_query(query).words):
            rows = index.phrase_rows(*pair)
            if rows is None:  # a stopword: FTS5 answers
                assert {"for", "of", "a", "from"} & set(pair)
                continue
            assert sorted(rows.tolist()) == sorted(index.rows_of(store.matching_pks(phrase_match(pair))).tolist())
            checked += 1
    assert checked >= 10
    assert index.phrase_rows("language", "models").tolist() == [0]  # "models of language" is not the phrase
    assert index.phrase_rows("medical", "zzzunknown").tolist() == []
    reloaded = keyword_files.load(keyword_files.folder_for(db), index.signature, index.params)
    assert reloaded is not None and reloaded.phrases is not None
    assert reloaded.phrase_rows("image", "segmentation").tolist() == index.phrase_rows("image", "segmentation").tolist()
    store.close()


def test_builder_counts_retitled_papers_again() -> None:
    rows = [(n + 1, f"2503.{n:05d}", f"Tumour segmentation {n}", "Organ masks from scans.", "A B", "2025-03-01", ["cs.CV"])
            for n in range(10)]
    retitled = [(pk, pid, "Retinal vessel maps", abstract, *rest) for pk, pid, _, abstract, *rest in rows[:4]]
    builder = Builder(chunk=4)
    builder.add(rows)
    for first, last in builder.chunk_spans([1, 2]):
        builder.recount(retitled[first - 1:last])
    index = builder.finish()
    assert index.phrase_rows("tumour", "segmentation").tolist() == list(range(4, 10))
    assert index.phrase_rows("retinal", "vessel").tolist() == [0, 1, 2, 3]
    assert index.phrase_rows("organ", "masks").tolist() == list(range(10))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 9)), max_size=80))
def test_both_ways_of_sorting_a_chunk_give_its_distinct_entries_in_bucket_order(entries) -> None:
    key = np.array([(a << 32) | b for a, b, _ in entries], dtype=np.int64)
    doc = np.array([d for _, _, d in entries], dtype=np.int64)
    expected = sorted({((int(k) ^ (int(k) >> 32)) % phrases.BUCKETS, int(k), int(d)) for k, d in zip(key, doc)})
    for n_docs in (10, 2**60):  # the one-number sort, and the lexsort it falls back to
        k, d, b = phrases._sorted_unique(key, doc, n_docs)
        assert list(zip(b.tolist(), k.tolist(), d.tolist())) == expected
