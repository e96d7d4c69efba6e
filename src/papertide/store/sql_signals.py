"""Signals over time for trending, local user signals, GitHub repository state."""

from __future__ import annotations

import json
from typing import Iterable

from papertide.errors import BadInput, PaperNotFound
from papertide.model import Signal, utc_now
from papertide.store.base import LOCAL_SIGNAL_KINDS, RepoState, SignalDelta
from papertide.store.sql_util import _chunks, category_match

LOCAL_SOURCE = "local"

# One row per (paper, kind, source) observed in the window: the latest value in it and the
# latest value before it, found with one primary-key seek. Each backend says how it picks the
# latest row of each series in the window (``_LATEST_IN_WINDOW``: pk, kind, source, value); the
# parameters are the papers' ids, then start, end, start, then the categories.
_DELTAS_SQL = """
WITH w AS ({latest})
SELECT p.id, p.published, w.kind, w.source,
       (SELECT s.value FROM signals s
        WHERE s.pk = w.pk AND s.kind = w.kind AND s.source = w.source AND s.observed_at < ?
        ORDER BY s.observed_at DESC LIMIT 1) AS before,
       w.value
FROM w JOIN papers p {hint} ON p.pk = w.pk
"""


class SignalsMixin:
    """Signals for trending. Mixed into a store class (see ``PapersMixin``) with ``_LATEST_IN_WINDOW``."""

    _LATEST_IN_WINDOW: str  # SQL with {papers}: the latest row of each series in [?, ?)

    def signal_deltas(self, start: str, end: str, categories: list[str] | None = None,
                      ids: Iterable[str] | None = None) -> list[SignalDelta]:
        """Every (paper, kind, source) observed in ``[start, end)`` (ISO strings compared as text).

        ``categories`` keeps papers in any of them; ``ids`` (a topic's papers) keeps only those.
        """
        if ids is None:
            return self._deltas("", [], start, end, categories)
        found: list[SignalDelta] = []
        for chunk in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            found += self._deltas(f"pk IN (SELECT pk FROM papers WHERE id IN ({marks})) AND", chunk,
                                  start, end, categories)
        return found

    def _deltas(self, papers: str, ids: list[str], start: str, end: str,
                categories: list[str] | None) -> list[SignalDelta]:
        sql = _DELTAS_SQL.format(latest=self._LATEST_IN_WINDOW.format(papers=papers), hint=self._papers_hint())
        params: list[str] = [*ids, start, end, start]
        if categories:
            match, more = category_match("c.category", categories)
            sql += f"WHERE EXISTS (SELECT 1 FROM paper_categories c WHERE c.pk = p.pk AND {match})"
            params += more
        # plain tuples: a month can be tens of thousands of rows
        return [SignalDelta(*row) for row in self._tuples(sql, params)]

    def latest_signal_at(self, before: str, categories: list[str] | None = None) -> str | None:
        """When the newest signal observed before ``before`` was, of a paper in any of
        ``categories``; None when there is none."""
        sql, params = "SELECT max(s.observed_at) FROM signals s", [before]
        if categories:
            match, more = category_match("c.category", categories)
            sql += f" JOIN paper_categories c ON c.pk = s.pk AND {match}"
            params = [*more, before]
        return self.db.execute(sql + " WHERE s.observed_at < ?", params).fetchone()[0]

    def _papers_hint(self) -> str:
        return ""

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
        with self._write_txn():
            return self.add_signals(known, in_transaction=True)

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
        with self._write_txn():
            row = self.db.execute("SELECT pk FROM papers WHERE id = ?", (paper_id,)).fetchone()
            if row is None:
                raise PaperNotFound(f"no paper {paper_id!r} in the store")
            self._count_local(row[0], kind, at, count)

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
            "ON CONFLICT (pk, kind, source, observed_at) DO UPDATE SET value = signals.value + ?",
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
        for chunk in _chunks(list(by_lower)):  # names are kept lower-cased: GitHub ignores case
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
            (state.repo.lower(), state.etag, state.stars, state.status, state.checked_at or utc_now()))
