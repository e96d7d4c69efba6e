"""Subscriptions: what an address follows, double opt-in, manage and unsubscribe.

The CLI, the API and the web forms all call these functions. Nothing is sent to
an address until it confirms through the signed link mailed to it; a request not
confirmed within ``confirm_expiry_hours`` is forgotten. A confirmed subscriber who
asks for a change keeps the old subscription until the change is confirmed too.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from papertide.digest import links, periods
from papertide.digest.compose import Topic
from papertide.digest.render import confirm_message, message_id
from papertide.errors import BadLink, InvalidSubscription, UnknownSubscriber
from papertide.model import normal_email
from papertide.settings import Settings
from papertide.store.base import OutboxRow, Subscriber

MODES = ("keyword", "semantic", "hybrid")
WINDOWS = ("", "day", "week", "month")
MAX_TOPICS = 50
MAX_PAPERS = 100
_CATEGORY = re.compile(r"^[A-Za-z\-]+(\.[A-Za-z0-9\-]+)?$")


@dataclass
class Follows:
    """What one subscription follows. ``as_dict`` is what the store keeps."""

    trending: list[dict[str, Any]] = field(default_factory=list)  # {"categories": [...], "window": ""}
    searches: list[dict[str, Any]] = field(default_factory=list)  # {"query", "mode", "categories"}
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Follows":
        """Read the stored form, or the web form's (``trending`` as windows, ``searches`` as strings)."""
        raw = data.get("trending") or []
        if raw is True:  # {"trending": true}: trending overall
            raw = [""]
        trending = [{"categories": [], "window": t} if isinstance(t, str) else
                    {"categories": list(t.get("categories", [])), "window": t.get("window", "")}
                    for t in raw]
        searches = [{"query": s, "mode": "keyword", "categories": []} if isinstance(s, str) else
                    {"query": s.get("query", ""), "mode": s.get("mode") or "keyword",
                     "categories": list(s.get("categories", []))}
                    for s in data.get("searches", [])]
        return cls(trending, searches, list(data.get("authors", [])), list(data.get("categories", [])))

    def as_dict(self) -> dict[str, Any]:
        return {"trending": self.trending, "searches": self.searches, "authors": self.authors,
                "categories": self.categories}

    def topics(self) -> list[Topic]:
        """The topics in digest order: trending, searches, authors, categories."""
        found = [Topic("trending", categories=tuple(t["categories"]), window=t.get("window", ""))
                 for t in self.trending]
        found += [Topic("search", s["query"], s.get("mode", "keyword"), tuple(s.get("categories", [])))
                  for s in self.searches]
        found += [Topic("author", name) for name in self.authors]
        found += [Topic("category", cat) for cat in self.categories]
        return list(dict.fromkeys(found))

    def validate(self) -> "Follows":
        """Clean and check; InvalidSubscription with the first problem found."""
        self.authors = _unique(" ".join(a.split()) for a in self.authors)
        self.categories = _unique(self.categories)
        for cat in [*self.categories, *(c for t in [*self.trending, *self.searches] for c in t["categories"])]:
            if not _CATEGORY.match(cat):
                raise InvalidSubscription(f"{cat!r} is not a category like cs.CV or q-bio")
        for search in self.searches:
            search["query"] = " ".join(str(search["query"]).split())
            if not search["query"] or len(search["query"]) > 500:
                raise InvalidSubscription("a saved search needs a query of 1 to 500 characters")
            if search["mode"] not in MODES:
                raise InvalidSubscription(f"unknown search mode {search['mode']!r}; choose from {', '.join(MODES)}")
        if any(t.get("window", "") not in WINDOWS for t in self.trending):
            raise InvalidSubscription("a trending window is day, week or month")
        if any(not a or len(a) > 200 for a in self.authors):
            raise InvalidSubscription("an author name needs 1 to 200 characters")
        topics = self.topics()
        if not topics:
            raise InvalidSubscription("follow at least one thing: trending, a search, an author or a category")
        if len(topics) > MAX_TOPICS:
            raise InvalidSubscription(f"at most {MAX_TOPICS} topics per subscription")
        return self


