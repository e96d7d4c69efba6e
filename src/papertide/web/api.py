"""The JSON API under /api/v1. Each handler parses, calls one ``Site`` method, and shapes JSON.

Errors are ``{"error": {"code", "message"}}`` with a 4xx status (app.py maps the
named errors). Lists page by ``offset`` and ``limit`` (at most 100 per page, offset
at most 1000); ``next_offset`` is null on the last page.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, FastAPI, Path, Query, Request
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from papertide.cite import bibtex
from papertide.web import subscriptions
from papertide.web.security import client_of
from papertide.web.service import MAX_OFFSET, MAX_PAGE, Card, ResultPage, Site, make_filters
from papertide.web.text import plain

router = APIRouter(prefix="/api/v1", tags=["api"])

# The schema says exactly what the code accepts: what it allows is never refused, and the reverse.
DAY_PATTERN = r"^[1-9][0-9]{3}(-(0?[1-9]|1[0-2])(-(0?[1-9]|[12][0-9]|3[01]))?)?$"
CATEGORY_PATTERN = r"^[A-Za-z][A-Za-z-]{0,15}(\.[A-Za-z0-9-]{1,80})?$"
EMAIL_PATTERN = r"^[A-Za-z0-9!#$%&*+/=?^_`{|}~.-]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"


def _not_a_boolean(value: Any) -> Any:
    """JSON's true is not the integer 1, whatever Python thinks (60.0 is 60, as JSON Schema says)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value




class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. bad_request, not_found, mode_unavailable.")
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class PaperSummary(BaseModel):
    id: str
    title: str
    authors: list[str]
    published: str
    categories: list[str]
    primary_category: str
    url: str
    pdf_url: str | None = None
    code: list[str] = []
    signals: dict[str, float] = Field(default_factory=dict, description="Latest value of each signal.")
    score: float | None = None
    snippet: str | None = None


class Page(BaseModel):
    offset: int
    limit: int
    next_offset: int | None
    results: list[PaperSummary]


class SearchResponse(Page):
    query: str
    mode: Literal["keyword", "semantic", "hybrid"]
    took_ms: float
    terms: list[str]


class TrendingResponse(Page):
    window: Literal["day", "week", "month"]
    at: str = Field(description="The moment the list is computed for (UTC).")


class Observation(BaseModel):
    at: str
    value: float


class Paper(PaperSummary):
    abstract: str
    version: int | None = None
    updated: str = ""
    doi: str = ""
    journal_ref: str = ""
    comment: str = ""
    links: dict[str, Any] = Field(default_factory=dict)
    keywords: list[str] = []
    affiliations: list[str] = []
    bibtex: str = Field("", description="The paper as a BibTeX entry.")
    history: dict[str, list[Observation]] = Field(default_factory=dict)


class SimilarResponse(BaseModel):
    id: str
    method: Literal["keyword", "semantic"] = Field(
        description="How similarity is found: 'semantic' (nearest vectors) when the paper is indexed, else 'keyword'.")
    results: list[PaperSummary]


_Followed = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]


