"""One digest run, as cron's ``papertide digest run`` and the scheduler in ``serve`` do it:
forget expired requests, queue every due digest, deliver the outbox, prune old bodies."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from papertide.digest import periods, subscriptions
from papertide.digest.deliver import Delivery, DeliveryReport, utc_clock
from papertide.digest.outbox import QueueReport, queue_due
from papertide.errors import DigestBusy
from papertide.settings import Settings

log = logging.getLogger("papertide.digest")

EX_TEMPFAIL = 75  # sysexits: try again later (messages stay queued)


@dataclass
class RunReport:
    queue: QueueReport = field(default_factory=QueueReport)
    delivery: DeliveryReport | None = None
    purged: int = 0
    pruned: int = 0
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        """0: everything due went out (bounces are reported, not errors); 75: some stay queued."""
        if self.delivery and (self.delivery.stopped or self.delivery.left_queued):
            return EX_TEMPFAIL
        return 0

    def as_dict(self) -> dict[str, Any]:
        return {"queue": asdict(self.queue), "delivery": asdict(self.delivery) if self.delivery else None,
                "purged": self.purged, "pruned": self.pruned, "dry_run": self.dry_run}


def run_digests(store: Any, settings: Settings, *, day: date | None = None, now: datetime | None = None,
                dry_run: bool = False, blocking: bool = True, max_wait: float | None = None,
                lookback: timedelta | None = None, sleep: Callable[[float], None] = time.sleep,
                progress: Callable[[str, int, int], None] | None = None) -> RunReport:
    """Queue and send what is due. Composing holds the store's digest lock (one run at a time);
    sending holds its delivery lock (SQLite: the same one; PostgreSQL: none, every row is
    claimed with a row lock, so several workers send at once). Raises DigestBusy when
    ``blocking`` is false and another run holds the lock."""
    now = now or datetime.now(timezone.utc)
    report = RunReport(dry_run=dry_run)
    with store.digest_lock(blocking):
        if not dry_run:
            report.purged = subscriptions.purge_expired(store, settings, now)
        queue_progress = (lambda done, total: progress("compose", done, total)) if progress else None
        report.queue = queue_due(store, settings, now=now, day=day, dry_run=dry_run, lookback=lookback,
                                 progress=queue_progress)
    if dry_run:
        return report
    with store.delivery_lock(blocking):
        total = store.outbox_counts().get("queued", 0)
        report.delivery = Delivery(
            store, settings, max_wait=settings.smtp_retry_wait if max_wait is None else max_wait, sleep=sleep,
            progress=(lambda r: progress("send", r.sent, total)) if progress else None).run()
        keep = timedelta(days=int(settings.digest_keep_days))
        report.pruned = store.prune_outbox(periods.iso(now - keep))
    return report


def deliver_now(store: Any, settings: Settings, keys: Iterable[str], *, max_wait: float = 0.0) -> DeliveryReport | None:
    """Send these rows right away if no run is delivering (else that run or the next sends them)."""
    try:
        with store.delivery_lock(blocking=False):
            return Delivery(store, settings, keys=keys, max_wait=max_wait, clock=utc_clock).run()
    except DigestBusy:
        return None


def status(store: Any, *, problems: int = 10) -> dict[str, Any]:
    """Outbox counts by status, subscribers by status, when the next retry is due, recent problems."""
    counts = {s: 0 for s in ("queued", "sending", "sent", "failed", "bounced", "skipped", "cancelled")}
    counts.update(store.outbox_counts())
    subscribers: dict[str, int] = {}
    for sub in store.subscribers():
        subscribers[sub.status] = subscribers.get(sub.status, 0) + 1
    return {"outbox": counts, "subscribers": subscribers, "next_attempt_at": store.next_wakeup(),
            "problems": [{"email": r.email, "kind": r.kind, "period": r.period, "status": r.status,
                          "attempts": r.attempts, "error": r.last_error} for r in store.outbox_problems(problems)]}
