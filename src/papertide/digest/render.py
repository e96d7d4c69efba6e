"""Turn a composed digest into a mail: HTML and plain text parts, headers, MIME bytes.

The HTML part carries its styles inline (a ``<style>`` block only adds the dark-mode
and narrow-screen variants), uses no images, and reads on a phone. Templates live
in ``digest/templates`` and are rendered by Jinja2 with HTML autoescaping.
"""

from __future__ import annotations

import base64
import binascii
import functools
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any, Callable, Iterable

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from papertide.digest.compose import DigestGroup, Topic
from papertide.digest.links import paper_link
from papertide.latex import latex_to_text
from papertide.model import link_label
from papertide.settings import Settings
from papertide.snippets import snippet
from papertide.store.base import StoredPaper

_SNIPPET_CHARS = 300


@functools.cache
def environment() -> Environment:
    """The Jinja2 environment for the digest templates (``.html`` autoescaped)."""
    return Environment(loader=PackageLoader("papertide.digest", "templates"),
                       autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
                       trim_blocks=False, lstrip_blocks=False, keep_trailing_newline=True,
                       auto_reload=False)


@dataclass
class Rendered:
    subject: str
    html: str
    text: str


def message_id(settings: Settings, kind: str, subscriber_id: int, tag: str) -> str:
    """A Message-ID unique to this message, kept with it so every resend carries the same one."""
    domain = _domain(settings.smtp_from)
    return f"<{kind}.{subscriber_id}.{tag}.{secrets.token_hex(6)}@{domain}>"


@functools.cache
def _domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "papertide.localhost"


def paper_view(settings: Settings, paper: StoredPaper) -> dict[str, Any]:
    """What a template shows of one paper."""
    authors = ", ".join(paper.authors[:3]) + (" et al." if len(paper.authors) > 3 else "")
    arxiv = ":" not in paper.id
    code = paper.links.get("code") or []
    return {
        "id": paper.id, "title": latex_to_text(paper.title), "authors": authors, "published": paper.published,
        "categories": " ".join(paper.categories[:3]),
        "snippet": snippet(latex_to_text(paper.abstract), (), _SNIPPET_CHARS),
        "page": paper_link(settings, paper.id), "abs": paper.links.get("abs") or paper.url,
        "home": link_label(paper.links.get("abs") or paper.url), "journal": paper.links.get("journal", ""),
        "journal_ref": paper.journal_ref if paper.links.get("journal") else "",
        "pdf": paper.links.get("pdf") or (f"https://arxiv.org/pdf/{paper.id}" if arxiv else ""),
        "code": code[0] if isinstance(code, list) and code else (code if isinstance(code, str) else ""),
    }


def period_label(period: str) -> str:
    """``2026-03-18`` -> ``Wednesday 18 March 2026``; ``2026-W12`` -> ``week 12 of 2026``."""
    if "-W" in period:
        year, week = period.split("-W")
        return f"week {int(week)} of {year}"
    day = datetime.fromisoformat(period)
    return f"{day:%A} {day.day} {day:%B %Y}"


def following(topics: Iterable[Topic]) -> str:
    """A short phrase naming what a subscription follows."""
    labels = [t.label for t in topics]
    if len(labels) > 4:
        labels = labels[:3] + [f"{len(labels) - 3} more topics"]
    return ", ".join(labels) if labels else "nothing yet"


class Cards:
    """Each paper's HTML and text card, rendered once and shared by every digest showing it."""

    def __init__(self, settings: Settings, limit: int = 20000) -> None:
        self.settings, self.limit = settings, limit
        self.views: dict[str, dict[str, Any]] = {}
        self._cards: dict[tuple[str, str], tuple[Markup, str]] = {}

    def add(self, papers: Iterable[StoredPaper]) -> None:
        for paper in papers:
            self.views[paper.id] = paper_view(self.settings, paper)

    def card(self, paper_id: str, also: str) -> tuple[Markup, str]:
        found = self._cards.get((paper_id, also))
        if found is None:
            if len(self._cards) >= self.limit:  # forget the oldest: digests mostly share recent ones
                del self._cards[next(iter(self._cards))]
            context = {**self.views[paper_id], "also": also}
            env = environment()
            found = (Markup(env.get_template("card.html").render(context)),
                     env.get_template("card.txt").render(context))
            self._cards[(paper_id, also)] = found
        return found


