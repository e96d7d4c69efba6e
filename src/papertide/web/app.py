"""The web application: pages, the JSON API under /api/v1, Atom feeds, static files.

``create_app`` is the factory uvicorn calls in each worker process
(``papertide serve``); it reads settings from ``PAPERTIDE_*`` variables unless
given them. ``serve`` runs uvicorn.
"""

from __future__ import annotations

import logging
import os
import sys
import re
from contextlib import asynccontextmanager, contextmanager
from importlib import resources
from typing import Any, AsyncIterator, Iterator
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Match

from papertide import __version__
from papertide.errors import (BadInput, BadLink, PapertideError, PaperNotFound, UnknownCategory, UnknownPerson,
                              UnknownSubscriber, UnknownTimeZone)
from papertide.cite import bibtex
from papertide.model import link_label
from papertide.settings import Settings
from papertide.web import text
from papertide.web.errors import WebError
from papertide.web.security import GuardMiddleware, access_log, loggable_path
from papertide.web.service import Site

log = logging.getLogger("papertide.web")
_JSON_PREFIXES = ("/api/", "/feeds/")


def templates() -> Environment:
    """Jinja2 with autoescaping on for every template."""
    folder = str(resources.files("papertide.web") / "templates")
    env = Environment(loader=FileSystemLoader(folder), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.globals.update(bibtex=bibtex, link_label=link_label, rich=text.rich, rich_paragraphs=text.rich_paragraphs, plain=text.plain,
                       sparkline=text.sparkline, chart=text.chart, compact=text.compact, preview=text.preview, safe_url=text.safe_url,
                       version=__version__, qs=_query_string, facet_link=_facet_link, facet_on=_facet_on)
    env.filters["code_spans"] = _code_spans
    return env


def _code_spans(text: str) -> Markup:
    """Docstring text for the API reference: escaped, with `backticks` as <code>."""
    return Markup(re.sub(r"`([^`<>]+)`", r"<code>\1</code>", str(escape(text or ""))))


def _facet_link(params: dict[str, Any], name: str, value: str) -> str:
    """The search's query string with one facet value switched on or off (back to page 1)."""
    changed = {k: v for k, v in params.items() if k != "page"}
    if name == "year":
        on = changed.get("since") == value and changed.get("until") == value
        changed["since"], changed["until"] = ("", "") if on else (value, value)
    elif name == "code":
        changed["code"] = "" if changed.get("code") else "1"
    else:
        chosen = list(changed.get(name) or [])
        changed[name] = [v for v in chosen if v != value] if value in chosen else [*chosen, value]
    return _query_string(**changed)


def _facet_on(params: dict[str, Any], name: str, value: str) -> bool:
    if name == "year":
        return params.get("since") == value and params.get("until") == value
    if name == "code":
        return bool(params.get("code"))
    return value in (params.get(name) or [])


def _query_string(**params: Any) -> str:
    """``qs(q=..., category=[...])`` in templates: a URL query, empty values left out."""
    return urlencode({k: v for k, v in params.items() if v not in (None, "", [], ())}, doseq=True)


def create_app(settings: Settings | None = None) -> GuardMiddleware:
    """The whole site as one ASGI app, wrapped in the security/size/log guard."""
    settings = settings or Settings()
    site = Site(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        # Threads share the one store (Site.store); this bounds how many handlers wait on it.
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(1, int(settings.web_threads))
        scheduler = None
        if settings.digest_scheduler:
            from papertide.digest import scheduler as digest_scheduler

            scheduler = digest_scheduler.start(settings)
        # This host's keyword index follows the store: caught up before the first request, then
        # every few seconds, so workers on several hosts stay within seconds of each other.
        await anyio.to_thread.run_sync(site.follow_keyword_index)
        follower = site.start_keyword_follower(float(settings.keyword_follow_seconds))
        embedder = site.start_embedder(float(settings.embed_every_seconds))
        try:
            yield
        finally:
            follower.set()
            embedder.set()
            if scheduler is not None:
                scheduler.stop()
            site.close()

    app = FastAPI(title="papertide API", version=__version__, lifespan=lifespan,
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None,
                  description="Search, papers, similar papers, trending and subscriptions. "
                              "Errors are JSON: {\"error\": {\"code\", \"message\"}}.")
    app.state.site = site
    app.state.templates = templates()
    _install_error_handlers(app)
    from papertide.digest import routes as digest_routes
    from papertide.web import api, api_people, feeds, pages, people

    @contextmanager
    def shared_store() -> Iterator[Any]:
        yield site.store  # the worker's store; Site closes it at shutdown

    app.include_router(api.router)
    app.include_router(feeds.router)
    app.include_router(pages.router)
    app.include_router(people.router)
    app.include_router(api_people.router)
    # The confirm / manage / unsubscribe pages the digest's mails link to (digest/links.py).
    app.include_router(digest_routes.router(settings, store=shared_store), include_in_schema=False)
    app.mount("/static", StaticFiles(packages=[("papertide.web", "static")]), name="static")
    app.openapi = lambda: api.openapi_schema(app)  # type: ignore[method-assign]
    _setup_access_log()
    return GuardMiddleware(app, int(settings.web_max_body_bytes),
                           larger={"/library/import": int(settings.web_max_import_bytes)})


def _setup_access_log() -> None:
    if not access_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False


# -- errors -------------------------------------------------------------------------
def error_response(request: Request, status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    """JSON for the API and feeds, an HTML page elsewhere; never a stack trace."""
    if request.url.path.startswith(_JSON_PREFIXES) or request.url.path == "/api":
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)
    env: Environment = request.app.state.templates
    html = env.get_template("error.html").render(status=status, code=code, message=message,
                                                 categories=[], request_path=request.url.path)
    return HTMLResponse(html, status_code=status, headers=headers)


_FORMS = {"since": "a date like 2025, 2025-03 or 2025-03-18", "until": "a date like 2025, 2025-03 or 2025-03-18",
          "category": "a category like cs.CV or q-bio", "email": "an email address like name@example.org",
          "token": "the token of a mailed link", "paper_id": "an id like 2503.11677"}


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "the request is not valid"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body")) or "request"
    ctx = first.get("ctx") or {}
    readable = {  # pydantic's messages, said as a person would ("page=999": "page must be at most 50")
        "less_than_equal": lambda: f"{where} must be at most {ctx.get('le')}",
        "greater_than_equal": lambda: f"{where} must be at least {ctx.get('ge')}",
        "int_parsing": lambda: f"{where} must be a whole number",
        "value_error": lambda: f"{where} {str(ctx.get('error', 'is not valid'))}",
        "string_too_long": lambda: f"{where} must be at most {ctx.get('max_length')} characters",
        "literal_error": lambda: f"{where} must be {ctx.get('expected')}",
        "string_pattern_mismatch": lambda: f"{where} must be {_FORMS.get(where.split('.')[-1], 'in the documented form')}",
        "missing": lambda: f"{where} is required",
    }.get(first.get("type", ""))
    return (readable() if readable else f"{where}: {first.get('msg', 'invalid')}")[:300]


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app takes at the request's path."""
    allowed = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.routes):
            allowed.append(method)
    return allowed + (["HEAD"] if "GET" in allowed else [])  # GuardMiddleware answers HEAD as GET


def _install_error_handlers(app: FastAPI) -> None:
    async def web_error(request: Request, exc: WebError) -> Response:
        return error_response(request, exc.status, exc.code, str(exc), exc.headers)

    async def bad_input(request: Request, exc: BadInput) -> Response:
        # Which zones and categories exist is the server's data, which no schema states: codes of their own.
        code = {UnknownTimeZone: "unknown_time_zone", UnknownCategory: "unknown_category"}.get(type(exc), "bad_request")
        return error_response(request, 400, code, str(exc))

    async def not_found(request: Request, exc: PaperNotFound | UnknownSubscriber | UnknownPerson) -> Response:
        return error_response(request, 404, "not_found", str(exc))

    async def bad_link(request: Request, exc: BadLink) -> Response:
        return error_response(request, 400, "bad_link", str(exc))

    async def papertide_error(request: Request, exc: PapertideError) -> Response:
        log.error("request %s failed: %s", loggable_path(request.url.path), exc)
        return error_response(request, 503, "unavailable", "the store could not answer; try again later")

    async def validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, 400, "bad_request", _validation_message(exc))

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, WebError):  # e.g. a chunked body cut off at the size limit
            return await web_error(request, exc.__cause__)
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
        message = {404: "no such page", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # every method some route takes at this path, not the first route's
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return error_response(request, exc.status_code, codes.get(exc.status_code, "http_error"), message, headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        # The trace goes to the server log (uvicorn prints it); the client gets one line.
        return error_response(request, 500, "internal_error", "something went wrong on our side")

    app.add_exception_handler(WebError, web_error)  # type: ignore[arg-type]
    app.add_exception_handler(BadInput, bad_input)  # type: ignore[arg-type]
    app.add_exception_handler(PaperNotFound, not_found)  # type: ignore[arg-type]
    app.add_exception_handler(UnknownSubscriber, not_found)  # type: ignore[arg-type]
    app.add_exception_handler(UnknownPerson, not_found)  # type: ignore[arg-type]
    app.add_exception_handler(BadLink, bad_link)  # type: ignore[arg-type]
    app.add_exception_handler(PapertideError, papertide_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(500, server_error)


# -- serving ------------------------------------------------------------------------
def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          **uvicorn_options: Any) -> None:
    """Run the site with uvicorn; workers are processes that each call ``create_app``."""
    import uvicorn

    # Workers are separate processes: they read the store location from the environment.
    os.environ["PAPERTIDE_DB"] = str(settings.db)
    proxies = str(settings.forwarded_allow_ips).strip()
    # Forwarding headers are believed only from the proxies the operator lists (uvicorn's own
    # default trusts 127.0.0.1, where a local client could then forge its address).
    uvicorn.run("papertide.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                access_log=False, proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None,
                server_header=False, log_level="info",
                timeout_keep_alive=10, limit_concurrency=1024, **uvicorn_options)
