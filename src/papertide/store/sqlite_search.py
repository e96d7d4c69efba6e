"""SQLite: the FTS5 keyword index and listing by date."""

from __future__ import annotations

import sqlite3
from typing import Any

from papertide.errors import StoreError
from papertide.store.base import Filters, TermStat
from papertide.store.sqlite_util import _chunks


class SearchMixin:
    """Keyword search. Mixed into ``SQLiteStore``; ``self.db`` is the connection."""

    def term_stats(self, tokens: list[str]) -> list[TermStat]:
        if not tokens:
            return []
        self.db.execute("DELETE FROM temp.analyze")
        self.db.executemany("INSERT INTO temp.analyze (rowid, t) VALUES (?, ?)", enumerate(tokens, 1))
        terms = dict(self.db.execute("SELECT doc, term FROM temp.analyze_terms").fetchall())
        docs: dict[str, int] = {}
        wanted = list(set(terms.values()))
        for chunk in _chunks(wanted):
            marks = ",".join("?" * len(chunk))
            docs.update(self.db.execute(
                f"SELECT term, docs FROM term_docs WHERE term IN ({marks})", chunk).fetchall())
        return [TermStat(tok, terms[i], docs.get(terms[i], 0))
                for i, tok in enumerate(tokens, 1) if i in terms]

    def refresh_term_stats(self) -> None:
        """Recount every term's documents (about a second per 100k papers)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM term_docs")
            self.db.execute("INSERT INTO term_docs (term, docs) SELECT term, doc FROM papers_vocab")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def keyword_search(self, match: str, filters: Filters, limit: int,
                       weights: tuple[float, float, float]) -> list[tuple[str, float]]:
        where, params = _filter_sql(filters)
        sql = (f"SELECT p.id, -bm25(papers_fts, ?, ?, ?) AS score FROM papers_fts "
               f"JOIN papers p ON p.pk = papers_fts.rowid WHERE papers_fts MATCH ? {where} "
               f"ORDER BY bm25(papers_fts, ?, ?, ?) LIMIT ?")
        try:
            rows = self.db.execute(sql, (*weights, match, *params, *weights, limit)).fetchall()
        except sqlite3.OperationalError as exc:
            # The query builder quotes every token, so this means a bug, not user error.
            raise StoreError(f"keyword index rejected {match!r}: {exc}") from None
        return [(r[0], r[1]) for r in rows]

    def recent(self, filters: Filters, limit: int) -> list[tuple[str, float]]:
        where, params = _filter_sql(filters)
        rows = self.db.execute(
            f"SELECT p.id FROM papers p WHERE 1 {where} ORDER BY p.published DESC, p.pk DESC LIMIT ?",
            (*params, limit)).fetchall()
        return [(r[0], 0.0) for r in rows]


def _filter_sql(filters: Filters) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if filters.categories:
        ors = []
        for cat in filters.categories:
            ors.append("(c.category = ? OR c.category LIKE ?)")
            params += [cat, cat + ".%"]
        clauses.append("AND EXISTS (SELECT 1 FROM paper_categories c WHERE c.pk = p.pk AND ("
                       + " OR ".join(ors) + "))")
    if filters.since:
        clauses.append("AND p.published >= ?")
        params.append(filters.since)
    if filters.until:
        clauses.append("AND p.published != '' AND p.published <= ?")
        params.append(filters.until)
    return " ".join(clauses), params
