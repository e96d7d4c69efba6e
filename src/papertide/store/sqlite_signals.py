"""SQLite: signals over time for trending, local user signals, GitHub repository state."""

from __future__ import annotations

import json
from typing import Iterable

from papertide.errors import BadInput, PaperNotFound
from papertide.model import Signal, utc_now
from papertide.store.base import LOCAL_SIGNAL_KINDS, RepoState, SignalDelta
from papertide.store.sqlite_util import _chunks

LOCAL_SOURCE = "local"

# One row per (paper, kind, source) observed in the window: the latest value in it
# (SQLite returns the bare column `value` from the row holding max(observed_at)) and
# the latest value before it, found with one primary-key seek. Over all papers the
# window is read from the covering index signals_window; for a few papers (a topic)
# from the primary key, paper by paper. Without ANALYZE statistics SQLite would read
# each paper's id from its wide row; papers_trending (migration 0005) holds just that.
_DELTAS_SQL = """
WITH w AS (
    SELECT pk, kind, source, max(observed_at) AS last_at, value
    FROM signals WHERE {papers} observed_at >= :start AND observed_at < :end
    GROUP BY pk, kind, source)
SELECT p.id, p.published, w.kind, w.source,
       (SELECT s.value FROM signals s
        WHERE s.pk = w.pk AND s.kind = w.kind AND s.source = w.source AND s.observed_at < :start
        ORDER BY s.observed_at DESC LIMIT 1) AS before,
       w.value
FROM w JOIN papers p {hint} ON p.pk = w.pk
"""


class SignalsMixin:
    """Signals for trending. Mixed into ``SQLiteStore``; ``self.db`` is the connection."""

    def signal_deltas(self, start: str, end: str, categories: list[str] | None = None,
                      ids: Iterable[str] | None = None) -> list[SignalDelta]:
        """Every (paper, kind, source) observed in ``[start, end)`` (ISO strings compared as text).

        ``categories`` keeps papers in any of them; ``ids`` (a topic's papers) keeps only those.
        """
        if ids is None:
            return self._deltas("", {"start": start, "end": end}, categories)
        found: list[SignalDelta] = []
        for chunk in _chunks(list(dict.fromkeys(ids))):
            params: dict[str, str] = {"start": start, "end": end}
            params.update((f"i{n}", pid) for n, pid in enumerate(chunk))
            marks = ",".join(f":i{n}" for n in range(len(chunk)))
            found += self._deltas(f"pk IN (SELECT pk FROM papers WHERE id IN ({marks})) AND", params, categories)
        return found

    def _deltas(self, papers: str, params: dict[str, str], categories: list[str] | None) -> list[SignalDelta]:
        sql = _DELTAS_SQL.format(papers=papers, hint=self._papers_hint())
        if categories:
            ors = []
            for n, cat in enumerate(categories):
                ors.append(f"(c.category = :c{n} OR c.category LIKE :l{n})")
                params[f"c{n}"], params[f"l{n}"] = cat, cat + ".%"
            sql += ("WHERE EXISTS (SELECT 1 FROM paper_categories c WHERE c.pk = p.pk AND ("
                    + " OR ".join(ors) + "))")
        cursor = self.db.cursor()
        cursor.row_factory = None  # plain tuples: a month can be tens of thousands of rows
        return [SignalDelta(*row) for row in cursor.execute(sql, params)]

    def _papers_hint(self) -> str:
        """``INDEXED BY papers_trending`` when the store has it (a store that ran an early
        draft of migration 0005 does not), else nothing: the query works either way."""
        if getattr(self, "_trending_index", None) is None:
            self._trending_index = self.db.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'papers_trending'"
            ).fetchone()[0] > 0
        return "INDEXED BY papers_trending" if self._trending_index else ""

    def published_dates(self, ids: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(
                f"SELECT id, published FROM papers WHERE id IN ({marks})", chunk).fetchall())
        return found

    def add_paper_signals(self, observations: list[tuple[str, Signal]]) -> int:
        """Store observations by paper id; a row only when the value changed (see ``add_signals``)."""
        pks = self._pks(list({pid for pid, _ in observations}))
        known = [(pks[pid], s) for pid, s in observations if pid in pks]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            added = self.add_signals(known, in_transaction=True)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return added

    def record_local_signal(self, paper_id: str, kind: str, *, at: str | None = None, count: int = 1) -> None:
        """Add ``count`` saves/clicks/digest opens at ``at`` (default now) to the paper's running total.

        Stored as a cumulative counter, like every other signal, so trending reads its
        growth over a window the same way. An event back-dated before later ones raises
        those later totals too, so the series stays consistent.
        """
        if kind not in LOCAL_SIGNAL_KINDS:
            raise BadInput(f"unknown local signal {kind!r}; choose from {', '.join(LOCAL_SIGNAL_KINDS)}")
        if count < 1:
            raise BadInput(f"a local signal counts at least one event, got {count}")
        at = at or utc_now()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute("SELECT pk FROM papers WHERE id = ?", (paper_id,)).fetchone()
            if row is None:
                raise PaperNotFound(f"no paper {paper_id!r} in the store")
            self._count_local(row[0], kind, at, count)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _count_local(self, pk: int, kind: str, at: str, count: int) -> None:
        key = (pk, kind, LOCAL_SOURCE)
        last = self.db.execute(
            "SELECT value FROM signals WHERE pk = ? AND kind = ? AND source = ? AND observed_at <= ? "
            "ORDER BY observed_at DESC LIMIT 1", (*key, at)).fetchone()
        self.db.execute("UPDATE signals SET value = value + ? WHERE pk = ? AND kind = ? AND source = ? "
                        "AND observed_at > ?", (count, *key, at))
        # Two events in the same second share a row: the upsert adds to it.
        self.db.execute(
            "INSERT INTO signals (pk, kind, source, observed_at, value) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (pk, kind, source, observed_at) DO UPDATE SET value = value + ?",
            (*key, at, (last[0] if last else 0.0) + count, count))

    def papers_with_code(self, limit: int, host: str = "github.com") -> list[tuple[str, list[str]]]:
        """Newest papers (by published day) with a code link on ``host``, with those links."""
        found: list[tuple[str, list[str]]] = []
        pattern = f"%//{host}/%"
        for pid, links in self.db.execute(
                "SELECT id, links FROM papers WHERE links LIKE ? ORDER BY published DESC, pk DESC",
                (pattern,)):
            code = json.loads(links).get("code") or []
            urls = [u for u in code if isinstance(u, str) and f"//{host}/" in u.lower()]
            if urls:
                found.append((pid, urls))
                if len(found) >= limit:
                    break
        return found

    def github_repos(self, repos: Iterable[str]) -> dict[str, RepoState]:
        wanted = list(dict.fromkeys(repos))
        by_lower = {r.lower(): r for r in wanted}
        states: dict[str, RepoState] = {}
        for chunk in _chunks(wanted):
            marks = ",".join("?" * len(chunk))
            for repo, etag, stars, status, checked in self.db.execute(
                    f"SELECT repo, etag, stars, status, checked_at FROM github_repos WHERE repo IN ({marks})",
                    chunk):
                name = by_lower.get(repo.lower(), repo)
                states[name] = RepoState(name, etag, stars, status, checked)
        return states

    def save_github_repo(self, state: RepoState) -> None:
        self.db.execute(
            "INSERT INTO github_repos (repo, etag, stars, status, checked_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (repo) DO UPDATE SET etag = excluded.etag, stars = excluded.stars, "
            "status = excluded.status, checked_at = excluded.checked_at",
            (state.repo, state.etag, state.stars, state.status, state.checked_at or utc_now()))
