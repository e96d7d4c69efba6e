"""What the web site reads and writes beyond papers and search.

Signal history for sparklines. (Subscriptions are the digest's: store/sql_digest.py.)
"""

from __future__ import annotations

from typing import Iterable

from papertide.store.sql_util import _chunks


class WebMixin:
    """Mixed into a store class (see ``PapersMixin``)."""

    def signal_history(self, ids: Iterable[str],
                       kinds: Iterable[str]) -> dict[str, dict[str, list[tuple[str, float]]]]:
        """``{id: {kind: [(observed_at, value), ...] oldest first}}``; every source merged.

        When two sources observe a kind at the same moment the larger value wins,
        so a series never jumps between sources' scales within one instant.
        """
        kinds = list(dict.fromkeys(kinds))
        history: dict[str, dict[str, list[tuple[str, float]]]] = {}
        if not kinds:
            return history
        kind_marks = ",".join("?" * len(kinds))
        for chunk in _chunks(list(dict.fromkeys(ids)), 800):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT p.id, s.kind, s.observed_at, max(s.value) FROM papers p "
                f"JOIN signals s ON s.pk = p.pk WHERE p.id IN ({marks}) AND s.kind IN ({kind_marks}) "
                f"GROUP BY p.id, s.kind, s.observed_at ORDER BY s.observed_at", (*chunk, *kinds))
            for pid, kind, observed_at, value in rows:
                history.setdefault(pid, {}).setdefault(kind, []).append((observed_at, float(value)))
        return history

    def facet_counts(self, ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """Of these papers: how many have each category, year, source, and code links."""
        ids = list(dict.fromkeys(ids))
        found: dict[str, dict[str, int]] = {"category": {}, "year": {}, "source": {}, "code": {}}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            pks = f"(SELECT pk FROM papers WHERE id IN ({marks}))"
            for facet, sql in (
                    ("category", f"SELECT category, count(*) FROM paper_categories WHERE pk IN {pks} GROUP BY category"),
                    ("year", f"SELECT substr(published, 1, 4), count(*) FROM papers WHERE id IN ({marks}) "
                             "AND published != '' GROUP BY substr(published, 1, 4)"),
                    ("source", f"SELECT source, count(*) FROM provenance WHERE pk IN {pks} GROUP BY source"),
                    ("code", f"SELECT 'yes', count(*) FROM papers WHERE id IN ({marks}) AND links LIKE '%\"code\"%'")):
                for value, count in self.db.execute(sql, chunk).fetchall():
                    if count:
                        found[facet][value] = found[facet].get(value, 0) + count
        return found

    def with_code(self, ids: Iterable[str]) -> set[str]:
        """Which of these papers link to code."""
        out: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            out.update(r[0] for r in self.db.execute(
                f"SELECT id FROM papers WHERE id IN ({marks}) AND links LIKE '%\"code\"%'", chunk).fetchall())
        return out
