"""Who is due, what their digest holds, and putting it in the outbox.

Composing a digest reads; queueing it is one transaction that inserts the outbox
row under its idempotency key (``digest:<subscriber>:<period>``) and moves the
subscriber's window on. A second run, or a second worker, finds the key taken and
does nothing, so a digest is queued once whatever runs in parallel or crashes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any, Callable, Iterator

from papertide.digest import links, periods
from papertide.digest.compose import DigestGroup, Topic, compose
from papertide.digest.render import (
    Cards,
    Rendered,
    build_message,
    message_id,
    render_digest,
)
from papertide.digest.subscriptions import Follows
from papertide.digest.topics import TopicFinder
from papertide.errors import UnknownSubscriber
from papertide.settings import Settings
from papertide.store.base import OutboxRow, Subscriber

log = logging.getLogger("papertide.digest")

BATCH = 500            # digests composed, then queued in one transaction
SENT_MEMORY_DAYS = 30  # a trending paper sent in this many days is not sent again


@dataclass
class Due:
    subscriber: Subscriber
    period: str


@dataclass
class Composed:
    due: Due
    groups: list[DigestGroup]
    lo: int
    hi: int

    @property
    def paper_ids(self) -> list[str]:
        return [item.paper_id for g in self.groups for item in g.items]


@dataclass
class QueueReport:
    due: int = 0
    queued: int = 0
    empty: int = 0       # nothing new matched: recorded as skipped, not sent
    papers: int = 0
    seconds: float = 0.0


def due_subscribers(store: Any, now: datetime, day: date | None = None) -> list[Due]:
    """Confirmed subscribers whose digest is due at ``now`` (each at their hour and zone),
    or, with ``day``, everyone who has not had the digest of the period holding that day."""
    due = []
    for sub in store.subscribers(["confirmed"]):
        if day is not None:
            period: str | None = periods.period_of(sub.frequency, day)
            period = None if period == sub.last_period else period
        else:
            marks = [periods.parse_instant(t) for t in (sub.last_queued_at, sub.confirmed_at) if t]
            period = periods.due_period(sub.frequency, sub.hour, sub.tz, now, last_period=sub.last_period,
                                        not_before=max(marks) if marks else None)
        if period is not None:
            due.append(Due(sub, period))
    return due


def _store_time(when: datetime) -> str:
    """The store's own timestamp format (``added_at``), for comparing with it."""
    return when.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def window_start(store: Any, due: Due, lookback: timedelta | None, known: dict[str, int] | None = None) -> int:
    """Where a digest's window starts: where the last one ended; for a first digest, the
    papers added during the period before its slot (or ``lookback`` before it)."""
    sub = due.subscriber
    if sub.last_watermark is not None:
        return sub.last_watermark
    start = periods.slot(due.period, sub.hour, sub.tz) - (lookback or periods.period_length(sub.frequency))
    before = _store_time(start)
    known = {} if known is None else known
    if before not in known:
        known[before] = store.paper_watermark(before=before)
    return known[before]


def _follows(sub: Subscriber) -> Follows:
    data = sub.follows if sub.status == "confirmed" or not sub.pending else sub.pending["follows"]
    return Follows.from_dict(data)


def compose_all(store: Any, settings: Settings, dues: list[Due], *, now: datetime, hi: int,
                lookback: timedelta | None = None) -> Iterator[Composed]:
    """Each due subscriber's digest, composed against the same store snapshot position ``hi``."""
    finder = TopicFinder(store, settings, now)
    people = {d.subscriber.id for d in dues if store.person(email=d.subscriber.email) is not None}
    # Trending lists and recommendations repeat from day to day: what a digest had is left out later.
    repeating = [d.subscriber.id for d in dues if d.subscriber.follows.get("trending") or d.subscriber.id in people]
    already = store.sent_papers(repeating, periods.iso(now - timedelta(days=SENT_MEMORY_DAYS)))
    starts: dict[str, int] = {}
    for due in dues:
        sub = due.subscriber
        lo = window_start(store, due, lookback, starts)
        topics = _follows(sub).topics()
        if sub.id in people:  # the subscriber signs in here too: their recommendations come first
            topics.insert(0, Topic("foryou", sub.email))
        topic_hits = [finder.hits(t, lo, hi, sub.frequency) for t in topics]
        yield Composed(due, compose(topic_hits, sub.max_papers, already.get(sub.id, ())), lo, hi)