@dataclass
class Request:
    """A recorded request and the confirmation mail queued for it."""

    subscriber: Subscriber
    confirm_url: str
    message_key: str


def normalize_email(email: str) -> str:
    """The address as stored (trimmed, lower-cased); InvalidSubscription if it is not one."""
    address = normal_email(email)
    if not address:
        raise InvalidSubscription(f"{email!r} is not an email address")
    return address


def check_schedule(frequency: str, hour: int, tz: str, max_papers: int) -> None:
    """InvalidSubscription unless all four are acceptable."""
    if frequency not in periods.FREQUENCIES:
        raise InvalidSubscription(f"frequency is daily or weekly, not {frequency!r}")
    if not isinstance(hour, int) or not 0 <= hour <= 23:
        raise InvalidSubscription(f"hour is 0 to 23, not {hour!r}")
    periods.zone(tz)
    if not isinstance(max_papers, int) or not 1 <= max_papers <= MAX_PAPERS:
        raise InvalidSubscription(f"the most papers per digest is 1 to {MAX_PAPERS}, not {max_papers!r}")


def request_subscription(store: Any, settings: Settings, email: str, follows: Follows | dict[str, Any], *,
                         frequency: str = "daily", hour: int | None = None, tz: str = "UTC",
                         max_papers: int | None = None, now: datetime | None = None) -> Request:
    """Record a request and queue its confirmation mail; nothing else is sent until it is confirmed."""
    now = now or datetime.now(timezone.utc)
    address = normalize_email(email)
    follows = (follows if isinstance(follows, Follows) else Follows.from_dict(follows)).validate()
    hour = settings.digest_hour if hour is None else hour
    max_papers = settings.digest_max_papers if max_papers is None else max_papers
    check_schedule(frequency, hour, tz, max_papers)
    pending = {"follows": follows.as_dict(), "frequency": frequency, "hour": hour, "tz": tz,
               "max_papers": max_papers}
    nonce = secrets.token_urlsafe(8)
    subscriber = store.save_request(address, pending, nonce, periods.iso(now))
    url = links.link(settings, "confirm", links.signer(store, settings).token("confirm", subscriber, nonce))
    row = OutboxRow(idempotency_key=f"confirm:{subscriber.id}:{nonce}", kind="confirm",
                    subscriber_id=subscriber.id, email=address,
                    message_id=message_id(settings, "confirm", subscriber.id, nonce),
                    next_attempt_at=periods.iso(now), created_at=periods.iso(now))
    row.mime = confirm_message(settings, address, pending, url, row.message_id, now,
                               expiry_hours=settings.confirm_expiry_hours)
    store.queue_messages([row], periods.iso(now))
    return Request(subscriber, url, row.idempotency_key)


def subscriber_for_confirm(store: Any, settings: Settings, token: str) -> Subscriber:
    """The subscriber a confirm link belongs to, unchanged; BadLink if the link is invalid or expired."""
    claims = links.signer(store, settings).read("confirm", links.token_from(token),
                                                max_age=settings.confirm_expiry_hours * 3600)
    return _owner(store, claims)


def confirm(store: Any, settings: Settings, token: str, now: datetime | None = None) -> Subscriber:
    """Apply the request a confirm link was mailed for. Following the link twice is harmless."""
    now = now or datetime.now(timezone.utc)
    claims = links.signer(store, settings).read("confirm", links.token_from(token),
                                                max_age=settings.confirm_expiry_hours * 3600)
    subscriber = _owner(store, claims)
    confirmed = store.confirm_subscriber(subscriber.id, claims.nonce, periods.iso(now))
    if confirmed is not None:
        return confirmed
    if subscriber.status == "confirmed" and subscriber.nonce == claims.nonce:
        return subscriber  # already confirmed with this very link
    if subscriber.status in ("unsubscribed", "bounced"):
        raise BadLink(f"{subscriber.email} has {subscriber.status} since this link was sent; subscribe again")
    raise BadLink("this confirmation link was replaced by a newer request; use the latest mail")


