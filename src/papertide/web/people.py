"""A person's pages and API: sign in and out, "For you", the library, ratings, the account.

Every handler here acts for the person of the session cookie only: no route takes a person's
id, so another person's data cannot be named, let alone reached. The feed is the exception
that needs no session: its URL holds a secret token the person can replace at any time.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, File, Form, Query, Request, UploadFile
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from papertide.app import library as lib
from papertide.app import people
from papertide.app.recommend import for_person, update
from papertide.errors import BadInput, BadLink
from papertide.web import accounts
from papertide.web.errors import NotFound
from papertide.web.feeds import _base, _response, atom
from papertide.web.pages import render
from papertide.web.security import CSRF_COOKIE, client_of
from papertide.web.service import Card, Site

router = APIRouter(include_in_schema=False)
Token = Annotated[str, Form(max_length=200)]
PaperId = Annotated[str, Form(max_length=200)]
FOR_YOU_SIZE = 30


def _site(request: Request) -> Site:
    return request.app.state.site


def _person_or_signin(request: Request) -> Any:
    person = accounts.current(_site(request), request)
    if person is None:
        return None, RedirectResponse("/signin?next=" + quote(request.url.path), status_code=303)
    return person, None


def _acting(request: Request, csrf_token: str) -> Any:
    return accounts.acting(_site(request), request, csrf_token)


def _bad_link(request: Request, exc: BadLink, *, again: bool = False) -> Response:
    return render(request, "message.html", status=400, title="This link does not work", lines=[str(exc)],
                  link=("/signin", "Ask for a new link") if again else None)


def _feed_path(person: Any) -> str:
    return f"/feeds/for-you/{person.feed_token}.atom"


def _library_page(request: Request, person: Any, *, tag: str = "", report: Any = None, error: str = "",
                  status: int = 200) -> Response:
    everything = _site(request).store.library(person.id)
    return render(request, "library.html", status=status, csrf=True, person=person, tag=tag, report=report,
                  error=error, entries=[e for e in everything if not tag or tag in e.tags],
                  tags=sorted({t for e in everything for t in e.tags}))


_RESCORING: set[int] = set()  # people whose recommendations this worker is scoring now
_RESCORING_LOCK = threading.Lock()


def _rescore_later(request: Request, background: BackgroundTasks, person: Any) -> None:
    """Score the person's recommendations again once the answer is sent (their library or
    feedback just changed). One scoring per person at a time; it reads the library when it
    starts, and a change made meanwhile leaves the person stale for the next one."""
    site = _site(request)

    def rescore() -> None:
        with _RESCORING_LOCK:
            if person.id in _RESCORING:
                return
            _RESCORING.add(person.id)
        try:
            current = site.store.person(id=person.id)
            if current is not None and current.recs_stale:
                update(site.store, emails=[current.email], days=int(site.settings.recommend_days))
        finally:
            with _RESCORING_LOCK:
                _RESCORING.discard(person.id)
    background.add_task(rescore)


def _back(request: Request, fallback: str) -> str:
    referer = request.headers.get("referer", "")
    base = str(request.base_url)
    return referer if referer.startswith(base) else fallback


# -- signing in ---------------------------------------------------------------------
@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request) -> Response:
    return render(request, "signin.html", csrf=True, email="", error="")


@router.post("/signin", response_class=HTMLResponse)
def signin_post(request: Request, csrf_token: Token = "", email: Annotated[str, Form(max_length=254)] = "") -> Response:
    site = _site(request)
    site.csrf.verify(request.cookies.get(CSRF_COOKIE), csrf_token)
    try:
        sent = accounts.request_signin(site, client_of(request.scope), email)
    except BadInput as exc:
        return render(request, "signin.html", status=400, csrf=True, email=email, error=str(exc))
    return render(request, "message.html", title="Check your inbox", lines=[
        f"We sent a sign-in link to {email.strip().lower()}." if sent else
        "Our mail server did not take the sign-in mail just now; try again in a minute.",
        f"The link works once, for {site.settings.signin_expiry_minutes} minutes."], status=200 if sent else 503)


@router.get("/signin/{token}", response_class=HTMLResponse)
def signin_link(request: Request, token: str) -> Response:
    """Mail scanners follow links: the link shows a button, and the POST signs in."""
    try:
        person = accounts.signin_claims(_site(request), token)
    except BadLink as exc:
        return _bad_link(request, exc, again=True)
    return render(request, "message.html", csrf=True, title="Sign in to papertide", lines=[f"as {person.email}"],
                  action="/signin/" + token, button="Sign in", headers={"Referrer-Policy": "no-referrer"})


@router.post("/signin/{token}")
def signin_finish(request: Request, token: str, csrf_token: Token = "") -> Response:
    site = _site(request)
    site.csrf.verify(request.cookies.get(CSRF_COOKIE), csrf_token)
    try:
        _, cookie = accounts.finish_signin(site, token)
    except BadLink as exc:
        return _bad_link(request, exc, again=True)
    response = RedirectResponse("/for-you", status_code=303)
    accounts.set_session_cookie(request, response, cookie, int(site.settings.session_days))
    return response


@router.post("/signout")
def signout(request: Request, csrf_token: Token = "") -> Response:
    site = _site(request)
    accounts.check_same_origin(request)
    site.csrf.verify(request.cookies.get(CSRF_COOKIE), csrf_token)
    accounts.sign_out(site, request)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(accounts.SESSION_COOKIE, path="/")
    return response


# -- for you --------------------------------------------------------------------------
@router.get("/for-you", response_class=HTMLResponse)
def for_you(request: Request, background: BackgroundTasks) -> Response:
    """The person's recommendations. A library never scored yet is scored in the background
    while the page says so and reloads itself."""
    person, redirect = _person_or_signin(request)
    if redirect:
        return redirect
    site = _site(request)
    recs = for_person(site.store, person, limit=FOR_YOU_SIZE, days=int(site.settings.recommend_days),
                      score_now=False)
    library_size = len(site.store.library(person.id))
    preparing = not recs and library_size > 0 and person.recs_stale
    if preparing:
        _rescore_later(request, background, person)
    cards = {c.paper.id: c for c in site.cards([(r.paper.id, r.score) for r in recs])}
    items = [(cards[r.paper.id], r) for r in recs if r.paper.id in cards]
    return render(request, "for_you.html", csrf=True, person=person, items=items, preparing=preparing,
                  library_size=library_size, feed=_feed_path(person))


@router.post("/me/save")
def save(request: Request, background: BackgroundTasks, paper_id: PaperId, csrf_token: Token = "",
         remove: Annotated[str, Form()] = "") -> Response:
    site = _site(request)
    person = accounts.current(site, request)
    if person is None:
        return RedirectResponse("/signin?next=" + quote("/papers/" + paper_id), status_code=303)
    person = _acting(request, csrf_token)
    if remove:
        lib.remove(site.store, person.id, paper_id)
    else:
        lib.save(site.store, person.id, paper_id)
    _rescore_later(request, background, person)
    return RedirectResponse(_back(request, "/library"), status_code=303)


@router.post("/me/rate")
def rate(request: Request, background: BackgroundTasks, paper_id: PaperId,
         verdict: Annotated[str, Form(max_length=10)], csrf_token: Token = "") -> Response:
    site = _site(request)
    person = _acting(request, csrf_token)
    people.rate(site.store, person, paper_id, verdict)
    _rescore_later(request, background, person)
    return RedirectResponse(_back(request, "/for-you"), status_code=303)


@router.get("/rate/{token}", response_class=HTMLResponse)
def rate_link(request: Request, token: str) -> Response:
    """A 👍/👎 link from a digest: it shows one button (mail scanners follow links), and
    static/app.js presses it at once, so with scripts on it takes one click."""
    site = _site(request)
    try:
        _, paper_id, verdict = accounts.read_rating(site, token)
    except BadLink as exc:
        return _bad_link(request, exc)
    paper = site.paper(paper_id)
    word = "More like this" if verdict == "up" else "Not for me"
    return render(request, "message.html", title=word, lines=[paper.title], action="/rate/" + token, button=word,
                  autosubmit=True, headers={"Referrer-Policy": "no-referrer"})


@router.post("/rate/{token}", response_class=HTMLResponse)
def rate_link_post(request: Request, token: str) -> Response:
    site = _site(request)
    try:
        person, paper_id, verdict = accounts.read_rating(site, token)
    except BadLink as exc:
        return _bad_link(request, exc)
    people.rate(site.store, person, paper_id, verdict)
    said = "More papers like it will come first." if verdict == "up" else "You will not see it again."
    return render(request, "message.html", title="Thanks", lines=[f"Noted. {said}"],
                  link=("/for-you", "Your recommendations"))


# -- library ---------------------------------------------------------------------------
@router.get("/library", response_class=HTMLResponse)
def library_page(request: Request, tag: Annotated[str, Query(max_length=60)] = "") -> Response:
    person, redirect = _person_or_signin(request)
    if redirect:
        return redirect
    return _library_page(request, person, tag=tag)


@router.post("/library/import", response_class=HTMLResponse)
async def library_import(request: Request, background: BackgroundTasks, file: Annotated[UploadFile, File()],
                         csrf_token: Token = "", tags: Annotated[str, Form(max_length=500)] = "") -> Response:
    from fastapi.concurrency import run_in_threadpool

    data = await file.read()
    return await run_in_threadpool(_import, request, background, data, file.filename or "", csrf_token, tags)


def _import(request: Request, background: BackgroundTasks, data: bytes, name: str, csrf_token: str,
            tags: str) -> Response:
    site = _site(request)
    person = _acting(request, csrf_token)
    _rescore_later(request, background, person)
    try:
        report = lib.import_file(site.store, person.id, data, name=name, tags=tags)
    except BadInput as exc:
        return _library_page(request, person, error=str(exc), status=400)
    return _library_page(request, person, report=report)


@router.post("/library/edit")
def library_edit(request: Request, paper_id: PaperId, csrf_token: Token = "",
                 tags: Annotated[str, Form(max_length=1300)] = "", note: Annotated[str, Form(max_length=5000)] = ""
                 ) -> Response:
    person = _acting(request, csrf_token)
    lib.edit(_site(request).store, person.id, paper_id, tags=tags, note=note)
    return RedirectResponse("/library", status_code=303)


@router.get("/library/export.bib")
def library_export(request: Request, tag: Annotated[str, Query(max_length=60)] = "",
                   paper: Annotated[str, Query(max_length=200)] = "") -> Response:
    site = _site(request)
    person = accounts.required(site, request)
    text = lib.export_bibtex(site.store, person.id, tag=tag or None, paper_id=paper or None)
    name = "papertide" + (f"-{tag}" if tag else "") + ".bib"
    safe = "".join(c if c.isalnum() or c in "-." else "_" for c in name)
    return Response(text, media_type="application/x-bibtex; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{safe}"', "Cache-Control": "no-store"})


# -- account ---------------------------------------------------------------------------
@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request) -> Response:
    person, redirect = _person_or_signin(request)
    if redirect:
        return redirect
    return render(request, "account.html", csrf=True, person=person,
                  feed=_feed_path(person))


@router.post("/account/feed")
def new_feed(request: Request, csrf_token: Token = "") -> Response:
    person = _acting(request, csrf_token)
    _site(request).store.new_feed_token(person.id)
    return RedirectResponse("/account", status_code=303)


@router.get("/account/export.json")
def account_export(request: Request) -> Response:
    site = _site(request)
    person = accounts.required(site, request)
    return JSONResponse(people.export(site.store, person), headers={
        "Content-Disposition": 'attachment; filename="papertide-account.json"', "Cache-Control": "no-store"})


@router.post("/account/delete", response_class=HTMLResponse)
def account_delete(request: Request, csrf_token: Token = "", confirm: Annotated[str, Form(max_length=10)] = ""
                   ) -> Response:
    site = _site(request)
    person = _acting(request, csrf_token)
    if confirm != "yes":
        return render(request, "account.html", status=400, csrf=True, person=person,
                      feed=_feed_path(person), error="tick the box to erase your account")
    counts = people.delete(site.store, person)
    response = render(request, "message.html", title="Your account is erased", lines=[
        f"{person.email} and everything papertide kept for it are gone: {counts['library']} saved papers, "
        f"{counts['feedback']} ratings, {counts['recommendations']} recommendations and every sign-in.",
        "Digest subscriptions are separate: every digest has its own unsubscribe link."])
    response.delete_cookie(accounts.SESSION_COOKIE, path="/")
    return response


# -- feed ------------------------------------------------------------------------------
@router.get("/feeds/for-you/{token}.atom")
def for_you_feed(request: Request, token: str) -> Response:
    site = _site(request)
    person = site.store.person(feed_token=token) if 20 <= len(token) <= 64 else None
    if person is None:
        raise NotFound("no such feed (its address may have been replaced)")
    recs = for_person(site.store, person, limit=FOR_YOU_SIZE, days=int(site.settings.recommend_days),
                      score_now=False)
    base = _base(request, site)
    cards = [Card(r.paper, r.score) for r in recs]
    body = atom("papertide: for you", f"{base}/feeds/for-you/{token}.atom", f"{base}/for-you", base, cards,
                notes={r.paper.id: "Why: " + r.reason for r in recs})
    response = _response(body)
    response.headers["Cache-Control"] = "private, max-age=300"
    return response
