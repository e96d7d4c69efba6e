"""Errors the web layer raises; each knows its HTTP status and its JSON error code."""

from __future__ import annotations

from papertide.errors import PapertideError


class WebError(PapertideError):
    """A request the site refuses, with the status and code sent to the client."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers or {}


class UnknownHost(WebError):
    """A request for a Host this site does not answer for, where that host would make links."""

    code = "unknown_host"


class NotFound(WebError):
    """No such page or paper."""

    status = 404
    code = "not_found"


class ModeUnavailable(WebError):
    """The search mode asked for is not built or not indexed on this store."""

    code = "mode_unavailable"


class CsrfFailed(WebError):
    """A form came back without the token this site gave it."""

    status = 403
    code = "csrf_failed"


class RateLimited(WebError):
    """Too many requests of one kind from one client."""

    status = 429
    code = "rate_limited"


class BodyTooLarge(WebError):
    """The request body is larger than the site accepts."""

    status = 413
    code = "body_too_large"


class NotSignedIn(WebError):
    """A person's page or action asked for without a session."""

    status = 401
    code = "not_signed_in"


class CrossSite(WebError):
    """A state-changing request another site made a browser send."""

    status = 403
    code = "cross_site"
