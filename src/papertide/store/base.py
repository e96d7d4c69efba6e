"""The storage interface, implemented for SQLite (store/sqlite.py) and PostgreSQL (store/postgres.py).

Everything outside ``store/`` talks to storage only through these methods.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

from papertide.model import Page, RepoState, Signal, SignalDelta, safe_links  # noqa: F401 (part of the interface)
from papertide.query import ParsedQuery


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
    affiliations: list[str] = field(default_factory=list)  # of the authors, where a source gives them
    sources: dict[str, str] = field(default_factory=dict)  # source -> first seen
    added_at: str = ""
    changed_at: str = ""

    def __post_init__(self) -> None:
        self.links = safe_links(self.links)  # also for papers stored before the policy

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
    sources: list[str] = field(default_factory=list)  # any of: seen from this source (arxiv-oai, medrxiv...)


# Signals papertide's own users produce (source "local"); the web and digest record them.
LOCAL_SIGNAL_KINDS = ("saves", "clicks", "digest_opens")


class Store(Protocol):
    """What papertide needs from storage."""

    def ingest(self, page: Page) -> IngestResult:
        """Merge a page's records and signals and save its checkpoint, atomically; then
        bring the keyword index up to date with them."""

    def checkpoints(self, prefix: str) -> dict[str, dict]:
        """Saved sync checkpoints whose key starts with ``prefix``."""

    def get(self, paper_id: str) -> StoredPaper | None:
        """One paper by canonical id."""

    def get_many(self, ids: Iterable[str]) -> dict[str, StoredPaper]:
        """Papers by id (missing ids are left out)."""

    def count(self) -> int:
        """Number of papers."""

    def bulk_ingest(self) -> AbstractContextManager[None]:
        """Around a run of ``ingest`` calls (a sync); the keyword index is caught up at its end."""

    # -- the change feed and the keyword index (store/keyword.py) ----------------------
    def change_seq(self) -> int:
        """The store's sequence: every write to a paper takes its next value."""

    def catch_up_keyword(self, wait: bool = False) -> bool:
        """Bring the keyword index up to ``change_seq``; False if another process is at it."""

    def rekey_papers(self) -> int:
        """Give every paper the keys that link a preprint to its journal version; keys added."""

    def reindex_keyword(self) -> int:
        """Rebuild the keyword index from the papers; how many it holds."""

    def keyword_search(self, query: ParsedQuery, filters: Filters, limit: int,
                       window: tuple[int, int] | None = None, newest: bool = False) -> list[tuple[str, float]]:
        """(id, score) best first; higher is better. ``window``: only papers whose position
        (``paper_watermark``) is in (lo, hi]. A query without text lists by date."""

    def keyword_count(self, query: ParsedQuery, filters: Filters) -> int:
        """How many papers match a query (what ``keyword_search`` ranks, all of them)."""

    def facet_counts(self, ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """Of these papers: how many have each category, year, source, and code
        (``{"category": {...}, "year": {...}, "source": {...}, "code": {"yes": n}}``)."""

    def with_code(self, ids: Iterable[str]) -> set[str]:
        """Which of these papers link to code."""

    def doc_freqs(self, words: list[str]) -> dict[str, int]:
        """How many papers hold each word, as the keyword index analyses it."""

    def categories(self) -> dict[str, int]:
        """Every category of the stored papers, with how many papers have it."""

    def recent(self, filters: Filters, limit: int,
               window: tuple[int, int] | None = None) -> list[tuple[str, float]]:
        """Newest papers matching the filters (and in the window, see ``keyword_search``), (id, 0.0)."""

    def stats(self) -> dict[str, Any]:
        """Counts for ``papertide stats``."""

    def close(self) -> None:
        """Release the connection."""

    # -- signals and trending (store/sql_signals.py) -----------------------------
    def signal_deltas(self, start: str, end: str, categories: list[str] | None = None,
                      ids: Iterable[str] | None = None) -> list[SignalDelta]:
        """Every (paper, kind, source) observed in ``[start, end)``: its value before and at the end.

        Only papers in any of ``categories`` and, if given, among ``ids``."""

    def latest_signal_at(self, before: str, categories: list[str] | None = None) -> str | None:
        """When the newest signal observed before ``before`` (ISO text) was; None if none."""

    def published_dates(self, ids: Iterable[str]) -> dict[str, str]:
        """Published day of each paper (missing ids left out)."""

    def add_paper_signals(self, observations: list[tuple[str, Signal]]) -> int:
        """Store observations by paper id (unknown ids skipped); returns rows added."""

    def record_local_signal(self, paper_id: str, kind: str, *, at: str | None = None, count: int = 1) -> None:
        """Count a save, click or digest open of a paper (kinds in LOCAL_SIGNAL_KINDS)."""

    def papers_with_code(self, limit: int, host: str = "github.com") -> list[tuple[str, list[str]]]:
        """(id, code URLs on that host) of the newest papers linking there, newest first."""

    def github_repos(self, repos: Iterable[str]) -> dict[str, RepoState]:
        """Saved GitHub state of these repositories, by the name asked for."""

    def save_github_repo(self, state: RepoState) -> None:
        """Remember what GitHub last answered about a repository."""

    # -- vectors (store/sqlite_vectors.py; files beside the store) ------------------------
    def embedder_keys(self) -> dict[str, int]:
        """Embedder keys with vectors in this store, and how many papers each covers."""

    def has_vectors(self, key: str) -> bool:
        """Whether papers have vectors of this embedder key."""

    def nearest(self, key: str, query: Any, limit: int, *, filters: Filters | None = None,
                authors: list[list[str]] | None = None, ef: int = 128) -> list[tuple[str, float]]:
        """(id, cosine) nearest a unit query vector, best first, among papers passing the filters."""

    def paper_vectors(self, key: str, ids: Iterable[str]) -> dict[str, Any]:
        """The vector of each paper that has one."""

    def cosines(self, key: str, query: Any, ids: Iterable[str]) -> dict[str, float]:
        """Cosine between a query vector and each paper that has a vector."""

    # -- the web site (store/sql_web.py) ------------------------------------------
    def signal_history(self, ids: Iterable[str],
                       kinds: Iterable[str]) -> dict[str, dict[str, list[tuple[str, float]]]]:
        """Each paper's observations of these kinds over time, oldest first."""


# -- digest (issue 6): subscribers and the outbox; implemented in store/sql_digest.py --------
@dataclass
class Subscriber:
    """An email address and what it follows. ``pending`` holds a change awaiting confirmation."""

    id: int
    email: str
    status: str = "requested"  # requested | confirmed | unsubscribed | bounced
    follows: dict[str, Any] = field(default_factory=dict)
    frequency: str = "daily"
    hour: int = 7
    tz: str = "UTC"
    max_papers: int = 20
    pending: dict[str, Any] | None = None
    nonce: str = ""
    created_at: str = ""
    requested_at: str = ""
    confirmed_at: str | None = None
    unsubscribed_at: str | None = None
    last_period: str | None = None
    last_watermark: int | None = None
    last_queued_at: str | None = None
    last_sent_at: str | None = None
    last_error: str | None = None


# -- people (issue 15): implemented in store/sql_people.py ------------------------------
@dataclass
class Person:
    """Someone who signs in: known by address, like a digest subscriber (the same person)."""

    id: int
    email: str
    created_at: str = ""
    feed_token: str = ""  # the secret of their feed's URL
    signin_nonce: str = ""
    signin_sent_at: str | None = None
    recs_stale: bool = True  # library or feedback changed since the recommendations were scored
    recs_seq: int = 0  # papers up to this pk are scored
    recs_at: str | None = None


@dataclass
class LibraryEntry:
    """A paper a person keeps: a stored one (``paper_id``), or an imported entry not in the store."""

    title: str
    paper_id: str | None = None
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    year: str = ""
    doi: str = ""
    arxiv_id: str = ""
    tags: list[str] = field(default_factory=list)
    note: str = ""
    added_at: str = ""


@dataclass
class PaperText:
    """What the recommender reads of a paper."""

    pk: int
    id: str
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    published: str = ""


@dataclass
class OutboxRow:
    """One message to send: a digest (one per subscriber and period) or a confirmation request."""

    idempotency_key: str
    kind: str  # digest | confirm
    subscriber_id: int
    email: str
    message_id: str
    status: str = "queued"  # queued | sending | sent | failed | bounced | skipped | cancelled
    period: str = ""
    attempts: int = 0
    next_attempt_at: str = ""
    last_error: str | None = None
    papers: list[str] = field(default_factory=list)
    watermark_lo: int | None = None
    watermark_hi: int | None = None
    mime: bytes | None = None  # the exact bytes sent (and resent)
    created_at: str = ""
    claimed_at: str | None = None
    sent_at: str | None = None
    id: int = 0


class DigestStore(Protocol):
    """What the digest needs from storage, on top of ``Store``."""

    def subscriber(self, *, email: str | None = None, id: int | None = None) -> Subscriber | None:
        """One subscriber by address or id."""

    def subscribers(self, statuses: Iterable[str] = ()) -> list[Subscriber]:
        """Subscribers, all or in the given statuses, by id."""

    def save_request(self, email: str, pending: dict[str, Any], nonce: str, now: str) -> Subscriber:
        """Record a subscription request (new address, or a change awaiting confirmation)."""

    def confirm_subscriber(self, id: int, nonce: str, now: str) -> Subscriber | None:
        """Apply the pending request whose nonce matches; None when there is none."""

    def update_subscriber(self, id: int, changes: dict[str, Any]) -> Subscriber | None:
        """Change follows, frequency, hour, tz or max_papers of a subscriber."""

    def set_subscriber_status(self, id: int, status: str, now: str, error: str | None = None) -> bool:
        """Unsubscribe or bounce a subscriber; their queued digests are cancelled."""

    def purge_requests(self, before: str) -> int:
        """Forget requests (and pending changes) made before ``before`` and never confirmed."""

    def paper_watermark(self, before: str | None = None) -> int:
        """The newest paper's position, or that of the newest added before an ISO time."""

    def queue_messages(self, rows: list[OutboxRow], now: str) -> set[str]:
        """Insert the rows whose key is new (their keys are returned); a digest row also moves
        its subscriber's window on. One transaction."""

    def outbox_row(self, key: str) -> OutboxRow | None:
        """The outbox row with this idempotency key."""

    def sent_papers(self, subscriber_ids: Iterable[int], since: str) -> dict[int, set[str]]:
        """Paper ids each subscriber was sent (or has queued) in digests created since ``since``."""

    def recover_outbox(self) -> int:
        """Put rows left 'sending' by a dead process back in the queue."""

    def next_due(self, now: str, keys: Iterable[str] = ()) -> OutboxRow | None:
        """The oldest queued row due at ``now`` (only among ``keys`` if given)."""

    def next_wakeup(self, keys: Iterable[str] = ()) -> str | None:
        """When the earliest queued row (among ``keys`` if given) becomes due."""

    def claim(self, id: int, now: str) -> bool:
        """Mark a queued row 'sending' (one more attempt); False if someone else has it."""

    def finish(self, id: int, status: str, now: str, *, error: str | None = None,
               next_attempt_at: str | None = None) -> None:
        """Record the outcome of an attempt: sent, queued again, failed or bounced."""

    def outbox_counts(self) -> dict[str, int]:
        """Outbox rows by status."""

    def outbox_problems(self, limit: int) -> list[OutboxRow]:
        """The latest failed or bounced rows (without their messages)."""

    def prune_outbox(self, before: str) -> int:
        """Drop the stored messages of rows sent before ``before`` (the rows stay)."""

    def digest_lock(self, blocking: bool = True) -> Any:
        """A context manager held while composing and queueing digests (one run at a time, on
        every host); raises DigestBusy when not blocking and held."""

    def job_lock(self, name: str, blocking: bool = False) -> Any:
        """A context manager held by a scheduled job (``sync:<source>``, ``index``) so it never
        runs twice at once (a file lock for SQLite, an advisory lock for PostgreSQL); raises
        JobBusy when not blocking and held."""

    def delivery_lock(self, blocking: bool = True) -> Any:
        """A context manager held while sending the outbox: the digest lock for SQLite, nothing
        for PostgreSQL (rows are claimed with ``FOR UPDATE SKIP LOCKED``)."""

    def signing_secret(self) -> str:
        """The random key that signs links and forms when no ``secret_key`` is set; kept in a
        file of its own (0600), never in the database."""
