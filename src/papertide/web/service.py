"""What the pages, the API and the feeds ask of papertide, in one place.

Handlers parse a request, call one method of ``Site`` and render the answer.
``Site`` keeps one store per worker process, shared by the threads uvicorn runs
sync handlers in (``SerializedStore``), and a short-lived cache of trending
lists, which change only when a sync runs.
"""

from __future__ import annotations

import logging
import os
import re
import functools
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Hashable

from papertide.errors import BadInput, EmbedderError, NoVectors, PapertideError, PaperNotFound, SemanticUnavailable, SettingError
from papertide.query import STOPWORDS, parse_date, parse_query, words_of
from papertide.model import canonical_id
from papertide.settings import Settings
from papertide.store import Filters, Store, StoredPaper, open_store
from papertide.web.errors import ModeUnavailable
from papertide.digest.links import signing_secret
from papertide.web.security import Csrf, RateLimiter

if TYPE_CHECKING:
    from papertide.index.embed import Embedder

log = logging.getLogger("papertide.web")
MODES = ("keyword", "semantic", "hybrid")
SORTS = ("relevance", "newest")
FACET_DEPTH = 500  # the best matches whose categories, years, sources and code links a search page counts
WINDOWS = ("day", "week", "month")
CARD_SIGNALS = ("upvotes", "github_stars", "comments", "saves")
MAX_PAGE = 100
MAX_OFFSET = 1000
_SOURCE = re.compile(r"^[a-z][a-z\-:]{0,30}$")
_CATEGORY = re.compile(r"^[A-Za-z][A-Za-z\-]{0,15}(?:\.[A-Za-z0-9\-]{1,80})?$")


@dataclass
class Card:
    """One paper as a list shows it."""

    paper: StoredPaper
    score: float | None = None
    history: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    snippet: str = ""

    @property
    def signals(self) -> dict[str, float]:
        """Latest value of each signal kind."""
        return {kind: series[-1][1] for kind, series in self.history.items() if series}


@dataclass
class ResultPage:
    """A page of search, trending or similar results."""

    cards: list[Card]
    offset: int
    limit: int
    next_offset: int | None
    query: str = ""
    mode: str = "keyword"
    notice: str = ""
    terms: list[str] = field(default_factory=list)
    took_ms: float = 0.0
    window: str = ""
    at: str = ""
    scored: int | None = None  # trending: the first this many cards gained signals, the rest are the newest
    total: int | None = None   # search: how many papers match (at least this many unless total_exact)
    total_exact: bool = True
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    sort: str = "relevance"


class TTLCache:
    """A small dict whose entries expire; shared by a worker's threads."""

    def __init__(self, seconds: float, size: int = 512) -> None:
        self.seconds, self.size = seconds, size
        self.items: dict[Hashable, tuple[float, Any]] = {}
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        entry = self.items.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: Hashable, value: Any) -> Any:
        if self.seconds > 0:
            with self.lock:
                if len(self.items) >= self.size:
                    self.items.clear()
                self.items[key] = (time.monotonic() + self.seconds, value)
        return value


class SerializedStore:
    """One store shared by a worker's threads, one call at a time.

    The SQLite connection and the keyword index's reader are the store's own; calls are
    short and the GIL serializes most of their work anyway. Every method call holds the
    lock for its whole length, so a method's statements never interleave with another's.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr
        lock = self._lock

        def serialized(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return attr(*args, **kwargs)
        serialized.__name__ = name
        return serialized


def _lowest_priority() -> None:
    """This thread at nice 19 (Linux schedules threads one by one): embedding never slows a search."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not allowed: it runs at normal priority
        pass


def make_filters(categories: list[str] | None = None, since: str | None = None,
                 until: str | None = None, sources: list[str] | None = None) -> Filters:
    """Filters from request parameters; BadInput names the parameter that is wrong."""
    cats = [c.strip() for c in categories or [] if c and c.strip()]
    if len(cats) > 10:
        raise BadInput("at most 10 categories")
    for cat in cats:
        if not _CATEGORY.match(cat):
            raise BadInput(f"category {cat[:40]!r} is not like cs.CV or q-bio")
    days = []
    for name, value, end in (("since", since, False), ("until", until, True)):
        day = parse_date(value, end=end) if value else None
        if value and day is None:
            raise BadInput(f"{name} {value[:20]!r} is not a date like 2025, 2025-03 or 2025-03-18")
        days.append(day)
    names = [s.strip().lower() for s in sources or [] if s and s.strip()]
    if len(names) > 10 or any(not _SOURCE.match(s) for s in names):
        raise BadInput("source must be a source's name, like arxiv-oai or medrxiv")
    return Filters(categories=cats, since=days[0], until=days[1], sources=names)


