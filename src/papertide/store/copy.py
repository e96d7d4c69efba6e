"""Copy a whole store to another, SQLite to PostgreSQL or back (``papertide copy-store``).

Papers travel in ranges of pks, each range with its categories, provenance and signals in
one transaction of the destination, so a copy killed at any point holds whole ranges only;
the next run starts after the destination's largest pk. Subscribers and the outbox follow by
id the same way; the small tables are upserted whole. The destination remembers which store
it copies (``copied_from``) and refuses to mix two. Vectors are not copied (their files and
pgvector columns differ): ``papertide index`` embeds the destination's papers again.
At the end every table's rows are counted on both sides. The destination's keyword index is
built by its first search, by ``papertide serve`` as it starts, or by ``papertide reindex``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from papertide.errors import StoreError

_PAPERS = ("pk", "id", "version", "title", "abstract", "authors", "author_names", "categories",
           "primary_category", "published", "updated", "doi", "journal_ref", "comment", "links",
           "keywords", "meta_source", "affiliations", "added_at", "changed_at", "seq")
# Tables copied with the papers of each pk range: (table, columns).
_WITH_PAPERS = (("paper_categories", ("category", "pk")),
                ("provenance", ("pk", "source", "first_seen")),
                ("signals", ("pk", "kind", "source", "observed_at", "value")),
                ("paper_keys", ("key", "pk")))
_SUBSCRIBERS = ("id", "email", "status", "follows", "frequency", "hour", "tz", "max_papers", "pending", "nonce",
                "created_at", "requested_at", "confirmed_at", "unsubscribed_at", "last_period", "last_watermark",
                "last_queued_at", "last_sent_at", "last_error")
_OUTBOX = ("id", "idempotency_key", "kind", "subscriber_id", "email", "period", "message_id", "status", "attempts",
           "next_attempt_at", "last_error", "papers", "watermark_lo", "watermark_hi", "mime", "created_at",
           "claimed_at", "sent_at")
_BY_ID = (("digest_subscribers", _SUBSCRIBERS), ("digest_outbox", _OUTBOX))
_WHOLE = (("checkpoints", ("key", "value", "updated_at")),
          ("github_repos", ("repo", "etag", "stars", "status", "checked_at")),
          ("digest_meta", ("key", "value")))
COUNTED = ("papers", *(t for t, _ in _WITH_PAPERS), *(t for t, _ in _BY_ID), *(t for t, _ in _WHOLE))
BATCH = 5000  # papers (or subscribers, outbox rows) per destination transaction


@dataclass
class CopyReport:
    papers: int = 0          # copied by this run (a resumed run counts only its own)
    resumed_after: int = 0   # the destination already held papers up to this pk
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # every table, equal on both sides

    @property
    def rate(self) -> float:
        return self.papers / self.seconds if self.seconds else 0.0


def _insert(columns: tuple[str, ...], table: str) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT DO NOTHING")


def _rows(store: Any, sql: str, params: Any = ()) -> list[tuple]:
    return [tuple(r) for r in store._tuples(sql, params)]


def copy_store(src: Any, dst: Any, *, on_batch: Callable[[int, int], None] | None = None) -> CopyReport:
    """Copy ``src`` into ``dst`` (empty, or a copy of ``src`` cut short); ``on_batch(done, total)``
    after each range of papers. Raises StoreError when the destination holds another store."""
    started = time.perf_counter()
    source_uid = src.store_uid()
    marked = dst.db.execute("SELECT value FROM store_meta WHERE key = 'copied_from'").fetchone()
    if marked is None and dst.count():
        raise StoreError("the destination already holds papers of its own; copy into an empty store")
    if marked is not None and marked[0] != source_uid:
        raise StoreError("the destination holds a copy of another store; copy into an empty store")
    with dst._write_txn():
        dst.db.execute("INSERT INTO store_meta (key, value) VALUES ('copied_from', ?) ON CONFLICT DO NOTHING",
                       (source_uid,))
    report = CopyReport()
    report.resumed_after = after = int(dst.db.execute("SELECT coalesce(max(pk), 0) FROM papers").fetchone()[0])
    total = src.count()
    done = int(dst.db.execute("SELECT count(*) FROM papers").fetchone()[0])
    while True:
        papers = _rows(src, f"SELECT {', '.join(_PAPERS)} FROM papers WHERE pk > ? ORDER BY pk LIMIT ?",
                       (after, BATCH))
        if not papers:
            break
        lo, hi = after, papers[-1][0]
        with dst._write_txn(writing_papers=True):  # rows past the destination's last range: all new
            dst._insert_new("papers", _PAPERS, papers)
            for table, columns in _WITH_PAPERS:
                rows = _rows(src, f"SELECT {', '.join(columns)} FROM {table} WHERE pk > ? AND pk <= ?", (lo, hi))
                dst._insert_new(table, columns, rows)
        after, done, report.papers = hi, done + len(papers), report.papers + len(papers)
        if on_batch:
            on_batch(done, total)
    for table, columns in _BY_ID:
        last = int(dst.db.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0])
        while rows := _rows(src, f"SELECT {', '.join(columns)} FROM {table} WHERE id > ? ORDER BY id LIMIT ?",
                            (last, BATCH)):
            with dst._write_txn():
                dst._insert_new(table, columns, rows)
            last = rows[-1][0]
    with dst._write_txn():
        for table, columns in _WHOLE:
            rows = _rows(src, f"SELECT {', '.join(columns)} FROM {table}")
            if table == "github_repos":  # kept lower-cased (GitHub ignores case)
                rows = [(r[0].lower(), *r[1:]) for r in rows]
            if rows:
                dst.db.executemany(_insert(columns, table), rows)
        dst.db.execute("UPDATE store_meta SET value = ? WHERE key = 'seq'", (str(src.change_seq()),))
        dst._after_copy()
    report.counts = _verify(src, dst)
    report.seconds = time.perf_counter() - started
    return report


def _verify(src: Any, dst: Any) -> dict[str, int]:
    counts = {}
    for table in COUNTED:
        theirs = int(src.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        ours = int(dst.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        if table == "github_repos" and ours < theirs:  # names differing only in case became one
            theirs = int(src.db.execute("SELECT count(DISTINCT lower(repo)) FROM github_repos").fetchone()[0])
        if ours != theirs:
            raise StoreError(f"the copy's {table} holds {ours:,} rows, the source's {theirs:,}; run copy-store again")
        counts[table] = ours
    return counts
