"""Server-rendered pages. They work without JavaScript; static/app.js only adds comfort.

Each handler parses the request, calls one ``Site`` method and renders a template.
Forms carry a CSRF token (security.Csrf); every POST checks it before anything else.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from papertide.errors import BadInput
from papertide.web import subscriptions
from papertide.web.security import CSRF_COOKIE, CSRF_MAX_AGE, client_of
from papertide.web.service import FACET_DEPTH, MAX_OFFSET, MODES, SORTS, WINDOWS, Site, make_filters

router = APIRouter(include_in_schema=False)
MAX_PAGE_NUMBER = 50
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE_NUMBER)]
Many = Annotated[list[str], Query(max_length=10)]
Text = Annotated[str, Query(max_length=2000)]


def _site(request: Request) -> Site:
    return request.app.state.site


def render(request: Request, template: str, *, status: int = 200, csrf: bool = False,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    """A template as a response; with ``csrf``, the form token and its cookie."""
    site = _site(request)
    cookie = None
    if csrf:
        cookie, context["csrf_token"] = site.csrf.pair(request.cookies.get(CSRF_COOKIE))
    context.setdefault("categories", site.category_choices(context.get("selected_categories")))
    html = request.app.state.templates.get_template(template).render(
        request_path=request.url.path, windows=WINDOWS, modes=MODES, available_modes=site.modes(), **context)
    response = HTMLResponse(html, status_code=status, headers=headers)
    if cookie is not None:
        response.set_cookie(CSRF_COOKIE, cookie, max_age=CSRF_MAX_AGE, path="/", httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")
        response.headers["Cache-Control"] = "no-store"
    return response


def _pages(page_number: int, has_next: bool, params: dict[str, Any]) -> dict[str, str | None]:
    """Links to the previous and next page, keeping every other parameter."""
    def link(n: int) -> str:
        return "?" + urlencode({**params, "page": n}, doseq=True)
    return {"prev": link(page_number - 1) if page_number > 1 else None,
            "next": link(page_number + 1) if has_next and page_number < MAX_PAGE_NUMBER else None}


@router.get("/", response_class=HTMLResponse)
def trending_page(request: Request, window: str = "day", category: Many = [], topic: Text = "",
                  page: PageNumber = 1) -> Response:
    """Trending papers, overall or about a topic (a keyword search); the rendered page is
    cached like the list behind it."""
    site = _site(request)
    if window not in WINDOWS:
        window = "day"
    topic = topic.strip()[:200]
    key = ("page:/", window, tuple(category), topic, page)
    html = site.cache.get(key)
    if html is None:
        offset = min((page - 1) * site.page_size, MAX_OFFSET)
        result = site.trending(window, category, offset, site.page_size, topic=topic)
        pages = _pages(page, bool(result.next_offset), {"window": window, "category": category, "topic": topic})
        rendered = render(request, "trending.html", window=window, result=result, selected_categories=category,
                          pages=pages, topic=topic)
        html = site.cache.put(key, rendered.body)
    return HTMLResponse(html, headers={"Cache-Control": "public, max-age=30"})


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, q: Text = "", mode: str = "", category: Many = [],
                since: Annotated[str, Query(max_length=10)] = "", until: Annotated[str, Query(max_length=10)] = "",
                source: Many = [], code: bool = False, sort: str = "relevance", page: PageNumber = 1) -> Response:
    """The search box and its results, with a total, a sort and facets to narrow them; a bad
    filter is shown next to the form, not as an error page. The mode is hybrid where the store
    has vectors, unless another is chosen."""
    site = _site(request)
    form = {"q": q, "mode": mode if mode in MODES else site.default_mode(), "category": category, "since": since,
            "until": until, "source": source, "code": "1" if code else "", "sort": sort if sort in SORTS else
            "relevance"}
    context: dict[str, Any] = {"form": form, "selected_categories": category, "result": None, "error": ""}
    if not q.strip():
        return render(request, "search.html", **context)
    site.limiter.check("search", client_of(request.scope))
    try:
        offset = min((page - 1) * site.page_size, MAX_OFFSET)
        result = site.search(q, mode=form["mode"], filters=make_filters(category, since or None, until or None, source),
                             offset=offset, limit=site.page_size, strict=False, sort=form["sort"], code=code,
                             facets=True)
    except BadInput as exc:
        return render(request, "search.html", status=400, **{**context, "error": str(exc)})
    params = {k: v for k, v in form.items() if v and not (k == "sort" and v == "relevance")}
    return render(request, "search.html", **{**context, "result": result, "params": params,
                                             "facet_depth": FACET_DEPTH, "pages": _pages(
        page, bool(result.next_offset), params), "feed_query": urlencode({"q": q, "category": category},
                                                                        doseq=True)})


@router.get("/authors/{name:path}", response_class=HTMLResponse)
def author_page(request: Request, name: str, page: PageNumber = 1) -> Response:
    """An author's papers here, newest first, and a button to follow them by mail."""
    site = _site(request)
    name = " ".join(name.replace('"', " ").split())[:200]
    if not name:
        raise BadInput("an author page needs a name")
    offset = min((page - 1) * site.page_size, MAX_OFFSET)
    result = site.search(f'author:"{name}"', mode="keyword", offset=offset, limit=site.page_size, strict=False,
                         sort="newest")
    return render(request, "author.html", name=name, result=result,
                  pages=_pages(page, bool(result.next_offset), {}))


