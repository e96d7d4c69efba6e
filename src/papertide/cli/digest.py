"""Bodies of the ``subscribe``, ``subscriptions`` and ``digest`` commands (cli.py stays thin)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import date
from pathlib import Path
from typing import Any, Callable

import click

from papertide.digest import subscriptions
from papertide.digest.outbox import preview
from papertide.digest.runner import deliver_now, run_digests, status
from papertide.digest.subscriptions import Follows
from papertide.settings import Settings

log = logging.getLogger("papertide")


def subscribe(store: Any, settings: Settings, email: str, *, trending: bool, trending_in: list[str],
              categories: list[str], searches: list[str], search_mode: str, authors: list[str],
              frequency: str, hour: int | None, tz: str, max_papers: int | None) -> None:
    """Record a request, mail the confirmation link (now if the SMTP server answers), print it."""
    follows = Follows(
        trending=([{"categories": [], "window": ""}] if trending else [])
        + [{"categories": [c], "window": ""} for c in trending_in],
        searches=[{"query": q, "mode": search_mode, "categories": []} for q in searches],
        authors=list(authors), categories=list(categories))
    request = subscriptions.request_subscription(store, settings, email, follows, frequency=frequency,
                                                 hour=hour, tz=tz, max_papers=max_papers)
    delivery = deliver_now(store, settings, [request.message_key])
    sent = bool(delivery and delivery.sent)
    waits = ("the change applies once the link in it is followed" if request.subscriber.status == "confirmed"
             else "nothing is sent until the link in it is followed")
    click.echo(f"{request.subscriber.email}: confirmation mail {'sent' if sent else 'queued'}; {waits}.")
    if delivery and delivery.stopped:
        click.echo(f"  ({delivery.stopped}; `papertide digest run` sends it later)", err=True)
    click.echo(f"confirm link: {request.confirm_url}")


def list_subscribers(store: Any, as_json: bool) -> None:
    """Print every subscriber with what they follow and when they last got a digest."""
    subs = store.subscribers()
    if as_json:
        click.echo(json.dumps([{"email": s.email, "status": s.status, "follows": s.follows,
                                "frequency": s.frequency, "hour": s.hour, "tz": s.tz,
                                "max_papers": s.max_papers, "pending": s.pending, "last_period": s.last_period,
                                "last_sent_at": s.last_sent_at} for s in subs], ensure_ascii=False))
        return
    if not subs:
        click.echo("No subscribers yet. Add one with `papertide subscribe EMAIL --trending`.")
    for s in subs:
        topics = [t.label for t in Follows.from_dict(s.follows or (s.pending or {}).get("follows", {})).topics()]
        pending = "  (change pending)" if s.pending and s.status == "confirmed" else ""
        click.echo(f"{s.email}  {s.status}  {s.frequency} at {s.hour:02d}:00 {s.tz}  max {s.max_papers}"
                   f"  last {s.last_period or '-'}{pending}")
        click.echo(f"    {'; '.join(topics)}")


def confirm(store: Any, settings: Settings, link_or_token: str) -> None:
    sub = subscriptions.confirm(store, settings, link_or_token)
    click.echo(f"{sub.email}: confirmed ({sub.frequency} at {sub.hour:02d}:00 {sub.tz}).")


def remove(store: Any, settings: Settings, email: str) -> None:
    sub = subscriptions.remove(store, settings, email)
    click.echo(f"{sub.email}: unsubscribed; queued digests cancelled.")


def _progress() -> Callable[[str, int, int], None]:
    tty = sys.stderr.isatty()
    last: dict[str, int] = {}

    def show(stage: str, done: int, total: int) -> None:
        if tty:
            click.echo(f"\r\033[K{stage}: {done:,}/{total:,}", err=True, nl=False)
        elif done - last.get(stage, -10**9) >= 500 or done == total:
            log.info("%s: %s/%s", stage, f"{done:,}", f"{total:,}")
            last[stage] = done
    return show


def run(store: Any, settings: Settings, day: date | None, dry_run: bool, as_json: bool) -> int:
    """``digest run``: returns the exit code (0 done, 75 some messages stay queued)."""
    report = run_digests(store, settings, day=day, dry_run=dry_run, progress=_progress())
    if sys.stderr.isatty():
        click.echo("", err=True)
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return report.exit_code
    q = report.queue
    verb = "would queue" if dry_run else "queued"
    click.echo(f"digests due {q.due:,}: {verb} {q.queued:,} ({q.papers:,} papers), "
               f"{q.empty:,} empty (not sent) in {q.seconds:.1f} s")
    d = report.delivery
    if d is not None:
        click.echo(f"sent {d.sent:,}, retrying {d.retried:,}, failed {d.failed:,}, bounced {d.bounced:,}, "
                   f"still queued {d.left_queued:,}" + (f", resumed {d.recovered:,}" if d.recovered else "")
                   + f" in {d.seconds:.1f} s")
        if d.stopped:
            click.echo(f"papertide: {d.stopped}", err=True)
    return report.exit_code


def show_preview(store: Any, settings: Settings, email: str, day: date | None, output: str | None,
                 text: bool) -> None:
    rendered, origin = preview(store, settings, email, day=day)
    body = rendered.text if text else rendered.html
    if output:
        Path(output).write_text(body, encoding="utf-8")
        click.echo(f"{rendered.subject} ({origin}) -> {output}")
    else:
        click.echo(body)


def show_status(store: Any, as_json: bool) -> None:
    data = status(store)
    if as_json:
        click.echo(json.dumps(data))
        return
    click.echo("outbox: " + ", ".join(f"{k} {v:,}" for k, v in data["outbox"].items()))
    click.echo("subscribers: " + (", ".join(f"{k} {v:,}" for k, v in sorted(data["subscribers"].items())) or "none"))
    if data["next_attempt_at"]:
        click.echo(f"next attempt: {data['next_attempt_at']}")
    for p in data["problems"]:
        click.echo(f"  {p['status']}: {p['email']} {p['kind']} {p['period']} after {p['attempts']} tries: {p['error']}")
