"""Writing and reading papers, provenance, signals and checkpoints (SQLite and PostgreSQL).

A page is written set-wise: one query reads which of its papers exist, merging
happens in Python, and every table gets one statement or ``executemany``. Every
paper a page adds or changes takes the next values of the store's sequence
(``seq``, the change feed), which the keyword index follows.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any

from papertide.model import Page, PaperRecord, Signal, id_family, paper_keys, utc_now
from papertide.store import merge
from papertide.store.base import IngestResult, StoredPaper
from papertide.store.sql_util import _chunks

_PAPER_COLUMNS = ("pk", "id", *merge.FIELDS, "author_names", "added_at", "changed_at", "seq")
_Row = dict[str, Any]


class PapersMixin:
    """Papers in and out. Mixed into a store class that provides ``db`` (a connection whose
    ``execute`` takes ``?`` parameters), ``_write_txn``, ``_tuples``, ``_SOURCES`` and ``_TAKE_SEQ``."""

    db: Any
    _SOURCES: str  # SQL: the sources of paper ``p`` joined by char(31)
    _SOURCES_SEEN: str  # SQL: 'source char(30) first_seen' of paper ``p``, oldest first, joined by char(31)
    _TAKE_SEQ: str  # SQL: add ? to the store's sequence, returning its new value

    def ingest(self, page: Page) -> IngestResult:
        now = utc_now()
        with self._write_txn(writing_papers=True):
            result = self._write_records(page.records, now)
            if page.checkpoint_key is not None:
                self.db.execute(
                    "INSERT INTO checkpoints (key, value, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    (page.checkpoint_key, json.dumps(page.checkpoint or {}), now))
        self.catch_up_keyword()  # nothing to do when the page wrote no paper (one read of the sequence)
        return result

    def _write_records(self, records: list[PaperRecord], now: str) -> IngestResult:
        existing = self._rows_by_id(list(dict.fromkeys(r.id for r in records)))
        records, keys = self._link(records, [paper_keys(r) for r in records], existing)
        merged: dict[str, _Row | PaperRecord] = {}  # a paper new to the store and seen once stays a record
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
        pks = {pid: pk for pid, (pk, _, _) in existing.items()}
        new = [pid for pid in merged if pid not in existing]
        changed = [pid for pid in merged if pid in existing and merged[pid] != existing[pid][1]]
        # A paper seen from a new source changes what the keyword index holds (its sources) too.
        unchanged = existing.keys() - set(changed)
        resourced = list(dict.fromkeys(r.id for r in records if r.id in unchanged
                                       and r.source not in existing[r.id][2]))
        seq = self._take_seq(len(new) + len(changed) + len(resourced))
        self._insert_papers(new, merged, pks, now, seq)
        self._update_papers(changed, merged, existing, seq + len(new))
        self.db.executemany("UPDATE papers SET seq = ? WHERE pk = ?",
                            [(seq + len(new) + len(changed) + i, pks[pid]) for i, pid in enumerate(resourced)])
        fresh = {pks[pid] for pid in new}  # their provenance rows cannot exist yet
        rows = [(pk, source, now) for pk, source in dict.fromkeys((pks[r.id], r.source) for r in records)]
        self._insert_new("provenance", ("pk", "source", "first_seen"), [r for r in rows if r[0] in fresh])
        self.db.executemany("INSERT INTO provenance (pk, source, first_seen) VALUES (?, ?, ?) "
                            "ON CONFLICT DO NOTHING", [r for r in rows if r[0] not in fresh])
        signals = self.add_signals([(pks[r.id], s) for r in records for s in r.signals], in_transaction=True)
        self.db.executemany("INSERT INTO paper_keys (key, pk) VALUES (?, ?) ON CONFLICT DO NOTHING",
                            list(dict.fromkeys((key, pks[r.id]) for r, ks in zip(records, keys) for key in ks)))
        return IngestResult(new=len(new), updated=len(changed),
                            unchanged=len(merged) - len(new) - len(changed), signals=signals)

    def _link(self, records: list[PaperRecord], keys: list[list[str]],
              existing: dict[str, tuple[int, _Row, set[str]]]) -> tuple[list[PaperRecord], list[list[str]]]:
        """Records of a paper the store holds under another id take that id (adding ``existing``
        its row): a journal version found by its DOI, an id merged before, or a title and first
        author. A title alone links only ids of different kinds (an arXiv preprint and its
        PubMed record), never two arXiv papers that happen to share a title. Returns the records
        and each one's keys (``keys``, with a renamed record's own id added)."""
        unknown = {r.id: ks for r, ks in zip(records, keys) if r.id not in existing}
        if not unknown:
            return records, keys
        found = self._papers_by_key([k for ks in unknown.values() for k in ks])
        renamed: dict[str, str] = {}
        for record_id, record_keys in unknown.items():
            for key in record_keys:
                hit = found.get(key)
                if hit and hit != record_id and (not key.startswith("title:") or
                                                  id_family(hit) != id_family(record_id)):
                    renamed[record_id] = hit
                    break
        if not renamed:
            return records, keys
        existing.update(self._rows_by_id(list(set(renamed.values()) - existing.keys())))
        return ([replace(r, id=renamed[r.id], aliases=[*r.aliases, r.id]) if r.id in renamed else r for r in records],
                [[*ks, r.id] if r.id in renamed else ks for r, ks in zip(records, keys)])

    def rekey_papers(self) -> int:
        """Give every stored paper its keys (DOI, title and first author), as ingest does for
        the papers it writes: for papers stored before keys existed. The number of keys added."""
        added, after = 0, 0
        while True:
            rows = self.db.execute("SELECT pk, id, title, authors, doi FROM papers WHERE pk > ? ORDER BY pk LIMIT 5000",
                                   (after,)).fetchall()
            if not rows:
                return added
            pairs = [(key, pk) for pk, pid, title, authors, doi in rows
                     for key in paper_keys(PaperRecord(id=pid, title=title, source="", doi=doi,
                                                       authors=json.loads(authors)))]
            with self._write_txn():
                added += self.db.executemany("INSERT INTO paper_keys (key, pk) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                             pairs).rowcount
            after = rows[-1][0]

    def _papers_by_key(self, keys: list[str]) -> dict[str, str]:
        """The id of the paper each key names (as an id or in paper_keys)."""
        found: dict[str, str] = {}
        for chunk in _chunks([k for k in dict.fromkeys(keys) if k]):
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(
                f"SELECT k.key, p.id FROM paper_keys k JOIN papers p ON p.pk = k.pk WHERE k.key IN ({marks}) "
                f"UNION ALL SELECT id, id FROM papers WHERE id IN ({marks})", chunk + chunk).fetchall())
        return found

    def _take_seq(self, count: int) -> int:
        """Reserve ``count`` values of the store's sequence; returns the first (inside a transaction)."""
        last = self.db.execute(self._TAKE_SEQ, (count,)).fetchone()[0]
        return int(last) - count + 1

    def _insert_papers(self, ids: list[str], merged: dict[str, _Row | PaperRecord],
                       pks: dict[str, int], now: str, seq: int) -> None:
        if not ids:
            return
        # The write lock is held, so the pks after the largest are ours: the same ones
        # SQLite would choose, known without asking back for each row.
        first = self.db.execute("SELECT coalesce(max(pk), 0) + 1 FROM papers").fetchone()[0]
        rows = []
        for offset, pid in enumerate(ids):
            pks[pid] = pk = first + offset
            row = merged[pid]
            values = merge.new_values(row) if isinstance(row, PaperRecord) else merge.encode_values(row)
            rows.append((pk, pid, *values, now, now, seq + offset))
        self._insert_new("papers", _PAPER_COLUMNS, rows)
        self._insert_new("paper_categories", ("category", "pk"),
                         [(c, pks[pid]) for pid in ids for c in dict.fromkeys(_categories(merged[pid]))])

    def _update_papers(self, ids: list[str], merged: dict[str, _Row],
                       existing: dict[str, tuple[int, _Row, set[str]]], seq: int) -> None:
        if not ids:
            return
        # Microseconds: two writes of one paper within the same second must still differ.
        changed = datetime.now(timezone.utc).isoformat()
        sets = ", ".join(f"{c} = ?" for c in (*merge.FIELDS, "author_names", "changed_at", "seq"))
        self.db.executemany(f"UPDATE papers SET {sets} WHERE pk = ?",
                            [(*merge.encode_values(merged[pid]), changed, seq + i, existing[pid][0])
                             for i, pid in enumerate(ids)])
        recategorised = [pid for pid in ids if merged[pid]["categories"] != existing[pid][1]["categories"]]
        for chunk in _chunks([existing[pid][0] for pid in recategorised]):
            self.db.execute(f"DELETE FROM paper_categories WHERE pk IN ({','.join('?' * len(chunk))})", chunk)
        self.db.executemany("INSERT INTO paper_categories (category, pk) VALUES (?, ?) ON CONFLICT DO NOTHING",
                            [(c, existing[pid][0]) for pid in recategorised for c in merged[pid]["categories"]])

    def _rows_by_id(self, ids: list[str]) -> dict[str, tuple[int, _Row, set[str]]]:
        """Existing papers by id: (pk, merge-owned columns decoded, sources)."""
        rows: dict[str, tuple[int, _Row, set[str]]] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for values in self._tuples(
                    f"SELECT pk, id, {self._SOURCES}, "
                    f"{', '.join(merge.FIELDS)} FROM papers p WHERE id IN ({marks})", chunk):
                rows[values[1]] = (values[0], merge.decode(dict(zip(merge.FIELDS, values[3:]))),
                                   set((values[2] or "").split("\x1f")))
        return rows

    def _pks(self, ids: list[str]) -> dict[str, int]:
        pks: dict[str, int] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            pks.update(self.db.execute(f"SELECT id, pk FROM papers WHERE id IN ({marks})", chunk).fetchall())
        return pks

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
        with self._write_txn():
            return self._add_signals(observations)

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
        if not rows:
            return 0
        return self.db.executemany("INSERT INTO signals (pk, kind, source, observed_at, value) "
                                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", rows).rowcount

    def _signal_history(self, pks: set[int]) -> defaultdict[tuple[int, str, str], list[tuple[str, float]]]:
        history: defaultdict[tuple[int, str, str], list[tuple[str, float]]] = defaultdict(list)
        for chunk in _chunks(sorted(pks)):
            marks = ",".join("?" * len(chunk))
            for pk, kind, source, observed_at, value in self._tuples(
                    f"SELECT pk, kind, source, observed_at, value FROM signals WHERE pk IN ({marks}) "
                    "ORDER BY pk, kind, source, observed_at", chunk):
                history[(pk, kind, source)].append((observed_at, value))
        return history

    def checkpoints(self, prefix: str) -> dict[str, dict]:
        rows = self.db.execute("SELECT key, value FROM checkpoints WHERE key >= ? AND key < ?",
                               (prefix, prefix + "\U0010ffff"))
        return {key: json.loads(value) for key, value in rows}

    def get(self, paper_id: str) -> StoredPaper | None:
        """The paper with this id, or the one it was merged into (a journal version's 'pmid:...')."""
        found = self.get_many([paper_id]).get(paper_id)
        if found is None and (other := self._papers_by_key([paper_id]).get(paper_id)):
            return self.get_many([other]).get(other)
        return found

    def get_many(self, ids: Iterable[str]) -> dict[str, StoredPaper]:
        ids = list(dict.fromkeys(ids))
        papers: dict[str, StoredPaper] = {}
        for chunk in _chunks(ids):  # one statement: each is a round trip to a PostgreSQL server
            marks = ",".join("?" * len(chunk))
            for r in self.db.execute(
                    f"SELECT pk, id, {', '.join(merge.FIELDS)}, added_at, changed_at, {self._SOURCES_SEEN} "
                    f"AS provenance FROM papers p WHERE id IN ({marks})", chunk).fetchall():
                data = merge.decode(dict(r))
                seen = data.pop("provenance")
                data.pop("pk"), data.pop("meta_source")
                sources = dict(entry.split("\x1e", 1) for entry in seen.split("\x1f")) if seen else {}
                papers[data["id"]] = StoredPaper(**data, sources=sources)
        return papers

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM papers").fetchone()[0]

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
            "path": self.location(),
        }


_OBSERVED_AT = itemgetter(0)


def _categories(row: _Row | PaperRecord) -> list[str]:
    return list(row.categories) if isinstance(row, PaperRecord) else row["categories"]
