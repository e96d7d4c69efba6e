"""SQLite: writing and reading papers, provenance, signals and checkpoints."""

from __future__ import annotations

import json
from typing import Any, Iterable

from papertide.model import PaperRecord, Signal, utc_now
from papertide.sources.base import Page
from papertide.store import merge
from papertide.store.base import IngestResult, StoredPaper
from papertide.store.sqlite_util import _COLUMNS, _chunks


class PapersMixin:
    """Papers in and out. Mixed into ``SQLiteStore``; ``self.db`` is the connection."""

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

