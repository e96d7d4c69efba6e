"""Keyword search through a tantivy index on this host, and listing by date.

The index lives in ``keyword_folder()`` (beside a SQLite store; in the host's index folder for
PostgreSQL) and follows the store's change feed
(store/keyword.py): each ingest catches it up after its commit, and a search first
catches up with whatever another process wrote since.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from papertide.errors import StoreError
from papertide.query import ParsedQuery
from papertide.store import keyword_query
from papertide.store.base import Filters
from papertide.store.keyword import IndexedPaper, KeywordIndex, term
from papertide.store.sql_util import BUSY_TIMEOUT_MS, category_match

log = logging.getLogger(__name__)
_CATCH_UP_PAGE = 5000  # papers read and added to the index at a time
# A sync commits the keyword index at most this often (and at its end): a tantivy commit
# waits for the writer's threads, which otherwise index beside the next page's parsing.
_COMMIT_SECONDS = 10.0


class SearchMixin:
    """Keyword search. Mixed into a store class (see ``PapersMixin``) that also says where
    this host keeps the index (``keyword_folder``)."""

    db: Any
    _SOURCES: str
    _keyword: KeywordIndex | None = None
    _bulk: bool = False  # inside bulk_ingest: the index's writer stays open between pages
    _committed_at = 0.0  # when the keyword index last committed, inside bulk_ingest

    # -- the change feed ---------------------------------------------------------------
    def change_seq(self) -> int:
        """The store's sequence: the value the latest write to a paper took."""
        return int(self.db.execute("SELECT value FROM store_meta WHERE key = 'seq'").fetchone()[0])

    def store_uid(self) -> str:
        return self.db.execute("SELECT value FROM store_meta WHERE key = 'uid'").fetchone()[0]

    def _indexed_papers(self, after: int, limit: int) -> list[tuple[int, IndexedPaper]]:
        """(seq, paper) of the papers written after ``after``, in sequence order."""
        rows = self.db.execute(
            "SELECT seq, pk, id, title, abstract, authors, categories, published, "
            f"{self._SOURCES} FROM papers p WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)).fetchall()
        return [(r[0], IndexedPaper(pk=r[1], id=r[2], title=r[3], abstract=r[4], authors=orjson.loads(r[5]),
                                    categories=orjson.loads(r[6]), published=r[7],
                                    sources=(r[8] or "").split("\x1f") if r[8] else []))
                for r in rows]

    # -- the index ---------------------------------------------------------------------
    def _keyword_index(self) -> KeywordIndex:
        if self._keyword is None:
            self._keyword = KeywordIndex(self.keyword_folder(), self.store_uid())
        return self._keyword

    def catch_up_keyword(self, wait: bool = False) -> bool:
        """Bring the keyword index up to the store's sequence; False if another process holds
        its writer (that one catches it up). With ``wait``, wait for it up to the busy timeout.
        Inside a sync the index commits at most every ``_COMMIT_SECONDS`` and when it ends."""
        index = self._keyword_index()
        target = self.change_seq()
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        try:
            while max(index.written, index.reached) < target:
                batch = self._indexed_papers(max(index.written, index.reached), _CATCH_UP_PAGE)
                if not batch:  # nothing left below target (a write rolled back)
                    break
                if not index.add([paper for _, paper in batch], batch[-1][0]):
                    index.refresh()
                    if index.reached >= target:
                        break
                    if not wait or time.monotonic() > deadline:
                        return False
                    time.sleep(0.05)  # another process has the writer: poll for its lock
            if not self._bulk or time.monotonic() - self._committed_at >= _COMMIT_SECONDS:
                index.commit()
                self._committed_at = time.monotonic()
        finally:
            if not self._bulk:
                index.close()
        return True

    @contextmanager
    def bulk_ingest(self) -> Iterator[None]:
        """Around a sync: the keyword index's writer stays open from page to page, and the
        index is caught up and committed when the sync ends, whatever ends it."""
        self._bulk, self._committed_at = True, time.monotonic()
        try:
            yield
        finally:
            self._bulk = False
            try:
                self.catch_up_keyword(wait=True)
            finally:
                self._keyword_index().close()

    def reindex_keyword(self) -> int:
        """Rebuild the keyword index from the store; the number of papers indexed."""
        index = self._keyword_index()
        if not index.clear():
            raise StoreError("the keyword index is being written by another process; try again when it is done")
        self.catch_up_keyword(wait=True)
        return self.count()

    def _fresh_index(self) -> KeywordIndex:
        index = self._keyword_index()
        target = self.change_seq()
        if index.reached < target:
            index.refresh()
            if index.reached < target:
                self.catch_up_keyword()
        return index

    # -- searching ---------------------------------------------------------------------
    def keyword_search(self, query: ParsedQuery, filters: Filters, limit: int,
                       window: tuple[int, int] | None = None, newest: bool = False) -> list[tuple[str, float]]:
        index = self._fresh_index()
        searcher = index.searcher()
        found = keyword_query.build(query, filters, window, doc_freq=lambda t: searcher.doc_freq("text", t))
        if found is None:
            return self.recent(filters, limit, window)
        return index.search(found, limit, searcher, newest=newest)

    def keyword_count(self, query: ParsedQuery, filters: Filters) -> int:
        """How many papers match (all of them, not a page)."""
        searcher = self._fresh_index().searcher()
        found = keyword_query.build(query, filters, doc_freq=lambda t: searcher.doc_freq("text", t))
        if found is None:
            where, params = _filter_sql(filters)
            return self.db.execute(f"SELECT count(*) FROM papers p WHERE TRUE {where}", params).fetchone()[0]
        return searcher.search(found, 1, count=True).count

    def doc_freqs(self, words: list[str]) -> dict[str, int]:
        """How many papers hold each word in their title or abstract (as the index analyses it)."""
        searcher = self._fresh_index().searcher()
        return {w: searcher.doc_freq("text", term(w)) for w in words if term(w)}

    def _pks_matching(self, filters: Filters, authors: list[list[str]]) -> list[int] | None:
        """The pks of the papers with these authors passing the filters (None: no author asked)."""
        if not authors:
            return None
        found = keyword_query.build(ParsedQuery(authors=authors), filters)
        if found is None:
            return []
        searcher = self._fresh_index().searcher()
        hits = searcher.search(found, max(1, searcher.num_docs), count=False).hits
        return searcher.fast_field_values("pk", [address for _, address in hits])

    def recent(self, filters: Filters, limit: int, window: tuple[int, int] | None = None) -> list[tuple[str, float]]:
        where, params = _filter_sql(filters)
        if window is not None:
            where += " AND p.pk > ? AND p.pk <= ?"
            params += list(window)
        rows = self.db.execute(
            f"SELECT p.id FROM papers p WHERE TRUE {where} ORDER BY p.published DESC, p.pk DESC LIMIT ?",
            (*params, limit)).fetchall()
        return [(r[0], 0.0) for r in rows]

    def categories(self) -> dict[str, int]:
        """Every category of the stored papers, with how many papers have it."""
        return dict(self.db.execute("SELECT category, count(*) FROM paper_categories GROUP BY category").fetchall())

    def keyword_folder(self) -> Path | None:
        """Where this host keeps the keyword index (None: in memory)."""
        raise NotImplementedError

    def close_keyword(self) -> None:
        if self._keyword is not None:
            self._keyword.close()


def _filter_sql(filters: Filters) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if filters.categories:
        match, params = category_match("category", filters.categories)  # on the (category, pk) key
        clauses.append(f"AND p.pk IN (SELECT pk FROM paper_categories WHERE {match})")
    if filters.sources:
        clauses.append(f"AND p.pk IN (SELECT pk FROM provenance WHERE source IN ({','.join('?' * len(filters.sources))}))")
        params += filters.sources
    if filters.since:
        clauses.append("AND p.published >= ?")
        params.append(filters.since)
    if filters.until:
        clauses.append("AND p.published != '' AND p.published <= ?")
        params.append(filters.until)
    return " ".join(clauses), params