def check_page(offset: int, limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise BadInput(f"limit must be between 1 and {MAX_PAGE}")
    if not 0 <= offset <= MAX_OFFSET:
        raise BadInput(f"offset must be between 0 and {MAX_OFFSET}")


class Site:
    """The papers behind the site, for one worker process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: SerializedStore | None = None
        self._opening = threading.Lock()
        self.cache = TTLCache(float(settings.web_cache_seconds))
        self.limiter = RateLimiter({"search": int(settings.rate_limit_search),
                                    "subscribe": int(settings.rate_limit_subscribe),
                                    "signin": int(settings.rate_limit_signin),
                                    "signin_address": (int(settings.rate_limit_signin) + 1) // 2})
        self.page_size = max(1, min(MAX_PAGE, int(settings.web_page_size)))
        self._embedder: Embedder | None = None
        self._embedder_failed = False

    @functools.cached_property
    def csrf(self) -> Csrf:
        return Csrf(signing_secret(self.settings, self.store).encode())

    @property
    def store(self) -> Store:
        """The worker's store (opened on first use), safe to call from any thread."""
        if self._store is None:
            with self._opening:
                if self._store is None:
                    self._store = SerializedStore(open_store(self.settings.db, index_dir=self.settings.index_dir))
        return self._store  # type: ignore[return-value]

    def follow_keyword_index(self) -> None:
        """Bring this host's keyword index up to the store (a warning, not a crash, when the
        store cannot answer: requests then say so one by one)."""
        try:
            self.store.catch_up_keyword()
        except PapertideError as exc:
            log.warning("keyword index: %s", exc)

    def start_keyword_follower(self, seconds: float) -> threading.Event:
        """A daemon thread catching the keyword index up every ``seconds`` (none when 0);
        set the returned event to stop it."""
        stop = threading.Event()
        if seconds > 0:
            def follow() -> None:
                while not stop.wait(seconds):
                    self.follow_keyword_index()
            threading.Thread(target=follow, name="papertide-keyword", daemon=True).start()
        return stop

    def start_embedder(self, seconds: float) -> threading.Event:
        """A daemon thread embedding new papers every ``seconds`` at the lowest CPU priority,
        with a store of its own (searches never wait on it), when the semantic extra is installed;
        set the returned event to stop it. One process of a host embeds at a time (job lock)."""
        stop = threading.Event()
        from papertide.index.embed import semantic_available

        if seconds <= 0 or not semantic_available():
            return stop

        def embed() -> None:
            from papertide.app.semantic_index import embed_new_papers

            _lowest_priority()
            while not stop.is_set():
                try:
                    store = open_store(self.settings.db, index_dir=self.settings.index_dir)
                    try:
                        report = embed_new_papers(store, self.settings)
                    finally:
                        store.close()
                    if report is not None and report.embedded:
                        log.info("embedded %d new papers in the background (%.0f s)", report.embedded, report.seconds)
                        self.cache.items.pop("modes", None)  # semantic and hybrid may be ready now
                except (SemanticUnavailable, EmbedderError, SettingError) as exc:
                    log.warning("background embedding is off: %s", exc)  # the model will not load later either
                    return
                except PapertideError as exc:
                    log.warning("background embedding: %s", exc)
                stop.wait(seconds)
        threading.Thread(target=embed, name="papertide-embed", daemon=True).start()
        return stop

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def category_choices(self, selected: list[str] | None = None) -> list[str]:
        """Categories offered in filters: the harvested ones, plus any chosen."""
        choices = str(self.settings.arxiv_categories).split()
        return choices + [c for c in selected or [] if c not in choices]

    # -- search ------------------------------------------------------------------
    def modes(self) -> tuple[str, ...]:
        """Search modes this store can answer now: semantic and hybrid when it has vectors of
        the configured embedder and the semantic extra is installed. Asking does not load the
        model (every page shows the modes); the first semantic or hybrid search does."""
        cached = self.cache.get("modes")
        if cached is not None:
            return cached
        from papertide.index.embed import semantic_available

        ready = not self._embedder_failed and semantic_available() and self._has_vectors()
        return self.cache.put("modes", MODES if ready else ("keyword",))

    def _has_vectors(self) -> bool:
        """Whether the store holds vectors of the configured embedder (without loading it)."""
        from papertide.app.hybrid import default_mode
        from papertide.app.semantic import embedder_spec

        return default_mode(self.store, embedder_spec(self.settings)) == "hybrid"

    def embedder(self) -> Embedder | None:
        """The configured embedder for queries, loaded once per worker (the ONNX export of the
        query model when ``index`` made one: no torch in the worker), or None when the store has
        no vectors for it or it cannot be loaded (then only keyword search is offered)."""
        if self._embedder is not None or self._embedder_failed:
            return self._embedder
        if not self._has_vectors():
            return None  # asked again later: an `index` run may add vectors
        with self._opening:
            if self._embedder is None and not self._embedder_failed:
                from papertide.app.semantic import open_embedder

                try:
                    self._embedder = open_embedder(self.settings, queries_only=True)
                except (SemanticUnavailable, EmbedderError, SettingError) as exc:
                    log.warning("semantic search is off: %s", exc)
                    self._embedder_failed = True
        return self._embedder

    def default_mode(self) -> str:
        """Hybrid where this store has vectors of a real embedding model (measured at or above
        keyword search on both dev sets: docs/benchmarks.md), else keyword. Not with the distilled
        'static' embedder: its hybrid measured below keyword alone on known-item (0.942 vs 0.945)."""
        weak = str(self.settings.embedder) == "static"
        return "hybrid" if "hybrid" in self.modes() and not weak else "keyword"

    def search(self, query: str, *, mode: str = "keyword", filters: Filters | None = None, offset: int = 0,
               limit: int | None = None, strict: bool = True, sort: str = "relevance", code: bool = False,
               facets: bool = False) -> ResultPage:
        """One page of results. An unavailable mode raises ModeUnavailable when ``strict``,
        else falls back to keyword search with a notice. ``sort`` 'newest' lists the matches
        newest first; ``code`` keeps papers with code; ``facets`` counts the categories, years,
        sources and code links of the best FACET_DEPTH matches."""
        from papertide.app.hybrid import HybridParams, search_modes
        from papertide.app.search import count, search

        limit = limit or self.page_size
        if sort not in SORTS:
            raise BadInput(f"sort must be one of {', '.join(SORTS)}")
        check_page(offset, limit)
        if mode not in MODES:
            raise BadInput(f"mode must be one of {', '.join(MODES)}")
        self.check_categories([*(filters.categories if filters else []), *parse_query(query).categories])
        notice = ""
        # Keyword search never waits for the model; the others load it on first use.
        if mode != "keyword" and (mode not in self.modes() or self.embedder() is None):
            if self._embedder_failed:  # pages stop offering what cannot load
                self.cache.put("modes", ("keyword",))
            message = f"{mode} search is not available on this site yet; showing keyword results"
            if strict:
                raise ModeUnavailable(f"{mode} search is not available on this site yet; use mode=keyword")
            mode, notice = "keyword", message
        params = HybridParams.from_settings(self.settings)
        depth = max(offset + limit + 1, FACET_DEPTH if (facets or code) else 0)
        newest = sort == "newest"
        if mode == "keyword":
            result = search(self.store, query, filters=filters, limit=depth, newest=newest)
        else:
            result = search_modes(self.store, query, filters=filters, limit=depth, mode=mode,
                                  embedder=self.embedder(), params=params)
            if newest:  # the matches by meaning, newest first
                published = self.store.published_dates([pid for pid, _ in result.hits])
                result.hits.sort(key=lambda hit: published.get(hit[0], ""), reverse=True)
        found = result.hits
        if code:
            with_code = self.store.with_code([pid for pid, _ in found])
            found = [hit for hit in found if hit[0] in with_code]
        cut = len(result.hits) >= depth  # else the list holds every match: no second search to count them
        if cut and mode == "keyword" and not code:
            total, exact = count(self.store, query, filters), True
        else:
            total, exact = len(found), not cut
        counts = self.store.facet_counts([pid for pid, _ in found[:FACET_DEPTH]]) if facets else {}
        hits = found[offset:offset + limit]
        more = len(found) > offset + limit
        cards = self.cards(hits, with_snippets=result.terms)
        return ResultPage(cards, offset, limit, offset + limit if more else None, query=query, mode=result.mode,
                          notice=notice, terms=result.terms, took_ms=result.took_ms, total=total,
                          total_exact=exact, facets=counts, sort=sort)

    def cards(self, hits: list[tuple[str, float]], *, with_snippets: list[str] | None = None) -> list[Card]:
        """Cards for (id, score) hits, in order, with signal history (one query for all)."""
        from papertide.web.text import snippet

        ids = [pid for pid, _ in hits]
        papers = self.store.get_many(ids)
        history = self.store.signal_history(ids, CARD_SIGNALS) if ids else {}
        cards = []
        for pid, score in hits:
            if pid in papers:
                card = Card(papers[pid], score, history.get(pid, {}))
                if with_snippets is not None:
                    card.snippet = snippet(card.paper.abstract, with_snippets)
                cards.append(card)
        return cards

    def check_categories(self, categories: list[str]) -> None:
        """UnknownCategory for a category no stored paper has (the known ones cached a while)."""
        if categories:
            from papertide.app.search import check_categories

            known = self.cache.get(("categories",))
            if known is None:
                known = self.cache.put(("categories",), self.store.categories())
            check_categories(categories, known)

    # -- trending ------------------------------------------------------------------
    def trending(self, window: str = "day", categories: list[str] | None = None, offset: int = 0,
                 limit: int | None = None, topic: str = "") -> ResultPage:
        """A page of the trending list (rank/trending.py), cached for ``web_cache_seconds``."""
        limit = limit or self.page_size
        check_page(offset, limit)
        if window not in WINDOWS:
            raise BadInput(f"window must be one of {', '.join(WINDOWS)}")
        filters = make_filters(categories)
        self.check_categories(filters.categories)
        depth = ((offset + limit) // 100 + 1) * 100  # cache whole hundreds; pages slice them
        topic = topic.strip()[:200]
        key = ("trending", window, tuple(filters.categories), depth, topic)
        ranked = self.cache.get(key)
        if ranked is None:
            ranked = self.cache.put(key, self._trending(window, filters.categories, depth, topic or None))
        hits, at, notice, scored = ranked
        page = hits[offset:offset + limit]
        more = len(hits) > offset + limit
        return ResultPage(self.cards(page), offset, limit, offset + limit if more else None, window=window, at=at,
                          notice=notice, scored=max(0, scored - offset))

    def _trending(self, window: str, categories: list[str], limit: int, topic: str | None = None
                  ) -> tuple[list[tuple[str, float]], str, str, int]:
        """The trending ranking: (id, score) best first, the moment it is for, a notice when that
        is not now, and how many papers have signals (the rest are the newest papers)."""
        from papertide.app.trending import trending

        result = trending(self.store, self.settings, window=window, categories=categories, limit=limit, topic=topic)
        at = result.at.isoformat() if isinstance(result.at, datetime) else str(result.at)
        return list(zip(result.ranking.ids, result.ranking.scores)), at, result.notice, result.scored

    # -- one paper -----------------------------------------------------------------
    def paper(self, paper_id: str) -> StoredPaper:
        """A paper by id (with or without version); PaperNotFound if absent."""
        pid = canonical_id(paper_id)
        paper = self.store.get(pid) if pid and len(pid) < 200 else None
        if paper is None:
            raise PaperNotFound(f"no paper {paper_id[:60]!r} in this store")
        return paper

    def history(self, paper_id: str) -> dict[str, list[tuple[str, float]]]:
        """Every signal of one paper over time."""
        kinds = ("upvotes", "github_stars", "comments", "saves", "clicks")
        return self.store.signal_history([paper_id], kinds).get(paper_id, {})

    def similar(self, paper: StoredPaper, limit: int = 8) -> list[Card]:
        """Papers like this one (see ``similar_with_method``)."""
        return self.similar_with_method(paper, limit)[1]

    def similar_with_method(self, paper: StoredPaper, limit: int = 8) -> tuple[str, list[Card]]:
        """("semantic", cards) from the paper's vector when the store has one; otherwise
        ("keyword", cards): the title and most distinctive abstract words as a query.
        The paper itself is left out either way."""
        from papertide.app.search import search

        key = ("similar", paper.id, limit)
        cached = self.cache.get(key)
        if cached is None:
            method, hits = "keyword", None
            embedder = self.embedder()
            if embedder is not None:
                from papertide.app.semantic import similar_papers

                try:
                    hits, method = similar_papers(self.store, embedder, paper.id, limit), "semantic"
                except NoVectors:
                    hits = None  # not indexed yet: keyword fallback
            if hits is None:
                result = search(self.store, similar_query(self.store, paper), limit=limit + 1)
                hits = [(pid, s) for pid, s in result.hits if pid != paper.id][:limit]
            cached = self.cache.put(key, (method, hits))
        method, hits = cached
        return method, self.cards(hits)


def similar_query(store: Store, paper: StoredPaper, abstract_terms: int = 4) -> str:
    """Title words plus the abstract's rarest words that still occur in a few papers."""
    title = [w for w in words_of(paper.title) if w not in STOPWORDS and len(w) > 2]
    candidates = [w for w in dict.fromkeys(words_of(paper.abstract)) if w not in STOPWORDS
                  and len(w) > 3 and not w.isdigit() and w not in title][:200]
    docs = {w: n for w, n in store.doc_freqs(candidates).items() if n >= 3}
    rare = sorted(docs, key=docs.get)[:abstract_terms]
    return " ".join((title + rare)[:14])