@router.get("/papers/{paper_id:path}", response_class=HTMLResponse)
def paper_page(request: Request, paper_id: str) -> Response:
    site = _site(request)
    paper = site.paper(paper_id)
    return render(request, "paper.html", paper=paper, history=site.history(paper.id),
                  similar=site.similar(paper))


@router.get("/paper/{paper_id:path}")
def paper_alias(paper_id: str) -> Response:
    """The digest's mails link to /paper/{id} (digest/links.py); the page lives at /papers/{id}."""
    return RedirectResponse("/papers/" + quote(paper_id, safe="/"), status_code=301)


# -- subscriptions ------------------------------------------------------------------
def _form_follows(trending: list[str], categories: list[str], searches: str, authors: str) -> dict[str, list[str]]:
    lines = lambda text: [line.strip() for line in text.splitlines() if line.strip()]  # noqa: E731
    return {"trending": trending, "categories": categories, "searches": lines(searches), "authors": lines(authors)}


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request, search: Many = [], author: Many = [], category: Many = [],
                   window: Many = []) -> Response:
    """The subscribe form, pre-filled from links elsewhere on the site (?search=…, ?author=…)."""
    follows = {"trending": [w for w in window if w in WINDOWS] or ([] if search or author or category else ["day"]),
               "categories": category, "searches": search, "authors": author}
    return render(request, "subscribe.html", csrf=True, email="", follows=follows, frequency="daily", error="",
                  selected_categories=category)


Field = Annotated[str, Form(max_length=4000)]
Fields = Annotated[list[str], Form(max_length=20)]


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe_post(request: Request, csrf_token: Annotated[str, Form(max_length=200)] = "",
                   email: Annotated[str, Form(max_length=254)] = "", trending: Fields = [], categories: Fields = [],
                   searches: Field = "", authors: Field = "", frequency: Annotated[str, Form(max_length=10)] = "daily"
                   ) -> Response:
    site = _site(request)
    site.csrf.verify(request.cookies.get(CSRF_COOKIE), csrf_token)
    follows = _form_follows(trending, categories, searches, authors)
    try:
        found, sent = subscriptions.subscribe(site, client_of(request.scope), email, follows, frequency)
    except BadInput as exc:
        return render(request, "subscribe.html", status=400, csrf=True, email=email, follows=follows,
                      frequency=frequency, error=str(exc), selected_categories=categories)
    return render(request, "subscribed.html", email=found.subscriber.email, frequency=frequency, sent=sent,
                  expiry_hours=site.settings.confirm_expiry_hours)


@router.get("/subscriptions/manage")
def manage_form(token: Annotated[str, Query(max_length=512)] = "") -> Response:
    """Old manage links: subscriptions are now managed on the digest's signed /manage/{token} page."""
    from papertide.digest.links import PATHS

    if not token:
        return RedirectResponse("/subscribe", status_code=303)
    return RedirectResponse(PATHS["manage"].format(token=quote(token, safe="")), status_code=303,
                            headers={"Referrer-Policy": "no-referrer"})


# -- API docs and health -------------------------------------------------------------
@router.get("/api/v1/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> Response:
    """The API reference, rendered here from the OpenAPI schema (no CDN, no script)."""
    schema = request.app.openapi()
    return render(request, "api_docs.html", schema=schema)


@router.get("/healthz")
def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "papers": _site(request).store.count()})


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """Browsers ask for /favicon.ico on documents that name no icon (feeds, JSON)."""
    return RedirectResponse("/static/favicon.svg", status_code=301)
