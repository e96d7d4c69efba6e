"""SQLite: what the web site reads and writes beyond papers and search.

Signal history for sparklines, and subscription requests (stored until the
digest takes them over; see migration 0006).
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Iterable

from papertide.model import utc_now
from papertide.store.base import SubscriptionRequest
from papertide.store.sqlite_util import _chunks

_SUBSCRIPTION_COLUMNS = "id, token, email, follows, frequency, status, created_at, updated_at"


class WebMixin:
    """Mixed into ``SQLiteStore``; ``self.db`` is the connection."""

    def signal_history(self, ids: Iterable[str],
                       kinds: Iterable[str]) -> dict[str, dict[str, list[tuple[str, float]]]]:
        """``{id: {kind: [(observed_at, value), ...] oldest first}}``; every source merged.

        When two sources observe a kind at the same moment the larger value wins,
        so a series never jumps between sources' scales within one instant.
        """
        kinds = list(dict.fromkeys(kinds))
        history: dict[str, dict[str, list[tuple[str, float]]]] = {}
        if not kinds:
            return history
        kind_marks = ",".join("?" * len(kinds))
        for chunk in _chunks(list(dict.fromkeys(ids)), 800):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT p.id, s.kind, s.observed_at, max(s.value) FROM papers p "
                f"JOIN signals s ON s.pk = p.pk WHERE p.id IN ({marks}) AND s.kind IN ({kind_marks}) "
                f"GROUP BY p.id, s.kind, s.observed_at ORDER BY s.observed_at", (*chunk, *kinds))
            for pid, kind, observed_at, value in rows:
                history.setdefault(pid, {}).setdefault(kind, []).append((observed_at, float(value)))
        return history

    def add_subscription_request(self, email: str, follows: dict[str, list[str]],
                                 frequency: str) -> SubscriptionRequest:
        """Store a new request with a fresh manage token; status 'requested'."""
        now = utc_now()
        token = secrets.token_urlsafe(24)
        cursor = self.db.execute(
            "INSERT INTO subscription_requests (token, email, follows, frequency, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'requested', ?, ?)",
            (token, email, json.dumps(follows, ensure_ascii=False), frequency, now, now))
        return SubscriptionRequest(cursor.lastrowid, token, email, follows, frequency, "requested", now, now)

    def subscription_request(self, token: str) -> SubscriptionRequest | None:
        """The request a manage token belongs to, or None."""
        row = self.db.execute(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscription_requests WHERE token = ?", (token,)).fetchone()
        return _subscription(row) if row is not None else None

    def update_subscription_request(self, token: str, *, follows: dict[str, list[str]] | None = None,
                                    frequency: str | None = None,
                                    status: str | None = None) -> SubscriptionRequest | None:
        """Change what a request follows, how often, or its status; None if the token is unknown."""
        changes: dict[str, Any] = {"updated_at": utc_now()}
        if follows is not None:
            changes["follows"] = json.dumps(follows, ensure_ascii=False)
        if frequency is not None:
            changes["frequency"] = frequency
        if status is not None:
            changes["status"] = status
        sets = ", ".join(f"{name} = :{name}" for name in changes)
        self.db.execute(f"UPDATE subscription_requests SET {sets} WHERE token = :token", {**changes, "token": token})
        return self.subscription_request(token)

    def subscription_requests(self, status: str | None = None) -> list[SubscriptionRequest]:
        """Every stored request (optionally only one status), oldest first."""
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self.db.execute(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscription_requests {where} ORDER BY id", params)
        return [_subscription(r) for r in rows]


def _subscription(row: Any) -> SubscriptionRequest:
    follows = json.loads(row[3])
    return SubscriptionRequest(row[0], row[1], row[2], follows if isinstance(follows, dict) else {},
                               row[4], row[5], row[6], row[7])
