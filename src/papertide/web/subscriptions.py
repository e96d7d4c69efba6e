"""Subscription requests from the site and the API, handed to the digest.

A request is recorded by ``digest.subscriptions.request_subscription`` (status
``requested``) and its confirmation mail is sent at once if the SMTP server
answers; otherwise the digest scheduler (or cron's ``digest run``) retries it.
Nothing is sent to the address until it confirms. Changing or cancelling needs
a signed manage link, which only ever goes to the address itself, so asking
with someone else's address never exposes or changes their subscription.
"""

from __future__ import annotations

import logging
import re
import smtplib
from datetime import datetime, timezone
from typing import Any

from papertide.digest import periods
from papertide.digest import subscriptions as digest_subscriptions
from papertide.digest.runner import deliver_now
from papertide.errors import BadInput, PapertideError
from papertide.store.base import Subscriber
from papertide.web.service import WINDOWS, Site, make_filters

log = logging.getLogger("papertide.web")

FOLLOW_KINDS = ("trending", "categories", "searches", "authors")
FREQUENCIES = ("daily", "weekly")
STATUSES = ("unsubscribed",)
MAX_FOLLOWS = 20
MAX_FOLLOW_CHARS = 200
# ASCII addresses only (RFC 5322 atext in the local part): mail is sent without SMTPUTF8.
_EMAIL = re.compile(r"^[A-Za-z0-9!#$%&*+/=?^_`{|}~.-]{1,64}@(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+"
                    r"[A-Za-z]{2,63}$")


def clean_email(email: str) -> str:
    """The address with its domain lower-cased; BadInput if it does not look like one."""
    email = (email or "").strip()
    if not _EMAIL.match(email):
        raise BadInput("enter an email address like name@example.org")
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def clean_follows(follows: dict[str, Any]) -> dict[str, list[str]]:
    """Known kinds only, trimmed and de-duplicated; BadInput if empty or malformed."""
    unknown = set(follows) - set(FOLLOW_KINDS)
    if unknown:
        raise BadInput(f"unknown follow kind {sorted(unknown)[0]!r}; use {', '.join(FOLLOW_KINDS)}")
    cleaned: dict[str, list[str]] = {}
    for kind in FOLLOW_KINDS:
        values = follows.get(kind) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BadInput(f"{kind} must be a list of text")
        items = list(dict.fromkeys(" ".join(v.split()) for v in values if v.strip()))
        if len(items) > MAX_FOLLOWS or any(len(v) > MAX_FOLLOW_CHARS for v in items):
            raise BadInput(f"at most {MAX_FOLLOWS} {kind}, each under {MAX_FOLLOW_CHARS} characters")
        cleaned[kind] = items
    bad_windows = [w for w in cleaned["trending"] if w not in WINDOWS]
    if bad_windows:
        raise BadInput(f"trending windows are {', '.join(WINDOWS)}, not {bad_windows[0][:20]!r}")
    make_filters(cleaned["categories"])  # raises on a malformed category
    if not any(cleaned.values()):
        raise BadInput("follow at least one thing: a trending list, a category, a search or an author")
    return cleaned


def clean_frequency(frequency: str) -> str:
    if frequency not in FREQUENCIES:
        raise BadInput(f"frequency must be {' or '.join(FREQUENCIES)}")
    return frequency


def subscribe(site: Site, client: str, email: str, follows: dict[str, Any], frequency: str = "daily", *,
              hour: int | None = None, tz: str = "UTC",
              max_papers: int | None = None) -> tuple[digest_subscriptions.Request, bool]:
    """Record a request and send its confirmation mail (rate-limited per client: it sends email).
    Returns the request and whether the mail server accepted the mail (else it stays queued)."""
    site.limiter.check("subscribe", client)
    request = digest_subscriptions.request_subscription(
        site.store, site.settings, clean_email(email), clean_follows(follows), frequency=clean_frequency(frequency),
        hour=hour, tz=tz, max_papers=max_papers)
    return request, send_confirmation(site, request)


def send_confirmation(site: Site, request: digest_subscriptions.Request) -> bool:
    """Try to send the confirmation mail now; whether the mail server took it. A failure only
    leaves it queued for the scheduler."""
    try:
        report = deliver_now(site.store, site.settings, [request.message_key])
    except (PapertideError, smtplib.SMTPException, OSError) as exc:
        log.warning("confirmation mail for subscriber %s stays queued: %s", request.subscriber.id, exc)
        return False
    if report is not None and not report.sent:
        log.warning("confirmation mail for subscriber %s stays queued: %s", request.subscriber.id,
                    report.stopped or "not sent yet; the digest scheduler retries")
        return False
    return report is not None


def lookup(site: Site, token: str) -> Subscriber:
    """The subscriber behind a signed manage link (BadLink if forged, altered or expired)."""
    return digest_subscriptions.subscriber_for_manage(site.store, site.settings, token)


def change(site: Site, client: str, token: str, *, follows: dict[str, Any] | None = None,
           frequency: str | None = None, status: str | None = None) -> Subscriber:
    """Update or unsubscribe through a manage link (rate-limited like subscribing)."""
    site.limiter.check("subscribe", client)
    if status is not None and status not in STATUSES:
        raise BadInput("status can only be set to unsubscribed; subscribe again to resume")
    subscriber = lookup(site, token)
    if status == "unsubscribed":
        if subscriber.status != "unsubscribed":
            site.store.set_subscriber_status(subscriber.id, "unsubscribed", periods.iso(datetime.now(timezone.utc)))
        return site.store.subscriber(id=subscriber.id)  # type: ignore[no-any-return]
    return digest_subscriptions.update_subscription(
        site.store, site.settings, token, frequency=clean_frequency(frequency) if frequency is not None else None,
        follows=clean_follows(follows) if follows is not None else None)


def request_view(subscriber: Subscriber) -> dict[str, Any]:
    """The answer to a subscription request: what was asked, awaiting confirmation, whatever the
    address's state. Anyone may ask for any address, so the answer must not tell whether it is
    already subscribed (or when it confirmed): only the mailed link shows that."""
    return {**view(subscriber), "status": "requested", "pending": True, "confirmed_at": None}


def view(subscriber: Subscriber) -> dict[str, Any]:
    """What the API shows of a subscriber: a request awaiting confirmation shows what was asked for."""
    asked = subscriber.pending or {}
    return {"email": subscriber.email, "status": subscriber.status,
            "follows": asked.get("follows", subscriber.follows),
            "frequency": asked.get("frequency", subscriber.frequency), "hour": asked.get("hour", subscriber.hour),
            "tz": asked.get("tz", subscriber.tz), "max_papers": asked.get("max_papers", subscriber.max_papers),
            "pending": subscriber.pending is not None, "requested_at": subscriber.requested_at,
            "confirmed_at": subscriber.confirmed_at}
