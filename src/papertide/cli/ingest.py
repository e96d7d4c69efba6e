"""Bodies of the ingest commands (``import``, ``sync``); cli/__init__.py parses.

Each function takes the store and settings, does one thing, prints, and lets papertide's
named errors travel up to the CLI's one-line error handler.
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from typing import Callable

import click

from papertide import progress
from papertide.app.sync import SyncReport, run_sync
from papertide.errors import PapertideError
from papertide.settings import Settings
from papertide.sources import SyncRequest, get_source
from papertide.store import Store


def _progress(label: str) -> Callable[[SyncReport], None]:
    """A one-line live counter on a terminal; a log line per page elsewhere."""
    def show(report: SyncReport) -> None:
        progress.show(f"{label}: {report.fetched:,} fetched, {report.new:,} new, "
                      f"{report.updated:,} updated, {report.skipped_total:,} skipped")
    return show


def _report(report: SyncReport, as_json: bool) -> None:
    progress.finish()
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    click.echo(f"{report.source}: fetched {report.fetched:,}, new {report.new:,}, updated {report.updated:,}, "
               f"unchanged {report.unchanged:,}, signals {report.signals:,}, skipped {report.skipped_total:,}")
    for reason, count in report.skipped.most_common():
        click.echo(f"  skipped {count:,}: {reason} (e.g. {report.examples[reason]})")


def sync_source(store: Store, settings: Settings, source_name: str, request: SyncRequest,
                as_json: bool) -> SyncReport:
    """One source into the store, with a live counter, then its report."""
    source = get_source(source_name, settings)
    # One sync of a source at a time, also across hosts sharing a PostgreSQL store.
    lock = store.job_lock(f"sync:{source_name}") if source_name != "files" else nullcontext()
    with lock:
        report = run_sync(source, request, store, on_page=_progress(source_name))
    _report(report, as_json)
    return report


def embed_new(store: Store, settings: Settings, as_json: bool) -> None:
    """After a sync, embed its new papers at the lowest CPU priority when the store already has
    vectors of the configured embedder (a store without any gets them from `index`, or from
    `serve` in the background), so semantic search keeps up with the scheduled sync."""
    from papertide.app.hybrid import default_mode
    from papertide.app.semantic import embedder_spec
    from papertide.index.embed import semantic_available

    if not semantic_available() or default_mode(store, embedder_spec(settings)) != "hybrid":
        return
    from papertide.app.semantic_index import embed_new_papers

    if hasattr(os, "nice"):
        os.nice(19 - os.nice(0))  # this process, from here on: a sync is a background job
    try:
        report = embed_new_papers(store, settings)
    except PapertideError as exc:
        click.echo(f"papertide: note: new papers not embedded ({exc}); run `papertide index`", err=True)
        return
    if report is not None and not as_json:
        click.echo(f"index: {report.embedded:,} new papers embedded in {report.seconds:.1f} s")


def recommend_new(store: Store, settings: Settings, as_json: bool) -> None:
    """After a sync, score its new papers for every person here (one batch for all)."""
    from papertide.app.recommend import update

    people = store.people()
    if not people:
        return
    bar = progress.Bar("recommend", len(people), "people")
    try:
        counts = update(store, days=int(settings.recommend_days), progress=bar.update_to)
    finally:
        bar.close()
    if not as_json:
        click.echo(f"recommend: {counts['updated']:,} people given the new papers, {counts['rescored']:,} rescored")
