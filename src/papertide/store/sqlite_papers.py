"""SQLite: writing and reading papers, provenance, signals and checkpoints.

A page is written set-wise: one query reads which of its papers exist, merging
happens in Python, and every table gets one statement or ``executemany``.
New and changed papers reach the FTS5 index through one ``INSERT ... SELECT``
per page instead of the per-row triggers (see migration 0003 for why), and the
keyword generation is bumped once per page (migration 0010); while ingest writes,
a row in ``fts_bulk_write`` holds those triggers off, and they keep indexing every
other write.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any

from papertide.model import PaperRecord, Signal, utc_now
from papertide.sources.base import Page
from papertide.store import merge
from papertide.store.base import IngestResult, StoredPaper
from papertide.store.sqlite_util import _chunks

_PAPER_COLUMNS = ("pk", "id", *merge.FIELDS, "author_names", "added_at", "changed_at")
_INDEXED = ("title", "abstract", "authors")  # merge-owned columns behind the keyword index
_KEYWORD_INDEXED = (*_INDEXED, "published", "categories")  # what the in-memory keyword index holds
_FTS_COLUMNS = "title, abstract, author_names"
_Row = dict[str, Any]
_WRITER_CACHE_KIB = 32768  # page cache of a connection that ingests


class PapersMixin:
    """Papers in and out. Mixed into ``SQLiteStore``; ``self.db`` is the connection."""

    db: sqlite3.Connection
    _bulk_fts: bool | None = None  # has migration 0003 run? (asked once)
    _writer_cache: bool = False  # has this connection's cache been enlarged for writing?
    _bulk: dict | None = None  # set by SearchMixin.bulk_ingest
    _behind: dict | None = None  # the page committing on a thread: thread, written, error

    def ingest(self, page: Page) -> IngestResult:
        # Each record's columns as a new paper (nearly every paper of an import), encoded
        # before waiting for the page that may still be committing behind: pure Python
        # that would otherwise lengthen the time this connection holds the write lock.
        fresh = {record.id: merge.new_values(record) for record in page.records}
        self.wait_for_commit()
        now = utc_now()
        if not self._writer_cache:
            # A page dirties more than the default 2 MB cache holds: pages then spill to
            # the WAL and are read back and written again. Only a writing process pays it.
            self.db.execute(f"PRAGMA cache_size = -{_WRITER_CACHE_KIB}")
            self._writer_cache = True
        try:
            self.db.execute("BEGIN IMMEDIATE")
            result, written, last_steps = self._write_records(page.records, now, fresh)
            if page.checkpoint_key is not None:
                self.db.execute(
                    "INSERT INTO checkpoints (key, value, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    (page.checkpoint_key, json.dumps(page.checkpoint or {}), now))
        except BaseException:
            self._rollback()
            raise
        if self._bulk is None:
            self._finish_page(last_steps)
            self._committed(*written)
        else:
            # Inside a sync the page's last statements and its COMMIT run on a thread while
            # the caller makes the next page: each is one call into SQLite, which lets go
            # of the GIL meanwhile. The next ingest (or the sync's end) waits for them.
            behind = {"written": written, "error": None}
            behind["thread"] = threading.Thread(target=self._finish_page_behind, args=(last_steps, behind),
                                                name="papertide-commit")
            self._behind = behind
            behind["thread"].start()
        return result

    def wait_for_commit(self, notify: bool = True) -> None:
        """Wait for the page committing behind the caller, if any; raise what it raised.
        With ``notify`` the derived indexes hear of the page (``_committed``)."""
        behind, self._behind = self._behind, None
        if behind is None:
            return
        try:
            behind["thread"].join()
        except BaseException:  # Ctrl-C while waiting: the end of bulk_ingest waits again
            self._behind = behind
            raise
        if behind["error"] is not None:
            raise behind["error"]
        if notify:
            self._committed(*behind["written"])

    def _finish_page_behind(self, last_steps: list[tuple[str, tuple]], behind: dict) -> None:
        try:
            self._finish_page(last_steps)
        except BaseException as exc:  # raised to the caller by wait_for_commit
            behind["error"] = exc

    def _finish_page(self, last_steps: list[tuple[str, tuple]]) -> None:
        """Run a page's last statements and commit it (or roll it back and raise)."""
        try:
            for sql, params in last_steps:
                self.db.execute(sql, params)
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # Ctrl-C is raised when the statement it interrupted has returned: that may be
        # a COMMIT that went through (the page is then stored) or a BEGIN that did.
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def _write_records(self, records: list[PaperRecord], now: str, fresh: dict[str, tuple]
                       ) -> tuple[IngestResult, tuple[int, int, list[int]], list[tuple[str, tuple]]]:
        """Counts; what was written for derived indexes (new pks first..last, changed pks);
        and the statements that index the new papers, which the transaction still needs.
        ``fresh``: ``merge.new_values`` of each id's last record."""
        existing = self._rows_by_id(list(dict.fromkeys(r.id for r in records)))
        # A paper new to the store and seen once in the page stays a record until written.
        merged: dict[str, _Row | PaperRecord] = {}
        for record in records:  # in arrival order, so later records merge over earlier
            row = merged.get(record.id)
            if row is None:
                if record.id not in existing:
                    merged[record.id] = record
                    continue
                row = existing[record.id][1]
            elif isinstance(row, PaperRecord):
                row = merge.record_row(row)
            merged[record.id] = merge.merge(row, record)
        pks = {pid: pk for pid, (pk, _) in existing.items()}
        new = [pid for pid in merged if pid not in existing]
        changed = [pid for pid in merged if pid in existing and merged[pid] != existing[pid][1]]
        with self._fts_by_page() as bulk:
            first, last_steps = self._insert_papers(new, merged, fresh, pks, now, bulk)
            touched = self._update_papers(changed, merged, existing, bulk)
            if bulk and (new or touched):  # what the triggers do for every other write
                self.db.execute("UPDATE keyword_state SET generation = generation + 1 WHERE id = 1")
        span = (first, first + len(new) - 1)  # the new papers' pks (empty when none)
        signals = self._record_provenance_and_signals(records, pks, now, span, last_steps)
        result = IngestResult(new=len(new), updated=len(changed),
                              unchanged=len(merged) - len(new) - len(changed), signals=signals)
        return result, (*span, touched), last_steps

    @contextmanager
    def _fts_by_page(self) -> Iterator[bool]:
        """Hold the FTS triggers off (inside the caller's transaction); yields False if the
        store predates migration 0003, in which case the triggers index as before."""
        if not self._has_bulk_fts():
            yield False
            return
        self.db.execute("INSERT INTO fts_bulk_write (active) VALUES (1)")
        yield True
        self.db.execute("DELETE FROM fts_bulk_write")

    def _has_bulk_fts(self) -> bool:
        if self._bulk_fts is None:
            self._bulk_fts = self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fts_bulk_write'").fetchone() is not None
        return self._bulk_fts

    def _insert_papers(self, ids: list[str], merged: dict[str, _Row | PaperRecord], fresh: dict[str, tuple],
                       pks: dict[str, int], now: str, bulk: bool) -> tuple[int, list[tuple[str, tuple]]]:
        """Insert new papers; returns the first pk they were given (the rest follow it), and
        the statements that index them (FTS5, categories), to run before the COMMIT."""
        if not ids:
            return 0, []
        # The write lock is held, so the pks after the largest are ours: the same ones
        # SQLite would choose, known without asking back for each row.
        first = self.db.execute("SELECT coalesce(max(pk), 0) + 1 FROM papers").fetchone()[0]
        rows = []
        for pk, pid in enumerate(ids, first):
            pks[pid] = pk
            row = merged[pid]
            values = fresh[pid] if isinstance(row, PaperRecord) else merge.encode_values(row)  # seen once, or merged
            rows.append((pk, pid, *values, now, now))
        marks = ", ".join("?" * len(_PAPER_COLUMNS))
        self.db.executemany(f"INSERT INTO papers ({', '.join(_PAPER_COLUMNS)}) VALUES ({marks})", rows)
        span = (first, first + len(ids) - 1)
        steps = [("INSERT OR IGNORE INTO paper_categories (category, pk) SELECT c.value, p.pk "
                  "FROM papers p, json_each(p.categories) c WHERE p.pk BETWEEN ? AND ?", span)]
        if bulk:
            steps.append((f"INSERT INTO papers_fts (rowid, {_FTS_COLUMNS}) "
                          f"SELECT pk, {_FTS_COLUMNS} FROM papers WHERE pk BETWEEN ? AND ?", span))
        return first, steps

    def _update_papers(self, ids: list[str], merged: dict[str, _Row],
                       existing: dict[str, tuple[int, _Row]], bulk: bool) -> list[int]:
        """Update changed papers; returns the pks of those whose keyword-indexed columns changed."""
        if not ids:
            return []
        reindex = [existing[pid][0] for pid in ids
                   if any(merged[pid][f] != existing[pid][1][f] for f in _INDEXED)]
        if bulk:  # take the old text out of the index while the table still holds it
            self._fts_write(reindex, delete=True)
        # Microseconds: derived indexes (vectors) tell a change by changed_at moving, and two
        # writes of one paper within the same second must still differ.
        changed = datetime.now(timezone.utc).isoformat()
        sets = ", ".join(f"{c} = ?" for c in (*merge.FIELDS, "author_names", "changed_at"))
        self.db.executemany(f"UPDATE papers SET {sets} WHERE pk = ?",
                            [(*merge.encode_values(merged[pid]), changed, existing[pid][0]) for pid in ids])
        if bulk:
            self._fts_write(reindex)
        recategorised = [pid for pid in ids if merged[pid]["categories"] != existing[pid][1]["categories"]]
        for chunk in _chunks([existing[pid][0] for pid in recategorised]):
            self.db.execute(f"DELETE FROM paper_categories WHERE pk IN ({','.join('?' * len(chunk))})", chunk)
        self.db.executemany("INSERT OR IGNORE INTO paper_categories (category, pk) VALUES (?, ?)",
                            [(c, existing[pid][0]) for pid in recategorised for c in merged[pid]["categories"]])
        return [existing[pid][0] for pid in ids
                if any(merged[pid][f] != existing[pid][1][f] for f in _KEYWORD_INDEXED)]

    def _fts_write(self, pks: list[int], *, delete: bool = False) -> None:
        """Index papers as the table holds them, or with ``delete`` take them out of the index."""
        target, head = ("papers_fts, rowid", "'delete', pk") if delete else ("rowid", "pk")
        for chunk in _chunks(pks):
            self.db.execute(f"INSERT INTO papers_fts ({target}, {_FTS_COLUMNS}) SELECT {head}, {_FTS_COLUMNS} "
                            f"FROM papers WHERE pk IN ({','.join('?' * len(chunk))})", chunk)

    def _rows_by_id(self, ids: list[str]) -> dict[str, tuple[int, _Row]]:
        """Existing papers by id: (pk, merge-owned columns decoded)."""
        rows: dict[str, tuple[int, _Row]] = {}
        cursor = self.db.cursor()
        cursor.row_factory = None  # plain tuples: this reads a whole page of papers
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for values in cursor.execute(
                    f"SELECT pk, id, {', '.join(merge.FIELDS)} FROM papers WHERE id IN ({marks})", chunk):
                rows[values[1]] = (values[0], merge.decode(dict(zip(merge.FIELDS, values[2:]))))
        return rows

    def _pks(self, ids: list[str]) -> dict[str, int]:
        pks: dict[str, int] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            pks.update(self.db.execute(f"SELECT id, pk FROM papers WHERE id IN ({marks})", chunk).fetchall())
        return pks

    def _record_provenance_and_signals(self, records: list[PaperRecord], pks: dict[str, int], now: str,
                                       new: tuple[int, int], last_steps: list[tuple[str, tuple]]) -> int:
        """Provenance and signals of a page's records. The papers new to the store (pks
        ``new``) of a page from one source get theirs from one statement among ``last_steps``:
        SQLite's work alone, which the commit thread does without the GIL."""
        sources = {r.source for r in records}
        first, last = new
        if len(sources) == 1 and last >= first:
            source = sources.pop()
            last_steps.append(("INSERT OR IGNORE INTO provenance (pk, source, first_seen) "
                               "SELECT pk, ?, ? FROM papers WHERE pk BETWEEN ? AND ?", (source, now, first, last)))
            rows = [(pk, source, now) for pk in dict.fromkeys(pks[r.id] for r in records) if pk < first]
        else:
            rows = [(pk, source, now) for pk, source in dict.fromkeys((pks[r.id], r.source) for r in records)]
        self.db.executemany("INSERT OR IGNORE INTO provenance (pk, source, first_seen) VALUES (?, ?, ?)", rows)
        return self.add_signals([(pks[r.id], s) for r in records for s in r.signals], in_transaction=True)

    def add_signals(self, observations: list[tuple[int, Signal]], *, in_transaction: bool = False) -> int:
        """Store observations whose value differs from the latest one known before them.

        "Known" includes the observations before it in ``observations``. An observation
        at a time already stored for its series is dropped. Without ``in_transaction``
        the writes get a transaction of their own.
        """
        if not observations:
            return 0
        if in_transaction:
            return self._add_signals(observations)
        try:
            self.db.execute("BEGIN IMMEDIATE")
            added = self._add_signals(observations)
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return added

    def _add_signals(self, observations: list[tuple[int, Signal]]) -> int:
        history = self._signal_history({pk for pk, _ in observations})
        rows = []
        for pk, s in observations:
            series = history[(pk, s.kind, s.source)]  # (observed_at, value), oldest first
            at = bisect_right(series, s.observed_at, key=_OBSERVED_AT)
            if at and (series[at - 1][1] == s.value or series[at - 1][0] == s.observed_at):
                continue
            series.insert(at, (s.observed_at, float(s.value)))
            rows.append((pk, s.kind, s.source, s.observed_at, float(s.value)))
        cursor = self.db.executemany(
            "INSERT OR IGNORE INTO signals (pk, kind, source, observed_at, value) VALUES (?, ?, ?, ?, ?)", rows)
        return cursor.rowcount if rows else 0

    def _signal_history(self, pks: set[int]) -> defaultdict[tuple[int, str, str], list[tuple[str, float]]]:
        history: defaultdict[tuple[int, str, str], list[tuple[str, float]]] = defaultdict(list)
        cursor = self.db.cursor()
        cursor.row_factory = None
        for chunk in _chunks(sorted(pks)):
            marks = ",".join("?" * len(chunk))
            for pk, kind, source, observed_at, value in cursor.execute(
                    f"SELECT pk, kind, source, observed_at, value FROM signals WHERE pk IN ({marks}) "
                    "ORDER BY pk, kind, source, observed_at", chunk):
                history[(pk, kind, source)].append((observed_at, value))
        return history

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


_OBSERVED_AT = itemgetter(0)
