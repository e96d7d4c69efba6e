"""The bodies of ``papertide trending`` and ``papertide stars`` (cli.py declares their options)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from papertide.app.trending import TopicSearch, TrendingResult, trending
from papertide.rank.trending import Explanation, parse_at, window_days
from papertide.settings import Settings
from papertide.store import Filters, Store, StoredPaper


def show_trending(store: Store, settings: Settings, *, window: str, at: str | None, topic: str | None,
                  categories: list[str], limit: int, explain: bool, as_json: bool, mode: str | None = None) -> None:
    """Compute the trending list and print it as text or JSON."""
    result = trending(store, settings, window=window, at=parse_at(at), topic=topic, categories=categories,
                      limit=limit, topic_search=_topic_search(store, settings, mode))
    papers = store.get_many(result.ranking.ids)
    if as_json:
        click.echo(json.dumps(trending_json(result, papers, topic), ensure_ascii=False))
        return
    days = window_days(window, settings)
    about = f" about {topic!r}" if topic else ""
    click.echo(f"Trending{about}: the last {days} day(s) up to {result.at.isoformat()}"
               + (f"; {result.filled} without signals listed by recency" if result.filled else ""))
    if result.notice:
        click.echo(result.notice)
    if not result.ranking.ids:
        click.echo("No papers published by then. Import or sync some first (`papertide sync`).")
    rank = 0
    for pid, score, why in zip(result.ranking.ids, result.ranking.scores, result.ranking.explanations):
        paper = papers.get(pid)
        if paper is None:
            continue
        if rank == result.scored and result.filled:
            click.echo("Newest papers, without new signals:")
        rank += 1
        click.echo(f"{rank:>3}. {click.style(paper.title, bold=True)}")
        shown = f"score {score:.3f}" if why.contributions else "no signals yet (by recency)"
        click.echo(f"     {paper.id}  {paper.published}  {' '.join(paper.categories[:3])}  {shown}")
        if explain:
            for line in explain_lines(why):
                click.echo("       " + line)


def _topic_search(store: Store, settings: Settings, mode: str | None) -> TopicSearch:
    """--topic searches like ``papertide search`` does: in ``mode``, or its default mode."""
    def run(query: str, filters: Filters, limit: int) -> list[str]:
        from papertide.app.semantic import run_semantic_search
        from papertide.cli.semantic import warn_keyword_only

        result = run_semantic_search(store, settings, query, filters=filters, limit=limit, mode=mode,
                                     note=warn_keyword_only)
        return [pid for pid, _ in result.hits]
    return run


def explain_lines(why: Explanation) -> list[str]:
    """Each contribution as a line of arithmetic, then the sum."""
    if not why.contributions:
        return ["no signal grew in this window: listed by recency"]
    lines = []
    for c in why.contributions:
        lines.append(f"{c.kind:<13} {c.source:<9} {c.before:g} -> {c.after:g} ({c.gain:+g}): "
                     f"{c.weight:g} x ln(1 + {max(0.0, c.gain):g}) / {why.decay:.3f} = {c.value:.4f}")
    lines.append(f"{'':<13} age {why.age_days} day(s), decay (1 + age/scale)^gravity = {why.decay:.3f}; "
                 f"sum = {why.score:.4f}")
    return lines


def trending_json(result: TrendingResult, papers: dict[str, StoredPaper], topic: str | None) -> dict[str, Any]:
    """``{"window", "at", "topic", "results": [{"id", "title", "score", "signals": {...}}, ...]}``."""
    results = []
    for pid, score, why in zip(result.ranking.ids, result.ranking.scores, result.ranking.explanations):
        paper = papers.get(pid)
        if paper is None:
            continue
        results.append({
            "id": pid, "title": paper.title, "published": paper.published, "url": paper.url,
            "score": score, "age_days": why.age_days, "decay": why.decay,
            "signals": {c.kind: {"source": c.source, "before": c.before, "after": c.after, "gain": c.gain,
                                 "weight": c.weight, "contribution": c.value} for c in why.contributions},
        })
    return {"window": result.window, "at": result.at.isoformat(), "topic": topic,
            "asked_at": result.asked_at.isoformat() if result.asked_at else None, "notice": result.notice,
            "results": results}


def run_stars(store: Store, settings: Settings, *, limit: int, as_json: bool) -> None:
    """Refresh GitHub stars and print what happened; exit 1 (after reporting) if stopped early."""
    from papertide.app.stars import refresh_stars
    from papertide.sources.github import GitHubRateLimited

    tty = sys.stderr.isatty()

    def progress(report: Any) -> None:
        if tty:
            click.echo(f"\r\033[Kstars: {report.papers:,} papers, {report.repos:,} repositories", err=True, nl=False)

    report = refresh_stars(store, settings, limit=limit, on_paper=progress)
    if tty:
        click.echo("", err=True)
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        click.echo(f"stars: {report.papers:,} papers, {report.repos:,} repositories ({report.changed:,} changed "
                   f"answers, {report.not_modified:,} not modified, {report.missing:,} gone, "
                   f"{report.blocked:,} blocked), {report.signals:,} new observations, "
                   f"{report.requests:,} requests")
    if report.stopped:
        raise GitHubRateLimited(report.stopped + " (everything fetched before is stored)")