class Follows(BaseModel):
    """What to follow: at least one trending list, category, search or author."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})
    trending: list[Literal["day", "week", "month"]] = Field(default=[], min_length=1, max_length=3)
    categories: list[Annotated[str, StringConstraints(pattern=CATEGORY_PATTERN)]] = Field(
        default=[], min_length=1, max_length=10)
    searches: list[_Followed] = Field(default=[], min_length=1, max_length=20)
    authors: list[_Followed] = Field(default=[], min_length=1, max_length=20)


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # exactly what the schema says: no unknown keys
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN, examples=["reader@example.org"])
    follows: Follows
    frequency: Literal["daily", "weekly"] = "daily"
    hour: Annotated[int, Field(ge=0, le=23), BeforeValidator(_not_a_boolean)] | None = Field(
        default=None, description="Local hour to send at (default: the site's).")
    tz: str = Field(default="UTC", max_length=64, examples=["Europe/Paris"])
    max_papers: Annotated[int, Field(ge=1, le=100), BeforeValidator(_not_a_boolean)] | None = None


class SubscriptionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    follows: Follows | None = None
    frequency: Literal["daily", "weekly"] | None = None
    status: Literal["unsubscribed"] | None = None


class Subscription(BaseModel):
    email: str
    status: str = Field(description="requested (until the address confirms), confirmed, unsubscribed or bounced.")
    follows: dict[str, Any]
    frequency: str
    hour: int
    tz: str
    max_papers: int
    pending: bool = Field(description="A request awaits confirmation by the link mailed to the address.")
    requested_at: str
    confirmed_at: str | None = None


def _site(request: Request) -> Site:
    return request.app.state.site


def summary(card: Card) -> dict[str, Any]:
    """A card as JSON (LaTeX kept as in the source: clients render it as they like)."""
    p = card.paper
    return {"id": p.id, "title": p.title, "authors": p.authors, "published": p.published,
            "categories": p.categories, "primary_category": p.primary_category, "url": p.url,
            "pdf_url": p.links.get("pdf"), "code": list(p.links.get("code") or []), "signals": card.signals,
            "score": None if card.score is None else round(card.score, 4),
            "snippet": plain(card.snippet) if card.snippet else None}


def _page(page: ResultPage) -> dict[str, Any]:
    return {"offset": page.offset, "limit": page.limit, "next_offset": page.next_offset,
            "results": [summary(c) for c in page.cards]}


def _whole_number(value: Any) -> Any:
    """A query parameter the schema calls an integer must be written as one ('0.0' is not)."""
    if isinstance(value, str) and not value.isdigit():
        raise ValueError("must be a whole number")
    return value


Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"Results to skip (at most {MAX_OFFSET})."),
                   BeforeValidator(_whole_number)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Results per page (at most {MAX_PAGE})."),
                  BeforeValidator(_whole_number)]
Category = Annotated[str, StringConstraints(pattern=CATEGORY_PATTERN)]
Categories = Annotated[list[Category], Query(max_length=10, description="Only these categories (cs.CV, q-bio...).")]
Day = Annotated[str | None, Query(pattern=DAY_PATTERN, description="A year, month or day: 2025, 2025-03, 2025-03-18.")]
PaperId = Annotated[str, Path(max_length=300, pattern=r"^[!-~]+$",
                                description="arXiv id (with or without version), doi:10..., or pmid:123.")]
Token = Annotated[str, Path(max_length=512, pattern=r"^[A-Za-z0-9_.-]+$",
                            description="The token of a manage link mailed to the address.")]


@router.get("/search", response_model=SearchResponse, summary="Search papers")
def search(request: Request, q: Annotated[str, Query(min_length=1, max_length=2000,
                                                     description="Query: words, \"phrases\", -exclusions, "
                                                                 "author:, cat:, since:, until:.")],
           mode: Literal["keyword", "semantic", "hybrid"] = "keyword", category: Categories = [],
           since: Day = None, until: Day = None,
           offset: Offset = 0, limit: Limit = 20) -> dict[str, Any]:
    """Ranked papers for a query. An unavailable mode is a 400 `mode_unavailable`."""
    site = _site(request)
    site.limiter.check("search", client_of(request.scope))
    page = site.search(q, mode=mode, filters=make_filters(category, since, until), offset=offset, limit=limit)
    return {"query": q, "mode": page.mode, "took_ms": round(page.took_ms, 2), "terms": page.terms, **_page(page)}


@router.get("/trending", response_model=TrendingResponse, summary="Trending papers")
def trending(request: Request, window: Literal["day", "week", "month"] = "day", category: Categories = [],
             offset: Offset = 0, limit: Limit = 20) -> dict[str, Any]:
    """Papers gaining attention in the window (see docs/trending.md), then the newest."""
    page = _site(request).trending(window, category, offset, limit)
    return {"window": window, "at": page.at, **_page(page)}


@router.get("/papers/{paper_id:path}/similar", response_model=SimilarResponse, summary="Similar papers")
def similar(request: Request, paper_id: PaperId,
            limit: Annotated[int, Query(ge=1, le=50)] = 10) -> dict[str, Any]:
    """Papers like this one: nearest vectors when indexed, else a keyword query of its title and
    rarest abstract words."""
    site = _site(request)
    site.limiter.check("search", client_of(request.scope))
    paper = site.paper(paper_id)
    method, cards = site.similar_with_method(paper, limit)
    return {"id": paper.id, "method": method, "results": [summary(c) for c in cards]}


@router.get("/papers/{paper_id:path}", response_model=Paper, summary="One paper")
def paper(request: Request, paper_id: PaperId) -> dict[str, Any]:
    """Everything stored about a paper, with its signals over time."""
    site = _site(request)
    found = site.paper(paper_id)
    history = site.history(found.id)
    card = Card(found, None, history)
    return {**summary(card), "abstract": found.abstract, "version": found.version, "updated": found.updated,
            "doi": found.doi, "journal_ref": found.journal_ref, "comment": found.comment, "links": found.links,
            "keywords": found.keywords, "affiliations": found.affiliations, "bibtex": bibtex(found),
            "history": {k: [{"at": at, "value": v} for at, v in series] for k, series in history.items()}}


@router.post("/subscriptions", response_model=Subscription, status_code=201, summary="Ask for a digest")
def subscribe(request: Request, body: SubscriptionIn) -> dict[str, Any]:
    """Record a request and mail the address a confirmation link; nothing else is sent until it is
    followed. Changing it later needs the manage link in a digest. Rate-limited per client."""
    found, _ = subscriptions.subscribe(_site(request), client_of(request.scope), body.email,
                                    body.follows.model_dump(), body.frequency, hour=body.hour, tz=body.tz,
                                    max_papers=body.max_papers)
    return subscriptions.request_view(found.subscriber)


@router.get("/subscriptions/{token}", response_model=Subscription, summary="A subscription")
def subscription(request: Request, token: Token) -> dict[str, Any]:
    """The subscription behind a manage link (400 `bad_link` if it is invalid or expired)."""
    return subscriptions.view(subscriptions.lookup(_site(request), token))


@router.patch("/subscriptions/{token}", response_model=Subscription, summary="Change a subscription")
def change(request: Request, token: Token, body: Annotated[SubscriptionChange, Body()]) -> dict[str, Any]:
    follows = body.follows.model_dump() if body.follows is not None else None
    return subscriptions.view(subscriptions.change(_site(request), client_of(request.scope), token,
                                                   follows=follows, frequency=body.frequency, status=body.status))


@router.delete("/subscriptions/{token}", response_model=Subscription, summary="Unsubscribe")
def unsubscribe(request: Request, token: Token) -> dict[str, Any]:
    return subscriptions.view(subscriptions.change(_site(request), client_of(request.scope), token,
                                                   status="unsubscribed"))


_ERRORS = {"400": "Bad request (bad parameter; `mode_unavailable`, `bad_link` for a bad or expired link, "
                  "`unknown_time_zone`, `unknown_category`)",
           "403": "Form token missing, or (`cross_site`) a change asked for by another site's page",
           "404": "Not found", "413": "Body too large", "429": "Rate limited"}


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with this API's error shape instead of the default 422."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorBody"] = error_schema
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            errors = dict(_ERRORS)
            if path.startswith("/api/v1/me"):
                errors["401"] = "Not signed in (`not_signed_in`): no session cookie, or an expired one"
            for status, description in errors.items():
                responses.setdefault(status, {"description": description, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
    app.openapi_schema = schema
    return schema


__all__ = ["router", "openapi_schema"]
