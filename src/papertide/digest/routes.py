"""The pages behind the links in mail: confirm, manage, unsubscribe (one-click, RFC 8058).

``router(settings)`` returns a FastAPI ``APIRouter``; the web app includes it at the
site root, since the links in mail (``digest/links.py``) point at these paths. No login
is needed anywhere: the signed token in the path is the proof. ``GET /confirm`` and
``GET /unsubscribe`` only show a button, because mail scanners follow links; the POST
(from that button, or for unsubscribing from a mail client honouring
``List-Unsubscribe-Post``) confirms or unsubscribes.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, ContextManager, Iterator
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from papertide.digest import links, subscriptions
from papertide.digest.render import following, page
from papertide.errors import BadLink, InvalidSubscription
from papertide.settings import Settings
from papertide.store import open_store
from papertide.store.base import Subscriber

StoreFactory = Callable[[], ContextManager[Any]]


def _html(title: str, *lines: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(page("page.html", title=title, lines=lines, error=status >= 400, **context),
                        status_code=status)


class _Routes:
    """The handlers, sharing the settings and the way to open a store."""

    def __init__(self, settings: Settings, store: StoreFactory | None) -> None:
        self.settings = settings
        self.use = store or self._own_store

    @contextmanager
    def _own_store(self) -> Iterator[Any]:
        handle = open_store(self.settings.db, index_dir=self.settings.index_dir)
        try:
            yield handle
        finally:
            handle.close()

    def confirm_page(self, token: str) -> HTMLResponse:
        try:
            with self.use() as s:
                sub = subscriptions.subscriber_for_confirm(s, self.settings, token)
        except BadLink as exc:
            return _html("This link does not work", str(exc), status=400)
        if sub.status == "confirmed" and not sub.pending:
            return self._confirmed(sub)
        return _html("Confirm your digest?", f"Send papertide digests to {sub.email}.",
                     action=links.PATHS["confirm"].format(token=token), button="Confirm")

    def confirm(self, token: str) -> HTMLResponse:
        try:
            with self.use() as s:
                sub = subscriptions.confirm(s, self.settings, token)
        except BadLink as exc:
            return _html("This link does not work", str(exc), status=400)
        return self._confirmed(sub)

    @staticmethod
    def _confirmed(sub: Subscriber) -> HTMLResponse:
        return _html("Your digest is confirmed", _schedule(sub), f"Following {following(_topics(sub))}.",
                     "Every digest has links to change it or to unsubscribe.")

    def unsubscribe_page(self, token: str) -> HTMLResponse:
        try:
            with self.use() as s:
                sub = subscriptions.subscriber_for_unsubscribe(s, self.settings, token)
        except BadLink as exc:
            return _html("This link does not work", str(exc), status=400)
        if sub.status == "unsubscribed":
            return _html("You are unsubscribed", f"{sub.email} gets no more digests.")
        return _html("Unsubscribe?", f"Stop sending papertide digests to {sub.email}.",
                     action=links.PATHS["unsubscribe"].format(token=token), button="Unsubscribe")

    def unsubscribe(self, token: str) -> HTMLResponse:
        # RFC 8058: the body is "List-Unsubscribe=One-Click"; the token alone decides.
        try:
            with self.use() as s:
                sub = subscriptions.unsubscribe(s, self.settings, token)
        except BadLink as exc:
            return _html("This link does not work", str(exc), status=400)
        return _html("You are unsubscribed", f"{sub.email} gets no more digests.",
                     "Changed your mind? Subscribe again on the site at any time.")

    def manage_page(self, token: str) -> HTMLResponse:
        try:
            with self.use() as s:
                sub = subscriptions.subscriber_for_manage(s, self.settings, token)
                return _manage(s, self.settings, sub, token)
        except BadLink as exc:
            return _html("This link does not work", str(exc), "Use the link in your latest digest.", status=400)

    async def manage(self, token: str, request: Request) -> HTMLResponse:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        return await run_in_threadpool(_save, self.use, self.settings, token, form)


def router(settings: Settings, store: StoreFactory | None = None) -> APIRouter:
    """The confirm, manage and unsubscribe routes. ``store`` opens a store for one request
    (a context manager factory); by default each request opens and closes ``settings.db``."""
    routes = _Routes(settings, store)
    api = APIRouter()
    html = {"response_class": HTMLResponse}
    api.add_api_route(links.PATHS["confirm"], routes.confirm_page, methods=["GET"], **html)
    api.add_api_route(links.PATHS["confirm"], routes.confirm, methods=["POST"], **html)
    api.add_api_route(links.PATHS["unsubscribe"], routes.unsubscribe_page, methods=["GET"], **html)
    api.add_api_route(links.PATHS["unsubscribe"], routes.unsubscribe, methods=["POST"], **html)
    api.add_api_route(links.PATHS["manage"], routes.manage_page, methods=["GET"], **html)
    api.add_api_route(links.PATHS["manage"], routes.manage, methods=["POST"], **html)
    return api


def _save(use: StoreFactory, settings: Settings, token: str, form: dict[str, list[str]]) -> HTMLResponse:
    """Apply the manage form."""
    try:
        with use() as s:
            sub = subscriptions.subscriber_for_manage(s, settings, token)
            try:
                keep = {int(i) for i in form.get("keep", []) if i.isdigit()}
                follows = _kept(sub, keep)
                follows["searches"] += _lines(form, "add_searches")
                follows["authors"] += _lines(form, "add_authors")
                follows["categories"] += (_one(form, "add_categories") or "").replace(",", " ").split()
                sub = subscriptions.update_subscription(
                    s, settings, token, frequency=_one(form, "frequency"), tz=_one(form, "tz"),
                    hour=_int(form, "hour"), max_papers=_int(form, "max_papers"), follows=follows)
            except InvalidSubscription as exc:
                return _manage(s, settings, sub, token, error=str(exc), status=400)
            return _manage(s, settings, sub, token, saved=True)
    except BadLink as exc:
        return _html("This link does not work", str(exc), status=400)


def _manage(store: Any, settings: Settings, sub: Subscriber, token: str, *, error: str = "",
            saved: bool = False, status: int = 200) -> HTMLResponse:
    unsubscribe = links.token_from(subscriptions.unsubscribe_link(store, settings, sub))
    lines = [error] if error else [("Saved. " if saved else "") + _schedule(sub)]
    return _html("Your papertide digest", *lines, status=status, manage={
        "action": links.PATHS["manage"].format(token=token), "topics": [t.label for t in _topics(sub)],
        "frequency": sub.frequency, "hour": sub.hour, "tz": sub.tz, "max_papers": sub.max_papers,
        "unsubscribe": links.PATHS["unsubscribe"].format(token=unsubscribe)})


def _kept(sub: Subscriber, keep: set[int]) -> dict[str, Any]:
    """The follows whose topics stay ticked on the manage form."""
    kept = [t for i, t in enumerate(_topics(sub)) if i in keep]
    return {"trending": [{"categories": list(t.categories), "window": t.window} for t in kept if t.kind == "trending"],
            "searches": [{"query": t.query, "mode": t.mode, "categories": list(t.categories)}
                         for t in kept if t.kind == "search"],
            "authors": [t.query for t in kept if t.kind == "author"],
            "categories": [t.query for t in kept if t.kind == "category"]}


def _topics(sub: Subscriber) -> list[Any]:
    return subscriptions.Follows.from_dict(sub.follows).topics()


def _schedule(sub: Subscriber) -> str:
    when = "every day" if sub.frequency == "daily" else "every Monday"
    state = {"confirmed": "", "requested": " (not confirmed yet)", "unsubscribed": " (unsubscribed)",
             "bounced": " (stopped: mail to this address bounced)"}.get(sub.status, "")
    return f"{sub.email} gets up to {sub.max_papers} papers {when} at {sub.hour:02d}:00 ({sub.tz}){state}."


def _lines(form: dict[str, list[str]], name: str) -> list[str]:
    return [line.strip() for line in (_one(form, name) or "").splitlines() if line.strip()]


def _one(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0].strip() if values and values[0].strip() else None


def _int(form: dict[str, list[str]], name: str) -> int | None:
    value = _one(form, name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        raise InvalidSubscription(f"{name.replace('_', ' ')} must be a whole number") from None
