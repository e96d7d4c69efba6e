"""Atom feeds: /feeds/trending.atom?window=… and /feeds/search.atom?q=….

Built with lxml, so every title and abstract is escaped by the XML writer;
text is given as Atom ``type="text"`` with LaTeX shown as Unicode.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from lxml import etree
from starlette.responses import Response

from papertide.web.errors import UnknownHost
from papertide.web.security import client_of
from papertide.web.service import Card, Site, make_filters
from papertide.web.text import plain

router = APIRouter(prefix="/feeds", include_in_schema=False)
ATOM = "http://www.w3.org/2005/Atom"
FEED_SIZE = 30


def _base(request: Request, site: Site) -> str:
    """Where the feed's links point: ``base_url``, else the request's own address if its Host
    is an allowed one (a forged Host must not put its links into a publicly cached feed)."""
    if site.settings.base_url:
        return str(site.settings.base_url).rstrip("/")
    allowed = {h.strip().lower() for h in str(site.settings.allowed_hosts).split(",") if h.strip()}
    host = (request.url.hostname or "").lower()
    if host not in allowed and f"[{host}]" not in allowed:
        raise UnknownHost(f"this site does not answer for host {host[:100]!r}; set base_url or allowed_hosts")
    return str(request.base_url).rstrip("/")


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


def _day_time(day: str) -> str:
    return f"{day}T00:00:00Z" if len(day) == 10 else datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def atom(title: str, self_url: str, alternate: str, base: str, cards: list[Card],
         notes: dict[str, str] | None = None) -> bytes:
    """An Atom 1.0 document for a list of papers; ``notes`` start a paper's summary (a reason)."""
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
    _sub(feed, "title", title)
    _sub(feed, "id", self_url)
    _sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    _sub(feed, "link", rel="alternate", href=alternate, type="text/html")
    days = [c.paper.updated or c.paper.published for c in cards if c.paper.updated or c.paper.published]
    _sub(feed, "updated", _day_time(max(days) if days else ""))
    _sub(feed, "generator", "papertide")
    for card in cards:
        p = card.paper
        entry = _sub(feed, "entry")
        _sub(entry, "title", plain(p.title), type="text")
        _sub(entry, "id", p.url or f"{base}/papers/{p.id}")
        _sub(entry, "link", rel="alternate", href=f"{base}/papers/{p.id}", type="text/html")
        if p.links.get("pdf"):
            _sub(entry, "link", rel="related", href=str(p.links["pdf"]), type="application/pdf")
        _sub(entry, "updated", _day_time(p.updated or p.published))
        if p.published:
            _sub(entry, "published", _day_time(p.published))
        for name in p.authors[:20] or ["unknown"]:
            _sub(_sub(entry, "author"), "name", plain(name))
        for category in p.categories:
            _sub(entry, "category", term=category)
        note = (notes or {}).get(p.id)
        _sub(entry, "summary", (f"{note}\n\n" if note else "") + plain(p.abstract), type="text")
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8")


def _response(body: bytes) -> Response:
    return Response(body, media_type="application/atom+xml; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=300"})


@router.get("/trending.atom")
def trending_feed(request: Request, window: Literal["day", "week", "month"] = "day",
                  category: Annotated[list[str], Query(max_length=10)] = []) -> Response:
    site: Site = request.app.state.site
    page = site.trending(window, category, 0, FEED_SIZE)
    base = _base(request, site)
    query = str(request.url.query)
    return _response(atom(f"papertide: trending this {window}", f"{base}/feeds/trending.atom?{query}",
                          f"{base}/?window={window}", base, page.cards))


@router.get("/search.atom")
def search_feed(request: Request, q: Annotated[str, Query(min_length=1, max_length=2000)],
                category: Annotated[list[str], Query(max_length=10)] = []) -> Response:
    site: Site = request.app.state.site
    site.limiter.check("search", client_of(request.scope))
    page = site.search(q, filters=make_filters(category), limit=FEED_SIZE)
    base = _base(request, site)
    query = str(request.url.query)
    return _response(atom(f"papertide: {plain(q)}", f"{base}/feeds/search.atom?{query}",
                          f"{base}/search?{query}", base, page.cards))