class Renderer:
    """Renders composed digests to outbox rows, sharing paper views across them."""

    def __init__(self, store: Any, settings: Settings, now: datetime) -> None:
        self.store, self.settings, self.now = store, settings, now
        self.signer = links.signer(store, settings)
        self.cards = Cards(settings)

    def load(self, batch: list[Composed]) -> None:
        missing = {pid for c in batch for pid in c.paper_ids if pid not in self.cards.views}
        self.cards.add(self.store.get_many(sorted(missing)).values())

    def links_for(self, sub: Subscriber) -> tuple[str, str]:
        """The manage and unsubscribe links of a subscriber."""
        return (links.link(self.settings, "manage", self.signer.token("manage", sub)),
                links.link(self.settings, "unsubscribe", self.signer.token("unsubscribe", sub)))

    def render(self, c: Composed, manage: str, unsubscribe: str) -> Rendered:
        sub = c.due.subscriber
        return render_digest(self.settings, email=sub.email, period=c.due.period, groups=c.groups,
                             cards=self.cards, topics=_follows(sub).topics(), manage_url=manage,
                             unsubscribe_url=unsubscribe, rate=self._rating_links(sub))

    def _rating_links(self, sub: Subscriber) -> Callable[[str], dict[str, str]] | None:
        """👍/👎 links for each paper of a subscriber who signs in here (signed: one click, no sign-in)."""
        person = self.store.person(email=sub.email)
        if person is None:
            return None
        return lambda pid: {v: links.rating_link(self.settings, self.store, person.id, person.email, pid, v)
                            for v in ("up", "down")}

    def row(self, c: Composed) -> OutboxRow:
        sub, stamp = c.due.subscriber, periods.iso(self.now)
        ids = [pid for pid in c.paper_ids if pid in self.cards.views]
        row = OutboxRow(idempotency_key=f"digest:{sub.id}:{c.due.period}", kind="digest", subscriber_id=sub.id,
                        email=sub.email, message_id=message_id(self.settings, "digest", sub.id, c.due.period),
                        period=c.due.period, next_attempt_at=stamp, papers=ids, watermark_lo=c.lo,
                        watermark_hi=c.hi, created_at=stamp)
        if not ids and not self.settings.digest_send_empty:
            row.status = "skipped"
            return row
        manage, unsubscribe = self.links_for(sub)
        row.mime = build_message(self.settings, to=sub.email, rendered=self.render(c, manage, unsubscribe),
                                 msg_id=row.message_id, date=self.now, unsubscribe_url=unsubscribe)
        return row


def queue_due(store: Any, settings: Settings, *, now: datetime, day: date | None = None,
              dry_run: bool = False, lookback: timedelta | None = None,
              progress: Callable[[int, int], None] | None = None) -> QueueReport:
    """Compose and queue every due digest. A dry run composes and renders but writes nothing."""
    started = time.perf_counter()
    dues = due_subscribers(store, now, day)
    report = QueueReport(due=len(dues))
    hi = store.paper_watermark()
    renderer = Renderer(store, settings, now)
    batch: list[Composed] = []
    for composed in compose_all(store, settings, dues, now=now, hi=hi, lookback=lookback):
        batch.append(composed)
        if len(batch) == BATCH:
            _flush(store, renderer, batch, report, dry_run, progress)
    _flush(store, renderer, batch, report, dry_run, progress)
    report.seconds = time.perf_counter() - started
    return report


def _flush(store: Any, renderer: Renderer, batch: list[Composed], report: QueueReport, dry_run: bool,
           progress: Callable[[int, int], None] | None) -> None:
    if not batch:
        return
    renderer.load(batch)
    rows = [renderer.row(c) for c in batch]
    report.empty += sum(r.status == "skipped" for r in rows)
    report.papers += sum(len(r.papers) for r in rows)
    added = set() if dry_run else store.queue_messages(rows, periods.iso(renderer.now))
    report.queued += sum(r.status == "queued" and (dry_run or r.idempotency_key in added) for r in rows)
    if progress:
        progress(report.queued + report.empty, report.due)
    batch.clear()


def preview(store: Any, settings: Settings, email: str, *, day: date | None = None,
            now: datetime | None = None) -> tuple[Rendered, str]:
    """The digest of ``email`` for the period holding ``day`` (default: today in their zone):
    the message as queued or sent if there is one, else composed now (nothing is written)."""
    now = now or datetime.now(timezone.utc)
    sub = store.subscriber(email=email.strip().lower())
    if sub is None:
        raise UnknownSubscriber(f"no subscriber {email!r}")
    day = day or now.astimezone(periods.zone(sub.tz)).date()
    due = Due(sub, periods.period_of(sub.frequency, day))
    stored = store.outbox_row(f"digest:{sub.id}:{due.period}")
    if stored is not None and stored.mime is not None:
        return parse_message(stored.mime), f"as {stored.status} on {stored.created_at[:16]}"
    composed = next(compose_all(store, settings, [due], now=now, hi=store.paper_watermark()))
    renderer = Renderer(store, settings, now)
    renderer.load([composed])
    return renderer.render(composed, *renderer.links_for(sub)), "composed now (not queued)"


def parse_message(data: bytes) -> Rendered:
    """Subject, HTML and text of stored MIME bytes."""
    message = message_from_bytes(data, policy=default_policy)
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    return Rendered(str(message["Subject"]), html.get_content() if html else "", text.get_content() if text else "")
