"""What keeps the site safe: secret key, CSRF tokens, rate limits, headers, size limits, access logs.

``GuardMiddleware`` is plain ASGI (no per-request task or body copy), because it
wraps every request, including the cheap cached ones the benchmark counts.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import threading
import time
from typing import Any, Awaitable, Callable, MutableMapping

from itsdangerous import BadSignature, TimestampSigner

from papertide.web.errors import BodyTooLarge, CsrfFailed, RateLimited

log = logging.getLogger("papertide.web")
access_log = logging.getLogger("papertide.access")

CSRF_COOKIE = "pt_csrf"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE = 2 * 24 * 3600  # a form left open over a weekend still works

# No inline script or style anywhere: everything comes from /static.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]


# -- CSRF --------------------------------------------------------------------------
class Csrf:
    """Double-submit tokens: a random cookie, and a form field holding its signature.

    A page with a form reuses the visitor's cookie or makes a new one; a POST must
    bring the cookie and a field signed (with this site's key) for that cookie.
    Another site can make a browser send the cookie, but cannot read it or sign it.
    """

    def __init__(self, key: bytes) -> None:
        self.signer = TimestampSigner(key, salt="papertide-csrf")

    def pair(self, cookie: str | None) -> tuple[str, str]:
        """(cookie value, form token) for a page with a form."""
        if not cookie or len(cookie) != 43 or not cookie.replace("-", "").replace("_", "").isalnum():
            cookie = secrets.token_urlsafe(32)
        return cookie, self.signer.sign(cookie).decode()

    def verify(self, cookie: str | None, token: str | None) -> None:
        """Raise CsrfFailed unless ``token`` was signed here for ``cookie``, recently."""
        if not cookie or not token:
            raise CsrfFailed("this form has expired or cookies are off; reload the page and send it again")
        try:
            signed_for = self.signer.unsign(token, max_age=CSRF_MAX_AGE).decode()
        except BadSignature:
            raise CsrfFailed("this form has expired; reload the page and send it again") from None
        if not hmac.compare_digest(signed_for, cookie):
            raise CsrfFailed("this form was not made for this browser; reload the page and send it again")


# -- rate limits -------------------------------------------------------------------
class RateLimiter:
    """Token buckets per (kind, client), in this worker's memory.

    A bucket holds ``per_minute`` tokens and refills at ``per_minute / 60`` a second,
    so a client may burst up to a minute's allowance. With N workers a client gets
    up to N times the allowance; fine for keeping one client from hogging the site.
    """

    MAX_CLIENTS = 10_000

    def __init__(self, limits: dict[str, int], clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = {kind: n for kind, n in limits.items() if n > 0}
        self.clock = clock
        self.buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self.lock = threading.Lock()

    def check(self, kind: str, client: str) -> None:
        """Take one token or raise RateLimited with a Retry-After."""
        per_minute = self.limits.get(kind)
        if per_minute is None:
            return
        now, rate = self.clock(), per_minute / 60.0
        with self.lock:
            if len(self.buckets) >= self.MAX_CLIENTS:
                self._forget_full(now)
            tokens, last = self.buckets.get((kind, client), (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self.buckets[(kind, client)] = (tokens, now)
                wait = max(1, int((1.0 - tokens) / rate + 0.999))
                raise RateLimited(f"too many {kind} requests; try again in {wait} s",
                                  headers={"Retry-After": str(wait)})
            self.buckets[(kind, client)] = (tokens - 1.0, now)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (they hold no state worth keeping)."""
        for key, (tokens, last) in list(self.buckets.items()):
            per_minute = self.limits.get(key[0], 1)
            if tokens + (now - last) * per_minute / 60.0 >= per_minute:
                del self.buckets[key]
        if len(self.buckets) >= self.MAX_CLIENTS:
            self.buckets.clear()


# -- ASGI middleware ---------------------------------------------------------------
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _bodiless(send: Send) -> Send:
    async def without_body(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)
    return without_body


class GuardMiddleware:
    """Security headers on every response, a body size limit, one JSON access-log line per request."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_body_bytes: int,
                 larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.larger = larger or {}  # paths that take larger bodies (a library file to import)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = {"status": 0, "bytes": 0}
        length = _content_length(scope)
        limit = self.larger.get(scope.get("path", ""), self.max_body_bytes)
        if length is not None and length > limit:
            await _too_large(scope, send, limit)
            state["status"] = 413
        elif scope["method"] == "HEAD":
            # Uptime checkers and feed readers ask with HEAD: answer as GET would, without the body.
            await self.app({**scope, "method": "GET"}, self._limited(receive, limit),
                           self._headers(_bodiless(send), state))
        else:
            await self.app(scope, self._limited(receive, limit), self._headers(send, state))
        _log_access(scope, state, started)

    @staticmethod
    def _limited(receive: Receive, limit: int) -> Receive:
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(f"request body larger than {limit} bytes")
            return message
        return limited

    @staticmethod
    def _headers(send: Send, state: dict[str, int]) -> Send:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                headers = list(message.get("headers", []))
                own = {name.lower() for name, _ in headers}  # a response may set its own, stricter one
                message["headers"] = headers + [h for h in SECURITY_HEADERS if h[0] not in own]
            elif message["type"] == "http.response.body":
                state["bytes"] += len(message.get("body", b""))
            await send(message)
        return with_headers


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    body = json.dumps({"error": {"code": BodyTooLarge.code,
                                 "message": f"request body larger than {limit} bytes"}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


# Paths whose last part is a signed token: access and error logs show only their prefix.
_TOKEN_PREFIXES = ("/api/v1/subscriptions/", "/confirm/", "/manage/", "/unsubscribe/", "/signin/", "/rate/",
                    "/feeds/for-you/")


def loggable_path(path: str) -> str:
    """``path`` as logs may show it: a token after one of the token routes becomes ``***``."""
    for prefix in _TOKEN_PREFIXES:
        if path.startswith(prefix) and len(path) > len(prefix):
            return prefix + "***"
    return path


def _log_access(scope: Scope, state: dict[str, int], started: float) -> None:
    """One JSON line per request. The query string is left out: it can hold searches and tokens."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    client = scope.get("client") or ("", 0)
    path = loggable_path(scope.get("path", ""))
    access_log.info(json.dumps({
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "method": scope.get("method"),
        "path": path, "status": state["status"], "bytes": state["bytes"],
        "ms": round((time.perf_counter() - started) * 1000, 2), "client": client[0],
        "pid": os.getpid()}))


def client_of(scope: Scope) -> str:
    """The client address a rate limit is kept for."""
    client = scope.get("client")
    return client[0] if client else "unknown"
