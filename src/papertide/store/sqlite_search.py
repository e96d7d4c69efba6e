"""SQLite: the FTS5 keyword index, the in-memory BM25 index beside it, and listing by date.

FTS5 is the source of truth: it answers phrases, ``author:`` and exclusions, and
keeps working without anything else. The in-memory index (index/keyword_index.py,
files in ``<db>.kw/``) ranks free text fast; it is rebuilt after every sync and
whenever the ``keyword_state`` generation shows it no longer matches the papers.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from papertide.errors import StoreError
from papertide.index import keyword_index as kwi
from papertide.index.bm25 import DEFAULT_BM25, BM25Params
from papertide.store import keyword_files, keyword_follow
from papertide.store.base import Filters, TermStat
from papertide.store.sqlite_util import BUSY_TIMEOUT_MS, _chunks

log = logging.getLogger(__name__)


class SearchMixin:
    """Keyword search. Mixed into ``SQLiteStore``; ``self.db`` is the connection."""

    db: sqlite3.Connection
    path: Path
    _keyword_index: kwi.KeywordIndex | None = None
    _warned_no_state = False
    _bulk: dict | None = None  # inside bulk_ingest(): papers written, and the follower once started
    _checkpoints = True  # does this connection checkpoint the WAL (not while a follower does)?
    follow_after = keyword_follow.FOLLOW_AFTER

    @contextmanager
    def bulk_ingest(self) -> Iterator[None]:
        """Around a sync: once it has written ``follow_after`` papers, the keyword index is
        built beside it in another process (store/keyword_follow.py) and ready when it ends.

        Meanwhile the store keeps a rollback journal instead of the WAL, if no other
        connection has it open: each page is then written once, into the database file,
        rather than into the WAL and again by a checkpoint. A connection opened meanwhile
        (``open_store``) puts the WAL back, and this one follows; the end of the sync puts
        it back in any case."""
        rollback = self._leave_wal()
        self._bulk = {"written": 0, "follower": None}
        try:
            yield
        finally:
            try:  # after an error too, the last page is whole or not at all before we go on
                self.wait_for_commit(notify=False)  # (refresh_term_stats waited already otherwise)
            finally:
                follower, self._bulk = self._bulk["follower"], None
            if follower:
                follower.close()
            self._checkpoint_here(True)
            if rollback:
                self._back_to_wal()

    def _leave_wal(self) -> bool:
        """Switch to a rollback journal if the store is in WAL mode and no other connection
        has it open (never waiting for one); True if switched."""
        if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            return False
        self.db.execute("PRAGMA busy_timeout = 0")
        try:
            left = self.db.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
        except sqlite3.OperationalError:  # "database is locked": another connection has it open
            left = False
        finally:
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if left:  # NORMAL is safe with a WAL; a rollback journal needs FULL to survive a power cut
            self.db.execute("PRAGMA synchronous = FULL")
        return left

    def _back_to_wal(self) -> None:
        try:
            self.db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:  # the next open_store tries again
            log.warning("the store stays on a rollback journal until it is next opened (%s)", exc)
        else:
            self.db.execute("PRAGMA synchronous = NORMAL")

    def _committed(self, first: int, last: int, changed: list[int]) -> None:
        """Called by ingest after each page's commit: new papers first..last, changed pks."""
        bulk = self._bulk
        if bulk is None or self._keyword_folder() is None:
            return
        bulk["written"] += max(0, last - first + 1) + len(changed)
        follower = bulk["follower"]
        if follower is None and bulk["written"] >= self.follow_after:
            try:
                follower = keyword_follow.KeywordFollower(self.path)
            except OSError as exc:  # no room for its scratch folder, cannot start a process, ...
                log.info("keyword index will be rebuilt after the import (no follower: %s)", exc)
                follower = False
            bulk["follower"] = follower
            first, last, changed = 1, keyword_follow.LAST_PK, []  # it starts with every paper stored
        if follower and (last >= first or changed):
            follower.committed(first, last, changed)
        # The follower copies the WAL into the database after each page it reads (on its
        # core); this connection does it again if the follower is gone.
        self._checkpoint_here(not follower or bool(follower.broken))

    def _checkpoint_here(self, on: bool) -> None:
        """Let this connection's commits checkpoint the WAL (SQLite's default), or not."""
        if on != self._checkpoints:
            self.db.execute(f"PRAGMA wal_autocheckpoint = {1000 if on else 0}")
            self._checkpoints = on

    def term_stats(self, tokens: list[str]) -> list[TermStat]:
        """Each token's term and document count in the in-memory keyword index (FTS5's
        vocabulary instead for a store without one)."""
        if not tokens:
            return []
        index = self.keyword_index()
        if index is None:
            return self._fts_term_stats(tokens)
        analyzer, vocabulary, matrix = index.analyzer, index.vocabulary, index.matrix
        stats = []
        for token in tokens:
            words = analyzer.words(token)
            if words:
                term = analyzer.term(words[-1])
                tid = vocabulary.get(term)
                stats.append(TermStat(token, term, 0 if tid is None else matrix.df(tid)))
        return stats

    def _fts_term_stats(self, tokens: list[str]) -> list[TermStat]:
        self.db.execute("DELETE FROM temp.analyze")
        self.db.executemany("INSERT INTO temp.analyze (rowid, t) VALUES (?, ?)", enumerate(tokens, 1))
        terms = dict(self.db.execute("SELECT doc, term FROM temp.analyze_terms").fetchall())
        docs: dict[str, int] = {}
        for chunk in _chunks(list(set(terms.values()))):
            marks = ",".join("?" * len(chunk))  # fts5vocab reads each of these terms' postings
            docs.update(self.db.execute(f"SELECT term, doc FROM papers_vocab WHERE term IN ({marks})", chunk).fetchall())
        return [TermStat(tok, terms[i], docs.get(terms[i], 0)) for i, tok in enumerate(tokens, 1) if i in terms]

    def refresh_term_stats(self) -> None:
        """Bring the in-memory keyword index, which holds the term statistics, up to date
        (about 15 s per 100k papers when it changed). A follower building the index beside
        an import finishes it meanwhile."""
        self.wait_for_commit()
        follower = self._bulk and self._bulk["follower"]
        if not follower:
            self.keyword_index()
            return
        self._bulk["follower"] = None
        signature = self._keyword_signature()
        try:
            if signature:
                follower.start_finish(signature, DEFAULT_BM25)
            # While the follower finishes: what the last commit left in the WAL (if the store
            # is on its WAL), so that closing the store has nothing left to copy.
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            saved = bool(signature) and follower.finished()
        finally:
            follower.close()
        if saved:  # the first search that needs it loads it
            log.info("keyword index built alongside the import")
        else:
            log.info("keyword index built alongside the import was not used (%s); rebuilding", follower.broken)
            self.keyword_index()

    def keyword_search(self, match: str, filters: Filters, limit: int,
                       weights: tuple[float, float, float]) -> list[tuple[str, float]]:
        where, params = _filter_sql(filters)
        # bm25() once per matched row, in the inner query; papers joined for the top rows only.
        inner = ("SELECT papers_fts.rowid AS pk, -bm25(papers_fts, ?, ?, ?) AS score FROM papers_fts "
                 + (f"JOIN papers p ON p.pk = papers_fts.rowid WHERE papers_fts MATCH ? {where} " if where
                    else "WHERE papers_fts MATCH ? ")
                 + "ORDER BY 2 DESC LIMIT ?")
        sql = f"SELECT p.id, s.score FROM ({inner}) s JOIN papers p ON p.pk = s.pk ORDER BY s.score DESC"
        try:
            rows = self.db.execute(sql, (*weights, match, *params, limit)).fetchall()
        except sqlite3.OperationalError as exc:
            # The query builder quotes every token, so this means a bug, not user error.
            raise StoreError(f"keyword index rejected {match!r}: {exc}") from None
        return [(r[0], r[1]) for r in rows]

    def matching_pks(self, match: str) -> np.ndarray:
        """Keys of the papers an FTS expression matches, unranked (int64, ascending)."""
        # One string from SQLite, parsed by numpy: no Python object per matching paper.
        try:
            listed = self.db.execute("SELECT group_concat(rowid) FROM papers_fts WHERE papers_fts MATCH ?",
                                     (match,)).fetchone()[0]
        except sqlite3.OperationalError as exc:
            raise StoreError(f"keyword index rejected {match!r}: {exc}") from None
        found = np.fromstring(listed, dtype=np.int64, sep=",") if listed else np.zeros(0, dtype=np.int64)
        found.sort()
        return found

    def keyword_index(self, params: BM25Params = DEFAULT_BM25) -> kwi.KeywordIndex | None:
        """The in-memory BM25 index of the papers as they are now: the one already loaded,
        the one saved beside the store, or a fresh build (saved for next time). None when
        the store cannot tell whether an index is current (migration 0004 missing)."""
        signature = self._keyword_signature()
        if signature is None:
            return None
        index = self._keyword_index
        if index is not None and index.signature == signature and index.params == params:
            return index
        folder = self._keyword_folder()
        index = keyword_files.load(folder, signature, params) if folder else None
        if index is None:
            return self.rebuild_keyword_index(params)
        self._keyword_index = index
        return index

    def rebuild_keyword_index(self, params: BM25Params = DEFAULT_BM25) -> kwi.KeywordIndex:
        """Build the in-memory index from the papers as they are now; save it beside the store."""
        index = self._build_keyword_index(params)
        folder = self._keyword_folder()
        if folder:
            try:
                keyword_files.save(index, folder)
            except OSError as exc:
                log.warning("cannot save the keyword index in %s (%s); it stays in memory", folder, exc)
        self._keyword_index = index
        return index

    def _keyword_folder(self) -> Path | None:
        return None if str(self.path) == ":memory:" else keyword_files.folder_for(self.path)

    def _keyword_signature(self) -> dict[str, Any] | None:
        try:
            uid, generation = self.db.execute(
                "SELECT store_uid, generation FROM keyword_state WHERE id = 1").fetchone()
        except sqlite3.OperationalError as exc:  # a store migrated past 0004 without it
            if not self._warned_no_state:
                log.warning("keyword search runs on FTS5 alone: %s (migration 0004 was skipped)", exc)
                self._warned_no_state = True
            return None
        return {"store": uid, "generation": generation}

    def _build_keyword_index(self, params: BM25Params) -> kwi.KeywordIndex:
        # A connection of its own: its snapshot (signature and rows agree) cannot clash
        # with a transaction another thread runs on the store's shared connection.
        in_memory = str(self.path) == ":memory:"
        db = self.db if in_memory else sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True,
                                                       timeout=BUSY_TIMEOUT_MS / 1000)
        cursor = db.cursor()
        cursor.row_factory = None
        try:
            count = cursor.execute("SELECT count(*) FROM papers").fetchone()[0]
            if count > 5000:
                log.info("building the keyword index of %d papers (about 15 s per 100k)", count)
            own = not db.in_transaction
            if own:
                db.execute("BEGIN")
            try:
                uid, generation = cursor.execute(
                    "SELECT store_uid, generation FROM keyword_state WHERE id = 1").fetchone()
                return kwi.build(keyword_follow.paper_rows(db), params, {"store": uid, "generation": generation})
            finally:
                if own:
                    db.execute("COMMIT")
        finally:
            if not in_memory:
                db.close()

    def recent(self, filters: Filters, limit: int) -> list[tuple[str, float]]:
        where, params = _filter_sql(filters)
        rows = self.db.execute(
            f"SELECT p.id FROM papers p WHERE 1 {where} ORDER BY p.published DESC, p.pk DESC LIMIT ?",
            (*params, limit)).fetchall()
        return [(r[0], 0.0) for r in rows]


def _filter_sql(filters: Filters) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if filters.categories:
        # Ranges on the (category, pk) primary key: 'q-bio' also matches 'q-bio.*'
        # ('.' < '/' so every 'q-bio.x' sorts between 'q-bio.' and 'q-bio/').
        ors = []
        for cat in filters.categories:
            ors.append("category = ? OR (category > ? AND category < ?)")
            params += [cat, cat.lower() + ".", cat.lower() + "/"]  # archives: any case, like LIKE
        clauses.append("AND p.pk IN (SELECT pk FROM paper_categories WHERE "
                       + " OR ".join(ors) + ")")
    if filters.since:
        clauses.append("AND p.published >= ?")
        params.append(filters.since)
    if filters.until:
        clauses.append("AND p.published != '' AND p.published <= ?")
        params.append(filters.until)
    return " ".join(clauses), params
