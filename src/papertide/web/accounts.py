"""Signing in by mailed link, sessions, and the signed one-click feedback links of the digest.

A sign-in link carries the person's id, address and a nonce, signed and timestamped; it
works once (the nonce is spent) and for ``signin_expiry_minutes``; a newer link replaces
an older one. Following it sets a session cookie (random, HttpOnly, SameSite=Lax, Secure
behind https) whose sha256 alone is stored. Mail is rate-limited per client and per address.

Person actions (save, rate, import, delete) are POSTs that need the session cookie, which
SameSite=Lax keeps off other sites' requests, and a same-origin ``Origin`` (or ``Referer``)
header; the pages of one person's own (library, for you, account) also carry CSRF tokens.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import smtplib
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from papertide.app import people
from papertide.digest import links
from papertide.digest.deliver import Mailer
from papertide.digest.periods import iso
from papertide.digest.render import Rendered, build_message, message_id
from papertide.errors import BadLink, PapertideError
from papertide.store.base import OutboxRow, Person
from papertide.web.errors import CrossSite, NotSignedIn
from papertide.web.security import CSRF_COOKIE

log = logging.getLogger("papertide.web")
SESSION_COOKIE = "pt_session"


def _signin_serializer(site: Any) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(links.signing_secret(site.settings, site.store), salt="papertide-signin")


# -- sign-in ------------------------------------------------------------------------
def request_signin(site: Any, client: str, email: str, *, now: datetime | None = None) -> bool:
    """Mail a sign-in link to ``email`` (creating the person on first use); whether it went out."""
    site.limiter.check("signin", client)
    address = people.normal_email(email)
    site.limiter.check("signin_address", address)  # one inbox cannot be flooded from many clients
    now = now or datetime.now(timezone.utc)
    person = people.ensure(site.store, address)
    nonce = secrets.token_urlsafe(12)
    site.store.set_signin_nonce(person.id, nonce, iso(now))
    token = _signin_serializer(site).dumps({"s": person.id, "e": person.email, "n": nonce})
    url = links.base_url(site.settings) + "/signin/" + token
    return _mail_link(site, person, url, now)


def _mail_link(site: Any, person: Person, url: str, now: datetime) -> bool:
    minutes = int(site.settings.signin_expiry_minutes)
    text = (f"Sign in to papertide as {person.email}:\n\n{url}\n\n"
            f"The link works once, for {minutes} minutes. If you did not ask for it, ignore this mail.\n")
    html = (f"<p>Sign in to papertide as {_esc(person.email)}:</p><p><a href=\"{_esc(url)}\">Sign in</a></p>"
            f"<p>The link works once, for {minutes} minutes. If you did not ask for it, ignore this mail.</p>")
    mime = build_message(site.settings, to=person.email, rendered=Rendered("Sign in to papertide", html, text),
                         msg_id=message_id(site.settings, "signin", person.id, secrets.token_hex(6)), date=now,
                         unsubscribe_url=None)
    mailer = Mailer(site.settings)
    try:
        mailer.connect()
        mailer.send(OutboxRow(idempotency_key="", kind="signin", subscriber_id=0, email=person.email,
                              message_id="", next_attempt_at="", created_at="", mime=mime))
    except (PapertideError, smtplib.SMTPException, OSError) as exc:
        log.warning("sign-in mail for person %s not sent: %s", person.id, exc)
        return False
    finally:
        mailer.close()
    return True


def _esc(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def signin_claims(site: Any, token: str) -> Person:
    """The person a sign-in link is for, if it is genuine, fresh and unused; BadLink otherwise."""
    max_age = int(site.settings.signin_expiry_minutes) * 60
    try:
        claims = _signin_serializer(site).loads(token, max_age=max_age)
    except SignatureExpired:
        raise BadLink("this sign-in link has expired; ask for a new one") from None
    except BadSignature:
        raise BadLink("this sign-in link is not valid (it may be cut short or altered)") from None
    person = site.store.person(id=int(claims.get("s", 0)))
    if person is None or person.email != claims.get("e") or not secrets.compare_digest(
            person.signin_nonce or "-", str(claims.get("n", ""))):
        raise BadLink("this sign-in link was used already or replaced by a newer one; ask for a new one")
    return person


def finish_signin(site: Any, token: str, *, now: datetime | None = None) -> tuple[Person, str]:
    """Spend the link and open a session: (person, session cookie value)."""
    person = signin_claims(site, token)
    claims = _signin_serializer(site).loads(token)
    if not site.store.spend_signin_nonce(person.id, str(claims["n"])):
        raise BadLink("this sign-in link was used already; ask for a new one")
    now = now or datetime.now(timezone.utc)
    cookie = secrets.token_urlsafe(32)
    site.store.add_session(person.id, _hash(cookie), iso(now),
                           iso(now + timedelta(days=int(site.settings.session_days))))
    return person, cookie


def _hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def set_session_cookie(request: Request, response: Any, cookie: str, days: int) -> None:
    response.set_cookie(SESSION_COOKIE, cookie, max_age=days * 86400, path="/", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")


def current(site: Any, request: Request) -> Person | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or len(cookie) > 100:
        return None
    return site.store.session_person(_hash(cookie), iso(datetime.now(timezone.utc)))


def required(site: Any, request: Request) -> Person:
    person = current(site, request)
    if person is None:
        raise NotSignedIn("sign in first")
    return person


def acting(site: Any, request: Request, csrf_token: str = "") -> Person:
    """The signed-in person behind a state-changing request from this site's own pages
    (origin checked, and the form's CSRF token when it sends one)."""
    check_same_origin(request)
    if csrf_token:
        site.csrf.verify(request.cookies.get(CSRF_COOKIE), csrf_token)
    return required(site, request)


def sign_out(site: Any, request: Request) -> None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        site.store.end_session(_hash(cookie))


def check_same_origin(request: Request) -> None:
    """Refuse a state-changing request another site's page made (CrossSite)."""
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    fetch_site = request.headers.get("sec-fetch-site", "")
    if fetch_site in ("cross-site", "same-site"):
        raise CrossSite("this request came from another site")
    if origin:
        parts = urlsplit(origin)
        if (parts.scheme, parts.netloc) != (request.url.scheme, request.url.netloc):
            raise CrossSite("this request came from another site")
    elif fetch_site != "same-origin":
        raise CrossSite("this request does not say where it came from; send it from papertide's own pages")


# -- one-click ratings in mail (tokens made by digest/links.py) ------------------------
def read_rating(site: Any, token: str) -> tuple[Person, str, str]:
    """(person, paper id, verdict) of a genuine rating link; BadLink for a forged or stale one."""
    claims = links.read_rating_token(links.signing_secret(site.settings, site.store), token)
    person = site.store.person(id=claims.person_id)
    if person is None or person.email != claims.email:
        raise BadLink("this rating link belongs to an account that no longer exists")
    return person, claims.paper_id, claims.verdict
