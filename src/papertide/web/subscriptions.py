"""Subscription requests from the site and the API.

Until the digest (issue 6) exists, a request is only stored (status
``requested``); the digest confirms the address by email and sends. Whoever
creates a request gets its manage token; nothing else reveals it, so asking
with someone else's address never exposes or changes their subscription.
"""

from __future__ import annotations

import re
from typing import Any

from papertide.errors import BadInput
from papertide.store.base import SubscriptionRequest
from papertide.web.errors import NotFound
from papertide.web.service import WINDOWS, Site, make_filters

FOLLOW_KINDS = ("trending", "categories", "searches", "authors")
FREQUENCIES = ("daily", "weekly")
STATUSES = ("requested", "unsubscribed")
MAX_FOLLOWS = 20
MAX_FOLLOW_CHARS = 200
_EMAIL = re.compile(r"^[^@\s<>\"'(),;:\\\[\]]{1,64}@(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+"
                    r"[A-Za-z]{2,63}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{16,64}$")


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


def subscribe(site: Site, client: str, email: str, follows: dict[str, Any],
              frequency: str = "daily") -> SubscriptionRequest:
    """Store a new request (rate-limited per client: it will send email)."""
    site.limiter.check("subscribe", client)
    return site.store.add_subscription_request(clean_email(email), clean_follows(follows),
                                               clean_frequency(frequency))


def lookup(site: Site, token: str) -> SubscriptionRequest:
    """The request behind a manage token; NotFound for anything else."""
    found = site.store.subscription_request(token) if _TOKEN.match(token or "") else None
    if found is None:
        raise NotFound("no subscription with that link; it may have been mistyped")
    return found


def change(site: Site, client: str, token: str, *, follows: dict[str, Any] | None = None,
           frequency: str | None = None, status: str | None = None) -> SubscriptionRequest:
    """Update or unsubscribe (rate-limited like subscribing)."""
    site.limiter.check("subscribe", client)
    lookup(site, token)
    if status is not None and status not in STATUSES:
        raise BadInput(f"status must be {' or '.join(STATUSES)}")
    updated = site.store.update_subscription_request(
        token, follows=clean_follows(follows) if follows is not None else None,
        frequency=clean_frequency(frequency) if frequency is not None else None, status=status)
    if updated is None:
        raise NotFound("no subscription with that link")
    return updated
