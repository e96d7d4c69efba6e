"""The SQLite backend: one file, WAL journal, FTS5 keyword index."""

from __future__ import annotations

import json
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator

from papertide.errors import StoreError
from papertide.model import PaperRecord, Signal, utc_now
from papertide.sources.base import Page
from papertide.store import merge
from papertide.store.base import Filters, IngestResult, StoredPaper, TermStat

_MAX_VARS = 900  # stay under SQLite's bound-parameter limit
_TOKENIZER = "porter unicode61 remove_diacritics 2"
_COLUMNS = ("id", *merge.FIELDS, "author_names", "added_at", "changed_at")


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("papertide.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text("utf-8")))
    return sorted(found)


def _chunks(items: list[Any], size: int = _MAX_VARS) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class SQLiteStore:
    """Papers in one SQLite file. Safe to open from several processes (WAL)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path).expanduser() if path != ":memory:" else Path(path)
        try:
            if path != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout = 10000")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open store {path}: {exc}") from None
        except OSError as exc:
            raise StoreError(f"cannot create store {path}: {exc.strerror}") from None
        self.db.row_factory = sqlite3.Row
        # A scratch FTS table with the index's tokenizer tells how a token is indexed.
        self.db.execute(f"CREATE VIRTUAL TABLE temp.analyze USING fts5(t, tokenize='{_TOKENIZER}')")
        self.db.execute("CREATE VIRTUAL TABLE temp.analyze_terms USING fts5vocab(temp, analyze, 'instance')")

    # -- schema -----------------------------------------------------------------
    def _migrate(self) -> None:
        current = self.db.execute("PRAGMA user_version").fetchone()[0]
        for version, script in _migrations():
            if version <= current:
                continue
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split_sql(script):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {version}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self.db.close()

    # -- writing ----------------------------------------------------------------
    def ingest(self, page: Page) -> IngestResult:
        result = IngestResult()
        now = utc_now()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            existing = self._rows_by_id(list({r.id for r in page.records}))
            current = dict(existing)
            for record in page.records:  # in arrival order, so later records merge over earlier
                row = current.get(record.id)
                current[record.id] = merge.record_row(record) if row is None else merge.merge(row, record)
            inserts = [{**merge.encode(row), "id": pid, "added_at": now, "changed_at": now}
                       for pid, row in current.items() if pid not in existing]
            updates = [{**merge.encode(row), "id": pid, "changed_at": now}
                       for pid, row in current.items() if pid in existing and row != existing[pid]]
            self._write(inserts, updates)
            result.new, result.updated = len(inserts), len(updates)
            result.unchanged = len(current) - result.new - result.updated
            result.signals = self._record_provenance_and_signals(page.records, now)
            if page.checkpoint_key is not None:
                self.db.execute(
                    "INSERT INTO checkpoints (key, value, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    (page.checkpoint_key, json.dumps(page.checkpoint or {}), now))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return result

    def _rows_by_id(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            cursor = self.db.execute(
                f"SELECT id, {', '.join(merge.FIELDS)} FROM papers WHERE id IN ({marks})", chunk)
            for r in cursor:
                row = merge.decode(dict(r))
                rows[row.pop("id")] = row
        return rows

    def _write(self, inserts: list[dict], updates: list[dict]) -> None:
        if inserts:
            cols = ", ".join(_COLUMNS)
            marks = ", ".join(f":{c}" for c in _COLUMNS)
            self.db.executemany(f"INSERT INTO papers ({cols}) VALUES ({marks})", inserts)
        if updates:
            sets = ", ".join(f"{c} = :{c}" for c in (*merge.FIELDS, "author_names", "changed_at"))
            self.db.executemany(f"UPDATE papers SET {sets} WHERE id = :id", updates)
        changed = inserts + updates
        if changed:
            ids = [r["id"] for r in changed]
            pks = self._pks(ids)
            for chunk in _chunks([pks[i] for i in ids]):
                self.db.execute(f"DELETE FROM paper_categories WHERE pk IN ({','.join('?' * len(chunk))})", chunk)
            self.db.executemany(
                "INSERT OR IGNORE INTO paper_categories (category, pk) VALUES (?, ?)",
                [(c, pks[r["id"]]) for r in changed for c in json.loads(r["categories"])])

    def _pks(self, ids: list[str]) -> dict[str, int]:
        pks: dict[str, int] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            pks.update(self.db.execute(f"SELECT id, pk FROM papers WHERE id IN ({marks})", chunk).fetchall())
        return pks

    def _record_provenance_and_signals(self, records: list[PaperRecord], now: str) -> int:
        pks = self._pks(list({r.id for r in records}))
        self.db.executemany(
            "INSERT OR IGNORE INTO provenance (pk, source, first_seen) VALUES (?, ?, ?)",
            [(pks[r.id], r.source, now) for r in records])
        observations = [(pks[r.id], s) for r in records for s in r.signals]
        return self.add_signals(observations, in_transaction=True)

    def add_signals(self, observations: list[tuple[int, Signal]], *, in_transaction: bool = False) -> int:
        """Store observations whose value differs from the latest one known before them."""
        added = 0
        for pk, s in observations:
            last = self.db.execute(
                "SELECT value FROM signals WHERE pk = ? AND kind = ? AND source = ? AND observed_at <= ? "
                "ORDER BY observed_at DESC LIMIT 1", (pk, s.kind, s.source, s.observed_at)).fetchone()
            if last is not None and last[0] == s.value:
                continue
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO signals (pk, kind, source, observed_at, value) VALUES (?, ?, ?, ?, ?)",
                (pk, s.kind, s.source, s.observed_at, float(s.value)))
            added += cursor.rowcount
        return added

    # -- reading ----------------------------------------------------------------
    def checkpoints(self, prefix: str) -> dict[str, dict]:
        rows = self.db.execute("SELECT key, value FROM checkpoints WHERE key >= ? AND key < ?",
                               (prefix, prefix + "\U0010ffff"))
        return {key: json.loads(value) for key, value in rows}

    def get(self, paper_id: str) -> StoredPaper | None:
        return self.get_many([paper_id]).get(paper_id)

    def get_many(self, ids: Iterable[str]) -> dict[str, StoredPaper]:
        ids = list(dict.fromkeys(ids))
        papers: dict[str, StoredPaper] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT pk, id, {', '.join(merge.FIELDS)}, added_at, changed_at FROM papers "
                f"WHERE id IN ({marks})", chunk).fetchall()
            by_pk = {r["pk"]: r for r in rows}
            sources: dict[int, dict[str, str]] = {pk: {} for pk in by_pk}
            if by_pk:
                pk_marks = ",".join("?" * len(by_pk))
                for pk, source, seen in self.db.execute(
                        f"SELECT pk, source, first_seen FROM provenance WHERE pk IN ({pk_marks}) "
                        "ORDER BY first_seen", list(by_pk)):
                    sources[pk][source] = seen
            for pk, r in by_pk.items():
                data = merge.decode(dict(r))
                data.pop("pk"), data.pop("meta_source")
                papers[data["id"]] = StoredPaper(**data, sources=sources[pk])
        return papers

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM papers").fetchone()[0]

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

    def stats(self) -> dict[str, Any]:
        one = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "papers": one("SELECT count(*) FROM papers"),
            "signals": one("SELECT count(*) FROM signals"),
            "by_source": dict(self.db.execute(
                "SELECT source, count(*) FROM provenance GROUP BY source ORDER BY source").fetchall()),
            "top_categories": dict(self.db.execute(
                "SELECT primary_category, count(*) c FROM papers WHERE primary_category != '' "
                "GROUP BY primary_category ORDER BY c DESC LIMIT 10").fetchall()),
            "published": [one("SELECT min(published) FROM papers WHERE published != ''"),
                          one("SELECT max(published) FROM papers")],
            "last_added": one("SELECT max(added_at) FROM papers"),
            "checkpoints": dict(self.db.execute("SELECT key, updated_at FROM checkpoints ORDER BY key").fetchall()),
            "path": str(self.path),
        }


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


def _split_sql(script: str) -> list[str]:
    """Statements of a migration; trigger bodies keep their inner semicolons."""
    statements, current = [], []
    for line in script.splitlines():
        if line.strip().startswith("--") or not line.strip():
            continue
        current.append(line)
        joined = "\n".join(current)
        if sqlite3.complete_statement(joined):
            statements.append(joined)
            current = []
    return statements
