"""Real servers for the digest tests: an SMTP server that records what it is sent (aiosmtpd,
with failure injection) and the digest's link routes served by uvicorn, both on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI

from papertide.digest import subscriptions as subs
from papertide.digest.periods import iso
from papertide.model import Signal, make_record
from papertide.settings import SETTINGS, Settings
from papertide.sources.base import Page
from papertide.store import open_store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=default_policy)  # type: ignore[return-value]


@dataclass
class Hold:
    """Stop the server at the n-th RCPT or DATA (1-based) until released: the test kills the client then."""

    stage: str                 # "rcpt" or "data" (data: after the message is recorded, before the 250)
    at: int
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class Recorder:
    """aiosmtpd handler: records each accepted message; replies as told to."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.cond = threading.Condition()
        self.refuse: dict[str, str] = {}      # recipient -> permanent reply, e.g. "550 5.1.1 no such user"
        self.data_replies: list[str] = []     # replies to DATA, used up one by one before accepting
        self.hold: Hold | None = None
        self.counts = {"rcpt": 0, "data": 0}

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list) -> str:
        if address in self.refuse:
            return self.refuse[address]
        self.counts["rcpt"] += 1
        await self._maybe_hold("rcpt")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        self.counts["data"] += 1
        with self.cond:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content or envelope.content))
            self.cond.notify_all()
        await self._maybe_hold("data")
        return "250 OK"

    async def _maybe_hold(self, stage: str) -> None:
        hold = self.hold
        if hold is not None and hold.stage == stage and self.counts[stage] == hold.at:
            hold.reached.set()
            while not hold.release.is_set():  # the server waits here, the test acts meanwhile
                await asyncio.sleep(0.01)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} messages, got {len(self.messages)} in {timeout} s")
            return list(self.messages)

    def to(self, address: str) -> list[Received]:
        with self.cond:
            return [m for m in self.messages if address in m.rcpt_tos]


class SMTPServer:
    """A recording SMTP server on 127.0.0.1; ``stop()`` and ``start()`` simulate an outage."""

    def __init__(self, *, running: bool = True) -> None:
        self.port = free_port()
        self.recorder = Recorder()
        self.controller: Controller | None = None
        if running:
            self.start()

    def start(self) -> None:
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class AppServer:
    """The digest routes in a minimal FastAPI app, served by uvicorn in a thread."""

    def __init__(self, settings_for: Any) -> None:
        from papertide.digest.routes import router

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings: Settings = settings_for(self.url)
        app = FastAPI()
        app.include_router(router(self.settings))
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:  # a condition with a deadline, not a sleep to synchronise
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the app server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


WORDS = ["diffusion", "segmentation", "retrieval", "transformer", "protein", "robotics", "speech", "graph"]


def papers(start: int, count: int, *, published: str = "2026-11-20", categories: list[str] | None = None,
           word: str | None = None) -> Page:
    """A page of ``count`` made-up arXiv papers numbered from ``start``."""
    records = []
    for n in range(start, start + count):
        topic = word or WORDS[n % len(WORDS)]
        records.append(make_record(
            id=f"2611.{n:05d}", source="files", title=f"Paper {n} on {topic} models",
            abstract=f"We study {topic} with ünïcode & <markup> characters, number {n}.",
            authors=[f"Author {n % 5}", "Grace Hopper"], categories=categories or ["cs.CV"],
            published=published, links={"code": [f"https://github.com/lab/p{n}"]}))
    return Page(records=records)


def env_of(settings: Settings) -> dict[str, str]:
    """The settings as PAPERTIDE_* variables, for the command line."""
    return {s.env: str(getattr(settings, s.name)) for s in SETTINGS if getattr(settings, s.name) != s.default}


def seed(settings: Settings, emails: list[str], *, count: int = 12, confirmed_at: datetime | None = None,
         **options) -> None:
    """Papers that gained upvotes today (so that they trend), and confirmed subscribers (without
    going through their mail)."""
    follows = options.pop("follows", {"trending": True})
    store = open_store(settings.db)
    try:
        page = papers(0, count)
        store.ingest(page)
        now = iso(datetime.now(timezone.utc))
        store.add_paper_signals([(r.id, Signal("upvotes", 1 + n, now, "hf-daily")) for n, r in enumerate(page.records)])
        for email in emails:
            request = subs.request_subscription(store, settings, email, follows, **options)
            sub = store.subscriber(email=email)
            store.confirm_subscriber(sub.id, sub.nonce, iso(confirmed_at or datetime.now(timezone.utc)))
            # The confirmation mail is not part of these tests: take it out of the queue.
            store.finish(store.outbox_row(request.message_key).id, "cancelled", iso(datetime.now(timezone.utc)))
    finally:
        store.close()
