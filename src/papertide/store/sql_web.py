"""What the web site reads and writes beyond papers and search.

Signal history for sparklines. (Subscriptions are the digest's: store/sql_digest.py.)
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

import orjson

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
        """Of these papers: how many have each category, year, source, and code links. One read
        of their rows and one of their provenance (a search page counts its best 500 matches)."""
        counts = {facet: Counter() for facet in ("category", "year", "source", "code")}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT pk, published, categories, links LIKE '%\"code\"%' FROM papers "
                                   f"WHERE id IN ({marks})", chunk).fetchall()
            for _, published, categories, code in rows:
                counts["category"].update(set(orjson.loads(categories)))
                if published:
                    counts["year"][published[:4]] += 1
                if code:
                    counts["code"]["yes"] += 1
            pks = [row[0] for row in rows]
            if pks:
                counts["source"].update(source for (source,) in self.db.execute(
                    f"SELECT source FROM provenance WHERE pk IN ({','.join('?' * len(pks))})", pks).fetchall())
        return {facet: dict(counter) for facet, counter in counts.items()}

    def with_code(self, ids: Iterable[str]) -> set[str]:
        """Which of these papers link to code."""
        out: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            out.update(r[0] for r in self.db.execute(
                f"SELECT id FROM papers WHERE id IN ({marks}) AND links LIKE '%\"code\"%'", chunk).fetchall())
        return out
