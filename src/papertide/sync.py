"""Drive a source into the store, page by page, and report what happened.

Each page is stored with its checkpoint in one transaction: Ctrl-C or a dead
source leaves the store as it was after the last whole page, and the next run
resumes from there.
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

from papertide.errors import PapertideError
from papertide.sources.base import Page, Source, SyncRequest
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
    """Store every page the source yields; return the running totals."""
    report = SyncReport(source=source.name)
    checkpoints = store.checkpoints(source.name + ":")
    with store.bulk_ingest(), rare_cycle_collection():
        try:
            for page in source.pages(request, checkpoints):
                _add_page(report, page, store.ingest(page))
                del page  # its records go while the next page is made, not after
                if on_page:
                    on_page(report)
        except PapertideError:
            # Pages already stored stay stored; keep the search statistics current for them.
            # (After Ctrl-C the user wants out now: a stale index is rebuilt on the next search.)
            _refresh(store, report)
            raise
        _refresh(store, report)
    return report


@contextmanager
def rare_cycle_collection() -> Iterator[None]:
    """Let Python's cycle collector run far less often meanwhile. A page's records hold no
    cycles (reference counting frees them), but each makes a dozen container objects,
    and at the default threshold (700) the collector ran about 1,600 times over an 80k
    import, going through every live object each time: about a tenth of the writer's time."""
    before = gc.get_threshold()
    gc.set_threshold(100_000, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _refresh(store: Store, report: SyncReport) -> None:
    if report.new or report.updated:
        store.refresh_term_stats()


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
