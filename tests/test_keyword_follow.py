"""The keyword index built beside a long ingest (store/keyword_follow.py), against real
SQLite files and a real follower process: it must equal a rebuild from scratch, and any
failure must fall back to that rebuild."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from papertide.index.bm25 import DEFAULT_BM25
from papertide.index.keyword_index import Builder, KeywordIndex, build
from papertide.model import make_record
from papertide.sources.base import Page, SyncRequest
from papertide.store import open_store
from papertide.store.keyword_follow import LAST_PK, KeywordFollower, follow, paper_rows
from papertide.sync import run_sync

WORDS = "graph neural network segmentation retrieval clinical language model volume ct mri".split()


def paper(n: int, *, title: str | None = None, categories: tuple[str, ...] = ("cs.CV",), version: int = 1,
          published: str | None = None):
    words = " ".join(WORDS[(n * k) % len(WORDS)] for k in range(1, 9))
    return make_record(id=f"2501.{n:05d}", source="t", title=title or f"Paper {n} on {WORDS[n % len(WORDS)]}",
                       abstract=f"We study {words}. Number {n}, naïve Schrödinger café.", authors=[f"Ada {n}", "Bo Li"],
                       categories=list(categories), published=published or f"2025-01-{1 + n % 28:02d}",
                       version=version)


class Pages:
    name = "t"

    def __init__(self, pages: list[list]) -> None:
        self._pages = pages

    def pages(self, request: SyncRequest, checkpoints: dict) -> Iterator[Page]:
        for records in self._pages:
            yield Page(records=records, fetched=len(records))


def same_index(a: KeywordIndex, b: KeywordIndex) -> None:
    assert a.signature == b.signature
    assert np.array_equal(a.pks, b.pks) and a.ids == b.ids
    assert np.array_equal(a.published, b.published) and a.categories == b.categories
    assert np.array_equal(a.category_ptr, b.category_ptr) and np.array_equal(a.category_rows, b.category_rows)
    by_term = {}
    for index in (a, b):
        m = index.matrix
        by_term[id(index)] = {t: (m.docs[m.indptr[i]:m.indptr[i + 1]].tolist(),
                                  np.round(m.weights[m.indptr[i]:m.indptr[i + 1]], 5).tolist())
                              for t, i in index.vocabulary.items()}
    assert by_term[id(a)] == by_term[id(b)]
    assert phrase_postings(a) == phrase_postings(b) != {}


def phrase_postings(index: KeywordIndex) -> dict[tuple[str, str], list[int]]:
    """(term, term) -> rows, whatever ids the terms got."""
    terms = sorted(index.vocabulary, key=index.vocabulary.__getitem__)
    p = index.phrases
    return {(terms[int(k) >> 32], terms[int(k) & 0xFFFFFFFF]): p.docs[p.indptr[i]:p.indptr[i + 1]].tolist()
            for i, k in enumerate(p.keys)}


def sync(tmp_path: Path, pages: list[list], caplog) -> tuple:
    store = open_store(str(tmp_path / "p.db"))
    store.follow_after = 1
    with caplog.at_level(logging.INFO, logger="papertide.store"):
        report = run_sync(Pages(pages), SyncRequest(), store)
    built = store.keyword_index()
    return store, report, built


def test_index_built_alongside_equals_a_rebuild(tmp_path: Path, caplog) -> None:
    store, report, built = sync(tmp_path, [[paper(n) for n in range(lo, lo + 300)] for lo in range(0, 1500, 300)],
                                caplog)
    assert report.new == 1500
    assert "built alongside the import" in caplog.text and "rebuilding" not in caplog.text
    same_index(built, store.rebuild_keyword_index())
    assert not list((tmp_path / "p.db.kw").glob("follow-*"))  # its scratch folder is gone


def test_papers_changed_after_they_were_counted_are_counted_again(tmp_path: Path, caplog) -> None:
    first = [paper(n) for n in range(1300)]
    # The second page retitles and recategorises papers the follower has counted already
    # (in its first chunks and in the part not yet counted), and adds new ones.
    changed = [paper(n, title=f"Renamed {n} transformer", categories=("eess.IV",), version=2)
               for n in (0, 5, 1100, 1299)]
    store, report, built = sync(tmp_path, [first, changed + [paper(n) for n in range(1300, 1400)]], caplog)
    assert report.updated == 4 and "rebuilding" not in caplog.text
    same_index(built, store.rebuild_keyword_index())
    row = int(np.searchsorted(built.pks, store.db.execute("SELECT pk FROM papers WHERE id = '2501.01100'").fetchone()[0]))
    assert built.filter_mask(["eess.IV"], None, None)[row]


def test_papers_given_an_earlier_date_are_noted_not_counted_again(tmp_path: Path, caplog) -> None:
    # The common change of a long import: a second source knows an earlier date.
    redated = [paper(n, published="2024-12-01") for n in (0, 7, 1100, 1299)]
    store, report, built = sync(tmp_path, [[paper(n) for n in range(1300)], redated], caplog)
    assert report.updated == 4 and "rebuilding" not in caplog.text
    same_index(built, store.rebuild_keyword_index())
    assert built.filter_mask([], None, "2024-12-31").sum() == 4


def test_the_builder_counts_again_only_papers_whose_text_changed() -> None:
    rows = [(n + 1, f"2503.{n:05d}", f"Tumour segmentation {n}", "Organ masks from scans.", "A B", "2025-03-01",
             ["cs.CV"]) for n in range(10)]
    redated = [(*rows[n][:5], "2024-01-02", ["eess.IV"]) for n in (1, 9)]  # row 9 is not counted yet
    retitled = [(*rows[n][:2], f"Retinal vessel maps {n}", *rows[n][3:]) for n in (2, 8)]
    builder = Builder(chunk=4)
    builder.add(rows)
    assert sorted(builder.update([*redated, *retitled])) == [3]  # pk 9 (row 8) is pending: taken as it is
    now = {row[0]: row for row in rows} | {row[0]: row for row in [*redated, *retitled]}
    for first, last in builder.chunk_spans([3]):
        builder.recount([now[pk] for pk in range(first, last + 1)])
    same_index(builder.finish(), build([now[pk] for pk in sorted(now)]))
    with pytest.raises(ValueError, match="never added"):
        builder.update([(99, *rows[0][1:])])


def papers_in_the_file(db: Path) -> int:
    """Papers in the database file itself, whatever the WAL holds."""
    alone = sqlite3.connect(db.resolve().as_uri() + "?immutable=1", uri=True)
    try:
        return alone.execute("SELECT count(*) FROM papers").fetchone()[0]
    finally:
        alone.close()


def test_the_follower_checkpoints_the_wal_that_the_writer_leaves_to_it(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    open_store(str(db)).close()  # the schema in the file
    store = open_store(str(db))
    other = sqlite3.connect(db)  # another connection keeps the store on its WAL
    other.execute("SELECT count(*) FROM papers").fetchone()
    store.db.execute("PRAGMA wal_autocheckpoint = 0")  # as the writer does while a follower runs
    store.ingest(Page(records=[paper(n) for n in range(300)], fetched=300))
    assert papers_in_the_file(db) == 0  # all in the WAL
    uid, generation = store.db.execute("SELECT store_uid, generation FROM keyword_state").fetchone()
    finish = {"signature": {"store": uid, "generation": generation}, "params": DEFAULT_BM25.as_dict()}
    replies: list[dict] = []
    follow(db, [json.dumps({"rows": [1, LAST_PK], "changed": []}), json.dumps({"finish": finish})], replies.append)
    assert replies[0]["ok"] and papers_in_the_file(db) == 300  # copied in before it answered
    other.close()


def test_the_follower_holds_no_lock_while_it_counts_what_it_read(tmp_path: Path) -> None:
    # On a rollback journal a writer cannot commit while a reader holds its lock: the follower
    # reads each statement whole before counting a paper of it.
    db = tmp_path / "p.db"
    store = open_store(str(db))
    store.ingest(Page(records=[paper(n) for n in range(3000)], fetched=3000))
    store.db.execute("PRAGMA journal_mode = DELETE")
    rows = paper_rows(sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True))
    assert next(rows)[0] == 1  # being counted
    store.db.execute("PRAGMA busy_timeout = 0")  # "database is locked" at once if it must wait
    store.db.execute("UPDATE papers SET title = 'Renamed' WHERE pk = 3000")
    assert len(list(rows)) == 2999


def test_a_sync_beside_a_reader_leaves_the_writer_checkpointing_again(tmp_path: Path, caplog) -> None:
    open_store(str(tmp_path / "p.db")).close()
    other = sqlite3.connect(tmp_path / "p.db")  # keeps the store on its WAL
    other.execute("SELECT count(*) FROM papers").fetchone()
    store, report, built = sync(tmp_path, [[paper(n) for n in range(lo, lo + 300)] for lo in range(0, 900, 300)],
                                caplog)
    assert "built alongside the import" in caplog.text and built.n_docs == 900
    assert papers_in_the_file(tmp_path / "p.db") == 900
    assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # the writer's own again
    other.close()


def test_a_dead_follower_falls_back_to_an_ordinary_rebuild(tmp_path: Path, caplog, monkeypatch) -> None:
    def dies(self, first, last, changed):  # noqa: ANN001
        self._process.kill()
        self._process.wait()
        self._send({"rows": [first, last], "changed": changed})

    monkeypatch.setattr(KeywordFollower, "committed", dies)
    store, report, built = sync(tmp_path, [[paper(n) for n in range(200)], [paper(n) for n in range(200, 400)]], caplog)
    assert report.new == 400 and "rebuilding" in caplog.text
    assert built.n_docs == 400
    assert not list((tmp_path / "p.db.kw").glob("follow-*"))
    same_index(built, store.rebuild_keyword_index())


def test_small_syncs_do_not_start_a_follower(tmp_path: Path, monkeypatch) -> None:
    started = []
    monkeypatch.setattr(KeywordFollower, "__init__", lambda self, path: started.append(path))
    store = open_store(str(tmp_path / "p.db"))
    run_sync(Pages([[paper(n) for n in range(50)]]), SyncRequest(), store)
    assert started == [] and store.keyword_index().n_docs == 50


@pytest.mark.parametrize("bad", ["not json", '{"rows": [1]}'])
def test_a_garbled_message_ends_the_follower_with_one_error(tmp_path: Path, bad: str) -> None:
    open_store(str(tmp_path / "p.db")).close()
    replies = []
    with pytest.raises(ValueError):
        follow(tmp_path / "p.db", [bad], replies.append)
    assert not list((tmp_path / "p.db.kw").glob("follow-*"))  # its scratch folder is gone


class Interrupted(Pages):
    def pages(self, request: SyncRequest, checkpoints: dict) -> Iterator[Page]:
        pages = super().pages(request, checkpoints)
        yield next(pages)
        yield next(pages)
        raise KeyboardInterrupt


def test_ctrl_c_stops_the_follower_and_the_next_sync_completes_the_index(tmp_path: Path, caplog) -> None:
    pages = [[paper(n) for n in range(lo, lo + 200)] for lo in range(0, 800, 200)]
    store = open_store(str(tmp_path / "p.db"))
    store.follow_after = 1
    with pytest.raises(KeyboardInterrupt):
        run_sync(Interrupted(pages), SyncRequest(), store)
    assert store.count() == 400
    assert not list((tmp_path / "p.db.kw").glob("follow-*"))  # the follower and its scratch are gone
    with caplog.at_level(logging.INFO, logger="papertide.store"):
        run_sync(Pages(pages), SyncRequest(), store)
    assert "built alongside the import" in caplog.text
    same_index(store.keyword_index(), store.rebuild_keyword_index())
    assert store.keyword_index().n_docs == 800


def test_a_follower_that_cannot_start_leaves_the_import_to_finish_and_rebuild(tmp_path: Path, caplog,
                                                                               monkeypatch) -> None:
    def cannot(self, path):  # noqa: ANN001
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(KeywordFollower, "__init__", cannot)
    store, report, built = sync(tmp_path, [[paper(n) for n in range(300)], [paper(n) for n in range(300, 500)]],
                                caplog)
    assert report.new == 500 and "no follower" in caplog.text
    assert built.n_docs == 500
    same_index(built, store.rebuild_keyword_index())


def test_a_follower_started_by_a_page_of_changes_only_reads_every_paper(tmp_path: Path, caplog) -> None:
    store = open_store(str(tmp_path / "p.db"))
    store.follow_after = 400  # crossed by the second page, which only changes papers
    changed = [paper(n, title=f"Renamed {n} transformer", version=2) for n in range(200)]
    with caplog.at_level(logging.INFO, logger="papertide.store"):
        report = run_sync(Pages([[paper(n) for n in range(300)], changed]), SyncRequest(), store)
    assert report.new == 300 and report.updated == 200
    assert "built alongside the import" in caplog.text and "rebuilding" not in caplog.text
    same_index(store.keyword_index(), store.rebuild_keyword_index())
