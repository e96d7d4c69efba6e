"""Digest subscribers and the outbox of messages (issue 6); each backend adds its locks."""

from __future__ import annotations

import json
import secrets
import zlib
from typing import Any, Iterable

from papertide.store.base import OutboxRow, Subscriber
from papertide.store.sql_util import _chunks

_SUB_FIELDS = ("follows", "frequency", "hour", "tz", "max_papers")
_ROW_COLUMNS = ("idempotency_key", "kind", "subscriber_id", "email", "period", "message_id", "status",
                "attempts", "next_attempt_at", "last_error", "papers", "watermark_lo", "watermark_hi",
                "mime", "created_at", "claimed_at", "sent_at")


class DigestMixin:
    """Subscribers and outbox. Mixed into a store class (see ``PapersMixin``) that also gives
    ``_digest_txn`` (a transaction), ``digest_lock`` and ``delivery_lock``."""

    # -- subscribers ----------------------------------------------------------------
    def subscriber(self, *, email: str | None = None, id: int | None = None) -> Subscriber | None:
        if email is not None:
            row = self.db.execute("SELECT * FROM digest_subscribers WHERE email = ?", (email,)).fetchone()
        else:
            row = self.db.execute("SELECT * FROM digest_subscribers WHERE id = ?", (id,)).fetchone()
        return _subscriber(row) if row else None

    def subscribers(self, statuses: Iterable[str] = ()) -> list[Subscriber]:
        statuses = list(statuses)
        if statuses:
            marks = ",".join("?" * len(statuses))
            rows = self.db.execute(f"SELECT * FROM digest_subscribers WHERE status IN ({marks}) ORDER BY id",
                                   statuses)
        else:
            rows = self.db.execute("SELECT * FROM digest_subscribers ORDER BY id")
        return [_subscriber(r) for r in rows]

    def save_request(self, email: str, pending: dict[str, Any], nonce: str, now: str) -> Subscriber:
        # A confirmed address keeps its subscription until the change is confirmed;
        # any other one (new, unsubscribed, bounced) starts over as a request.
        with self._digest_txn():
            self.db.execute(
                "INSERT INTO digest_subscribers (email, status, pending, nonce, created_at, requested_at) "
                "VALUES (?, 'requested', ?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET "
                "pending = excluded.pending, nonce = excluded.nonce, requested_at = excluded.requested_at, "
                "status = CASE WHEN digest_subscribers.status = 'confirmed' THEN 'confirmed' ELSE 'requested' END",
                (email, json.dumps(pending), nonce, now, now))
        return self.subscriber(email=email)  # type: ignore[return-value]

    def confirm_subscriber(self, id: int, nonce: str, now: str) -> Subscriber | None:
        with self._digest_txn():
            row = self.db.execute("SELECT pending, nonce FROM digest_subscribers WHERE id = ?", (id,)).fetchone()
            if row is None or row["pending"] is None or not secrets.compare_digest(row["nonce"], nonce):
                return None
            pending = json.loads(row["pending"])
            values = [json.dumps(pending["follows"]) if k == "follows" else pending[k] for k in _SUB_FIELDS]
            self.db.execute(
                "UPDATE digest_subscribers SET follows = ?, frequency = ?, hour = ?, tz = ?, max_papers = ?, "
                "status = 'confirmed', pending = NULL, confirmed_at = ?, unsubscribed_at = NULL, "
                "last_error = NULL WHERE id = ?", (*values, now, id))
        return self.subscriber(id=id)

    def update_subscriber(self, id: int, changes: dict[str, Any]) -> Subscriber | None:
        unknown = set(changes) - set(_SUB_FIELDS)
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        if changes:
            sets = ", ".join(f"{k} = ?" for k in changes)
            values = [json.dumps(v) if k == "follows" else v for k, v in changes.items()]
            self.db.execute(f"UPDATE digest_subscribers SET {sets} WHERE id = ?", (*values, id))
        return self.subscriber(id=id)

    def set_subscriber_status(self, id: int, status: str, now: str, error: str | None = None) -> bool:
        with self._digest_txn():
            cursor = self.db.execute(
                "UPDATE digest_subscribers SET status = ?, last_error = coalesce(?, last_error), "
                "unsubscribed_at = CASE WHEN ? = 'unsubscribed' THEN ? ELSE unsubscribed_at END, "
                "pending = NULL WHERE id = ?", (status, error, status, now, id))
            self.db.execute("UPDATE digest_outbox SET status = 'cancelled', last_error = ? "
                            "WHERE subscriber_id = ? AND status = 'queued'", (f"subscriber {status}", id))
        return cursor.rowcount > 0

    def purge_requests(self, before: str) -> int:
        with self._digest_txn():
            gone = self.db.execute("DELETE FROM digest_subscribers WHERE status = 'requested' AND requested_at < ?",
                                   (before,)).rowcount
            self.db.execute("UPDATE digest_subscribers SET pending = NULL "
                            "WHERE pending IS NOT NULL AND requested_at < ?", (before,))
        return gone

    # -- the window of papers a digest covers ------------------------------------------
    # Papers are numbered in the order the store learned of them (pk): writers are
    # serialized, so a reader sees every paper up to the largest pk it sees. A digest
    # covers the pks in (lo, hi]; the next one starts at hi, so none is missed or repeated.
    def paper_watermark(self, before: str | None = None) -> int:
        if before is None:
            row = self.db.execute("SELECT max(pk) FROM papers").fetchone()
        else:
            # The newest paper added before then, found through the added_at index in one step.
            row = self.db.execute("SELECT pk FROM papers WHERE added_at < ? ORDER BY added_at DESC, pk DESC "
                                  "LIMIT 1", (before,)).fetchone()
        return int(row[0] or 0) if row else 0

    def queue_messages(self, rows: list[OutboxRow], now: str) -> set[str]:
        added: set[str] = set()
        with self._digest_txn():
            for row in rows:
                values = _row_values(row)
                cursor = self.db.execute(
                    f"INSERT INTO digest_outbox ({', '.join(_ROW_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(_ROW_COLUMNS))}) ON CONFLICT (idempotency_key) DO NOTHING",
                    values)
                if cursor.rowcount == 0:
                    continue  # another run queued this one first
                added.add(row.idempotency_key)
                if row.kind == "digest":
                    self.db.execute(
                        "UPDATE digest_subscribers SET last_period = ?, last_watermark = ?, last_queued_at = ? "
                        "WHERE id = ?", (row.period, row.watermark_hi, row.created_at, row.subscriber_id))
        return added

    def outbox_row(self, key: str) -> OutboxRow | None:
        row = self.db.execute("SELECT * FROM digest_outbox WHERE idempotency_key = ?", (key,)).fetchone()
        return _outbox_row(row) if row else None

    def sent_papers(self, subscriber_ids: Iterable[int], since: str) -> dict[int, set[str]]:
        found: dict[int, set[str]] = {}
        for chunk in _chunks(list(subscriber_ids)):
            marks = ",".join("?" * len(chunk))
            for sid, papers in self.db.execute(
                    f"SELECT subscriber_id, papers FROM digest_outbox WHERE kind = 'digest' "
                    f"AND subscriber_id IN ({marks}) AND created_at >= ? "
                    f"AND status IN ('queued', 'sending', 'sent')", (*chunk, since)):
                found.setdefault(sid, set()).update(json.loads(papers))
        return found

    def recover_outbox(self) -> int:
        return self.db.execute(
            "UPDATE digest_outbox SET status = 'queued', last_error = 'interrupted while sending; sent again' "
            "WHERE status = 'sending'").rowcount

    def next_due(self, now: str, keys: Iterable[str] = ()) -> OutboxRow | None:
        keys = list(keys)
        only = f"AND idempotency_key IN ({','.join('?' * len(keys))})" if keys else ""
        row = self.db.execute(
            f"SELECT * FROM digest_outbox WHERE status = 'queued' AND next_attempt_at <= ? {only} "
            f"ORDER BY next_attempt_at, id LIMIT 1", (now, *keys)).fetchone()
        return _outbox_row(row) if row else None

    def next_wakeup(self, keys: Iterable[str] = ()) -> str | None:
        keys = list(keys)
        only = f"AND idempotency_key IN ({','.join('?' * len(keys))})" if keys else ""
        return self.db.execute(f"SELECT min(next_attempt_at) FROM digest_outbox WHERE status = 'queued' {only}",
                               keys).fetchone()[0]

    def claim(self, id: int, now: str) -> bool:
        return self.db.execute(
            "UPDATE digest_outbox SET status = 'sending', attempts = attempts + 1, claimed_at = ? "
            "WHERE id = ? AND status = 'queued'", (now, id)).rowcount == 1

    def finish(self, id: int, status: str, now: str, *, error: str | None = None,
               next_attempt_at: str | None = None) -> None:
        # One short transaction right after the server's answer: the window in which a
        # kill leaves a delivered message marked 'sending' is this statement's commit.
        with self._digest_txn():
            self.db.execute(
                "UPDATE digest_outbox SET status = ?, last_error = ?, next_attempt_at = coalesce(?, next_attempt_at), "
                "sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE id = ?",
                (status, error, next_attempt_at, status, now, id))
            if status == "sent":
                self.db.execute("UPDATE digest_subscribers SET last_sent_at = ? WHERE id = "
                                "(SELECT subscriber_id FROM digest_outbox WHERE id = ? AND kind = 'digest')",
                                (now, id))
            elif status == "bounced":
                self.db.execute("UPDATE digest_subscribers SET status = 'bounced', last_error = ? WHERE id = "
                                "(SELECT subscriber_id FROM digest_outbox WHERE id = ?)", (error, id))

    def outbox_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, count(*) FROM digest_outbox GROUP BY status").fetchall())

    def outbox_problems(self, limit: int) -> list[OutboxRow]:
        columns = ", ".join(c for c in _ROW_COLUMNS if c != "mime")
        rows = self.db.execute(
            f"SELECT id, {columns}, NULL AS mime FROM digest_outbox WHERE status IN ('failed', 'bounced') "
            f"ORDER BY id DESC LIMIT ?", (limit,))
        return [_outbox_row(r) for r in rows]

    def prune_outbox(self, before: str) -> int:
        return self.db.execute("UPDATE digest_outbox SET mime = NULL WHERE status = 'sent' AND mime IS NOT NULL "
                               "AND sent_at < ?", (before,)).rowcount



def _subscriber(row: Any) -> Subscriber:
    data = dict(row)
    data["follows"] = json.loads(data["follows"])
    data["pending"] = json.loads(data["pending"]) if data["pending"] else None
    return Subscriber(**data)


def _row_values(row: OutboxRow) -> list[Any]:
    values = []
    for column in _ROW_COLUMNS:
        value = getattr(row, column)
        if column == "papers":
            value = json.dumps(value)
        elif column == "mime" and value is not None:
            value = zlib.compress(value, 1)
        values.append(value)
    return values


def _outbox_row(row: Any) -> OutboxRow:
    data = dict(row)
    data["papers"] = json.loads(data["papers"])
    data["mime"] = zlib.decompress(data["mime"]) if data["mime"] is not None else None
    return OutboxRow(**data)
