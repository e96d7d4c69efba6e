"""The storage interface. SQLite implements it today; PostgreSQL implements it next.

Everything outside ``store/`` talks to storage only through these methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

from papertide.sources.base import Page


@dataclass
class StoredPaper:
    """A paper as the store holds it after merging every source."""

    id: str
    title: str
    version: int | None = None
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    primary_category: str = ""
    published: str = ""
    updated: str = ""
    doi: str = ""
    journal_ref: str = ""
    comment: str = ""
    links: dict[str, Any] = field(default_factory=dict)
    keywords: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # source -> first seen
    added_at: str = ""
    changed_at: str = ""

    @property
    def url(self) -> str:
        return self.links.get("abs") or (f"https://arxiv.org/abs/{self.id}" if ":" not in self.id else "")


@dataclass
class IngestResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    signals: int = 0


@dataclass
class Filters:
    """Filters every search mode honours."""

    categories: list[str] = field(default_factory=list)  # any of; 'q-bio' matches 'q-bio.*'
    since: str | None = None  # published on or after, YYYY-MM-DD
    until: str | None = None  # published on or before


@dataclass
class TermStat:
    token: str   # as typed (lower-cased)
    term: str    # as indexed (stemmed)
    docs: int    # papers containing it


class Store(Protocol):
    """What papertide needs from storage."""

    def ingest(self, page: Page) -> IngestResult:
        """Merge a page's records and signals and save its checkpoint, atomically."""

    def checkpoints(self, prefix: str) -> dict[str, dict]:
        """Saved sync checkpoints whose key starts with ``prefix``."""

    def get(self, paper_id: str) -> StoredPaper | None:
        """One paper by canonical id."""

    def get_many(self, ids: Iterable[str]) -> dict[str, StoredPaper]:
        """Papers by id (missing ids are left out)."""

    def count(self) -> int:
        """Number of papers."""

    def term_stats(self, tokens: list[str]) -> list[TermStat]:
        """How the keyword index sees each token: its indexed term and document frequency."""

    def refresh_term_stats(self) -> None:
        """Bring the term statistics behind ``term_stats`` up to date after writes."""

    def keyword_search(self, match: str, filters: Filters, limit: int,
                       weights: tuple[float, float, float]) -> list[tuple[str, float]]:
        """(id, score) best first for an FTS expression; higher score is better."""

    def recent(self, filters: Filters, limit: int) -> list[tuple[str, float]]:
        """Newest papers matching the filters, (id, 0.0)."""

    def stats(self) -> dict[str, Any]:
        """Counts for ``papertide stats``."""

    def close(self) -> None:
        """Release the connection."""