def subscriber_for_unsubscribe(store: Any, settings: Settings, token: str) -> Subscriber:
    """The subscriber an unsubscribe link belongs to; BadLink if it is not a valid one."""
    claims = links.signer(store, settings).read("unsubscribe", links.token_from(token), max_age=None)
    return _owner(store, claims)


def unsubscribe(store: Any, settings: Settings, token: str, now: datetime | None = None) -> Subscriber:
    """Stop all mail to the link's subscriber. Works any number of times, with no expiry."""
    subscriber = subscriber_for_unsubscribe(store, settings, token)
    if subscriber.status != "unsubscribed":
        store.set_subscriber_status(subscriber.id, "unsubscribed", periods.iso(now or datetime.now(timezone.utc)))
    return store.subscriber(id=subscriber.id)


def manage_link(store: Any, settings: Settings, subscriber: Subscriber) -> str:
    """A link to the subscriber's manage page (valid ``manage_link_days``)."""
    return links.link(settings, "manage", links.signer(store, settings).token("manage", subscriber))


def unsubscribe_link(store: Any, settings: Settings, subscriber: Subscriber) -> str:
    """A one-click unsubscribe link (never expires)."""
    return links.link(settings, "unsubscribe", links.signer(store, settings).token("unsubscribe", subscriber))


def subscriber_for_manage(store: Any, settings: Settings, token: str) -> Subscriber:
    """The subscriber a manage link belongs to; BadLink if it is invalid or expired."""
    claims = links.signer(store, settings).read("manage", links.token_from(token),
                                                max_age=settings.manage_link_days * 86400)
    return _owner(store, claims)


def update_subscription(store: Any, settings: Settings, token: str, *, frequency: str | None = None,
                        hour: int | None = None, tz: str | None = None, max_papers: int | None = None,
                        follows: Follows | dict[str, Any] | None = None) -> Subscriber:
    """Change a subscription through its manage link (the link proves the address)."""
    subscriber = subscriber_for_manage(store, settings, token)
    changes: dict[str, Any] = {"frequency": frequency or subscriber.frequency,
                               "hour": subscriber.hour if hour is None else hour, "tz": tz or subscriber.tz,
                               "max_papers": subscriber.max_papers if max_papers is None else max_papers}
    check_schedule(**changes)
    if follows is not None:
        follows = follows if isinstance(follows, Follows) else Follows.from_dict(follows)
        changes["follows"] = follows.validate().as_dict()
    return store.update_subscriber(subscriber.id, changes)


def remove(store: Any, settings: Settings, email: str, now: datetime | None = None) -> Subscriber:
    """Unsubscribe an address (the operator's way; queued digests are cancelled)."""
    subscriber = store.subscriber(email=normalize_email(email))
    if subscriber is None:
        raise UnknownSubscriber(f"no subscriber {email!r}")
    store.set_subscriber_status(subscriber.id, "unsubscribed", periods.iso(now or datetime.now(timezone.utc)))
    return store.subscriber(id=subscriber.id)


def purge_expired(store: Any, settings: Settings, now: datetime) -> int:
    """Forget requests never confirmed within ``confirm_expiry_hours``."""
    return store.purge_requests(periods.iso(now - timedelta(hours=settings.confirm_expiry_hours)))


def _owner(store: Any, claims: links.Claims) -> Subscriber:
    subscriber = store.subscriber(id=claims.subscriber_id)
    if subscriber is None or subscriber.email != claims.email:
        raise BadLink("this link belongs to a subscription that no longer exists")
    return subscriber


def _unique(items: Any) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))
