"""Signed links in mail: confirm, manage, unsubscribe; and links to papers.

A token is the subscriber's id and address (and, to confirm, the request's nonce)
signed with ``secret_key`` (or a random key in a file beside the store when it is empty),
with a timestamp. Confirm links expire after ``confirm_expiry_hours``, manage links
after ``manage_link_days``; unsubscribe links never expire, so that the link in any
old digest still works.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from papertide.errors import BadLink
from papertide.settings import Settings
from papertide.store.base import Subscriber

log = logging.getLogger("papertide.digest")

# The routes in digest/routes.py answer these paths; links in mail point at them.
PATHS = {"confirm": "/confirm/{token}", "manage": "/manage/{token}", "unsubscribe": "/unsubscribe/{token}"}
PAPER_PATH = "/papers/{id}"  # the web app's paper page
_FALLBACK_BASE = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Claims:
    """What a valid token says."""

    purpose: str
    subscriber_id: int
    email: str
    nonce: str = ""


class Signer:
    """Makes and reads tokens for one secret."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="papertide-digest")

    def token(self, purpose: str, subscriber: Subscriber, nonce: str = "") -> str:
        payload: dict[str, Any] = {"p": purpose, "s": subscriber.id, "e": subscriber.email}
        if nonce:
            payload["n"] = nonce
        return self._serializer.dumps(payload)

    def read(self, purpose: str, token: str, max_age: float | None) -> Claims:
        """The claims of a token made for ``purpose``; BadLink if forged, altered or expired."""
        try:
            payload = self._serializer.loads(token, max_age=max_age)
        except SignatureExpired:
            raise BadLink(f"this {purpose} link has expired") from None
        except BadSignature:
            raise BadLink(f"this {purpose} link is not valid (it may be cut short or altered)") from None
        if not isinstance(payload, dict) or payload.get("p") != purpose:
            raise BadLink(f"this is not a {purpose} link")
        return Claims(purpose, int(payload["s"]), str(payload["e"]), str(payload.get("n", "")))


def signer(store: Any, settings: Settings) -> Signer:
    """The signer for these settings and store."""
    return Signer(signing_secret(settings, store))


def signing_secret(settings: Settings, store: Any) -> str:
    """The one key that signs the site's forms and every link it mails: ``secret_key`` if the
    operator set one, else the random key the store keeps in a file of its own."""
    return str(settings.secret_key or store.signing_secret())


def base_url(settings: Settings) -> str:
    """Where links in mail point: ``base_url`` without a trailing slash."""
    if settings.base_url:
        return settings.base_url.rstrip("/")
    _warn_no_base_url()
    return _FALLBACK_BASE


@functools.cache
def _warn_no_base_url() -> None:
    log.warning("base_url is not set; links in mail point at %s (set PAPERTIDE_BASE_URL)", _FALLBACK_BASE)


def link(settings: Settings, purpose: str, token: str) -> str:
    """The absolute URL of a confirm, manage or unsubscribe token."""
    return base_url(settings) + PATHS[purpose].format(token=token)


def paper_link(settings: Settings, paper_id: str) -> str:
    """The paper's page on this papertide site."""
    return base_url(settings) + PAPER_PATH.format(id=quote(paper_id, safe=""))


@dataclass(frozen=True)
class Rating:
    """What a one-click rating link says: this person rates this paper up or down."""

    person_id: int
    email: str
    paper_id: str
    verdict: str


RATE_PATH = "/rate/{token}"


def rating_token(secret: str, person_id: int, email: str, paper_id: str, verdict: str) -> str:
    """A rating link's token; it never expires (a digest read weeks later still works), and
    it stops working when the account is deleted."""
    return URLSafeSerializer(secret, salt="papertide-rate").dumps(
        {"s": person_id, "e": email, "i": paper_id, "v": verdict})


def rating_link(settings: Settings, store: Any, person_id: int, email: str, paper_id: str, verdict: str) -> str:
    token = rating_token(signing_secret(settings, store), person_id, email, paper_id, verdict)
    return base_url(settings) + RATE_PATH.format(token=token)


def read_rating_token(secret: str, token: str) -> Rating:
    try:
        claims = URLSafeSerializer(secret, salt="papertide-rate").loads(token)
    except BadSignature:
        raise BadLink("this rating link is not valid (it may be cut short or altered)") from None
    if not isinstance(claims, dict) or claims.get("v") not in ("up", "down"):
        raise BadLink("this is not a rating link")
    return Rating(int(claims.get("s", 0)), str(claims.get("e", "")), str(claims.get("i", "")), str(claims["v"]))


def token_from(text: str) -> str:
    """The token in a pasted link (``https://…/confirm/TOKEN``) or the token itself."""
    text = text.strip()
    if "/" not in text:
        return text
    path = urlsplit(text).path if "://" in text else text.split("?", 1)[0]
    return path.rstrip("/").rsplit("/", 1)[-1]
