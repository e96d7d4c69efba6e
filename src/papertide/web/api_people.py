"""The signed-in person's part of the JSON API, under /api/v1/me (session cookie).

Reads need the session; writes also need a same-origin request (web/accounts.py), since a
browser sends the cookie with any request a page makes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from papertide.app import library as lib
from papertide.app import people
from papertide.app.recommend import for_person
from papertide.web import accounts
from papertide.web.api import PaperId
from papertide.web.service import Site

router = APIRouter(prefix="/api/v1/me", tags=["me"])


class SavedPaper(BaseModel):
    id: str
    title: str


class Recommendation(BaseModel):
    id: str
    title: str
    score: float
    reason: str
    close_to: list[SavedPaper]
    terms: list[str]
    author: str


class Recommendations(BaseModel):
    results: list[Recommendation]
    offset: int
    limit: int


class LibraryEntry(BaseModel):
    paper_id: str | None
    title: str
    abstract: str
    authors: list[str]
    year: str
    doi: str
    arxiv_id: str
    tags: list[str]
    note: str
    added_at: str


class Library(BaseModel):
    results: list[LibraryEntry]


class Saved(BaseModel):
    saved: bool
    new: bool


class Removed(BaseModel):
    removed: bool


class Rated(BaseModel):
    paper_id: str
    verdict: str


def _site(request: Request) -> Site:
    return request.app.state.site


@router.get("/recommendations", response_model=Recommendations, summary="Your recommendations")
def recommendations(request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                    offset: Annotated[int, Query(ge=0, le=100)] = 0) -> dict[str, Any]:
    """The signed-in person's recommendations, best first, each with its reason."""
    site = _site(request)
    person = accounts.required(site, request)
    recs = for_person(site.store, person, limit=limit, offset=offset, days=int(site.settings.recommend_days),
                      score_now=False)
    return {"results": [r.as_dict() for r in recs], "offset": offset, "limit": limit}


@router.get("/library", response_model=Library, summary="Your library")
def library(request: Request, tag: Annotated[str, Query(max_length=60)] = "") -> dict[str, Any]:
    """The signed-in person's library, newest first (`tag`: only that tag)."""
    site = _site(request)
    person = accounts.required(site, request)
    return {"results": [people.entry_json(e) for e in site.store.library(person.id, tag=tag or None)]}


@router.put("/library/{paper_id:path}", response_model=Saved, summary="Save a paper")
def save(request: Request, paper_id: PaperId) -> dict[str, Any]:
    """Put a stored paper in the signed-in person's library."""
    person = accounts.acting(_site(request), request)
    return {"saved": True, "new": lib.save(_site(request).store, person.id, paper_id)}


@router.delete("/library/{paper_id:path}", response_model=Removed, summary="Remove a saved paper")
def unsave(request: Request, paper_id: PaperId) -> dict[str, Any]:
    person = accounts.acting(_site(request), request)
    return {"removed": lib.remove(_site(request).store, person.id, paper_id)}


@router.post("/feedback/{paper_id:path}", response_model=Rated, summary="Rate a paper")
def feedback(request: Request, paper_id: PaperId,
             verdict: Annotated[Literal["up", "down", "clear"], Query()]) -> dict[str, Any]:
    """👍 (`up`), 👎 (`down`: never recommended again) or `clear`, for the signed-in person."""
    person = accounts.acting(_site(request), request)
    people.rate(_site(request).store, person, paper_id, verdict)
    return {"paper_id": paper_id, "verdict": verdict}
