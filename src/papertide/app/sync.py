"""Drive a source into the store, page by page, and report what happened.

Each page is stored with its checkpoint in one transaction: Ctrl-C or a dead
source leaves the store as it was after the last whole page, and the next run
resumes from there.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from papertide.model import Page
from papertide.sources.base import Source, SyncRequest
from papertide.store import IngestResult, Store

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    source: str
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    signals: int = 0
    skipped: Counter = field(default_factory=Counter)     # reason -> count
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first place seen

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def as_dict(self) -> dict:
        return {"source": self.source, "fetched": self.fetched, "new": self.new, "updated": self.updated,
                "unchanged": self.unchanged, "signals": self.signals, "skipped": self.skipped_total,
                "skipped_reasons": dict(self.skipped.most_common())}


def _reason_kind(reason: str) -> str:
    """Group reasons that differ only by a quoted value ("invalid published date '2024-13-40'")."""
    return reason.split(" '", 1)[0].split(" (", 1)[0]


def run_sync(source: Source, request: SyncRequest, store: Store,
             on_page: Callable[[SyncReport], None] | None = None) -> SyncReport:
    """Store every page the source yields; return the running totals. The keyword index
    follows page by page and is caught up when this returns."""
    report = SyncReport(source=source.name)
    checkpoints = store.checkpoints(source.name + ":")
    with store.bulk_ingest():
        for page in source.pages(request, checkpoints):
            _add_page(report, page, store.ingest(page))
            del page  # its records go while the next page is made, not after
            if on_page:
                on_page(report)
    return report


def _add_page(report: SyncReport, page: Page, result: IngestResult) -> None:
    report.fetched += page.fetched
    report.new += result.new
    report.updated += result.updated
    report.unchanged += result.unchanged
    report.signals += result.signals
    for where, reason in page.skipped:
        kind = _reason_kind(reason)
        report.skipped[kind] += 1
        report.examples.setdefault(kind, f"{where}: {reason}")
        log.debug("skipped %s: %s", where, reason)