def render_digest(settings: Settings, *, email: str, period: str, groups: list[DigestGroup], cards: Cards,
                  topics: list[Topic], manage_url: str, unsubscribe_url: str,
                  rate: Callable[[str], dict[str, str]] | None = None) -> Rendered:
    """Subject, HTML and text of one digest (papers ``cards`` does not know are left out);
    ``rate`` gives a paper's 👍/👎 links for a subscriber who signs in here."""
    shown = []
    for group in groups:
        items = []
        for item in group.items:
            if item.paper_id in cards.views:
                html, text = cards.card(item.paper_id, ", ".join(item.also))
                items.append({"html": html, "text": text, "title": cards.views[item.paper_id]["title"],
                              "why": item.why, "rate": rate(item.paper_id) if rate else None})
        if items:
            shown.append({"label": group.topic.label, "note": group.note, "papers": items})
    total = sum(len(g["papers"]) for g in shown)
    label = period_label(period)
    summary = f"{total} new paper{'s' if total != 1 else ''} for you" if total else "Nothing new this time"
    subject = f"papertide {label}: {total} new paper{'s' if total != 1 else ''}"
    if shown:
        subject += " - " + ", ".join(g["label"] for g in shown[:3])
    context = {"subject": subject, "period_label": label, "summary": summary, "groups": shown, "email": email,
               "following": following(topics), "manage_url": manage_url, "unsubscribe_url": unsubscribe_url,
               "preheader": "; ".join(p["title"] for g in shown for p in g["papers"][:1])[:200]}
    env = environment()
    return Rendered(subject, env.get_template("digest.html").render(context),
                    env.get_template("digest.txt").render(context))


def build_message(settings: Settings, *, to: str, rendered: Rendered, msg_id: str, date: datetime,
                  unsubscribe_url: str | None) -> bytes:
    """The MIME bytes: multipart/alternative, text then HTML, both UTF-8 quoted-printable;
    the RFC 8058 headers when the message can be unsubscribed from.

    Written out directly rather than through ``email.message``: the same bytes, about
    five times faster, which matters when composing ten thousand digests."""
    boundary = "=_papertide_" + secrets.token_hex(12)
    headers = [("From", _address(settings.smtp_from)), ("To", to),
               ("Subject", encode_header(rendered.subject)),
               ("Date", format_datetime(date.replace(microsecond=0))), ("Message-ID", msg_id)]
    if unsubscribe_url:
        domain = msg_id.rpartition("@")[2].rstrip(">")
        headers += [("List-Unsubscribe", f"<{unsubscribe_url}>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                    ("List-Id", f"papertide digest <digest.{domain}>")]
    headers += [("Auto-Submitted", "auto-generated"), ("MIME-Version", "1.0"),
                ("Content-Type", f'multipart/alternative; boundary="{boundary}"')]
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("ascii")
    parts = [_part("text/plain", rendered.text), _html_part(rendered.html)]
    delimiter = f"--{boundary}\r\n".encode("ascii")
    return (head + b"\r\n" + b"".join(delimiter + part for part in parts)
            + f"--{boundary}--\r\n".encode("ascii"))


def _html_part(html: str) -> bytes:
    """HTML as 7-bit ASCII (other characters as character references), unencoded when its
    lines are short enough: smaller and much faster than quoted-printable."""
    data = html.encode("ascii", "xmlcharrefreplace")
    if max(map(len, data.split(b"\n"))) > 990:  # SMTP allows 998 octets a line
        return _part("text/html", html)
    body = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n' + body


def _part(content_type: str, body: str) -> bytes:
    encoded = binascii.b2a_qp(body.encode("utf-8"), istext=True).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not encoded.endswith(b"\r\n"):
        encoded += b"\r\n"
    return (f'Content-Type: {content_type}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode("ascii") + encoded


def encode_header(text: str) -> str:
    """A header value as RFC 2047 encoded words when it is not plain ASCII (folded lines
    of at most 45 bytes of text each); line breaks become spaces."""
    text = " ".join(text.split())
    if text.isascii():
        return text
    words, chunk = [], ""
    for char in text:
        if len((chunk + char).encode("utf-8")) > 45:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    return "\r\n ".join("=?utf-8?b?" + base64.b64encode(w.encode("utf-8")).decode("ascii") + "?=" for w in words)


@functools.cache
def _address(value: str) -> str:
    """An address header value, its display name encoded if it is not ASCII."""
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if address else value


def confirm_message(settings: Settings, email: str, pending: dict[str, Any], url: str, msg_id: str,
                    now: datetime, *, expiry_hours: int) -> bytes:
    """The mail that asks an address to confirm a subscription."""
    from papertide.digest.subscriptions import Follows

    context = {"email": email, "url": url, "frequency": pending["frequency"], "hour": f"{pending['hour']:02d}",
               "tz": pending["tz"], "expiry_hours": expiry_hours,
               "following": following(Follows.from_dict(pending["follows"]).topics())}
    env = environment()
    rendered = Rendered("Confirm your papertide digest", env.get_template("confirm.html").render(context),
                        env.get_template("confirm.txt").render(context))
    return build_message(settings, to=email, rendered=rendered, msg_id=msg_id, date=now, unsubscribe_url=None)


def page(template: str, **context: Any) -> str:
    """A small HTML page for the confirm, unsubscribe and manage links."""
    return environment().get_template(template).render(context)
