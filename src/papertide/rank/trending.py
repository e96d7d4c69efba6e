"""Trending: which papers are gaining attention now, by a formula anyone can read.

For one paper, over a window ending at ``at``::

    score = sum over signal kinds k of   w_k * ln(1 + max(0, gain_k)) / (1 + age / A) ** G

``gain_k`` is how much the signal grew in the window (its latest value at the
window's end minus its latest value before the window; a signal first seen in
the window gains its whole value). When several sources observe one kind, the
largest gain counts. ``age`` is whole days from the paper's published day to
``at`` (0 if published later), ``w_k`` the weight setting of the kind,
``A`` ``trending_age_scale_days`` and ``G`` ``trending_gravity``. Drops (stars
taken back, a deleted repository) count as no gain, never below zero.

Each term is one paper's contribution from one kind; they are listed in the
explanation and add up to the score exactly. Papers with no positive score
follow by recency, so a store without signals still has a trending list.

``score_papers`` is the pure formula (plain data in, ranking out); ``app.trending``
gathers the data from a store and fills in by recency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Iterable, Mapping

from papertide.errors import BadInput, SettingError
from papertide.settings import Settings
from papertide.model import SignalDelta

WINDOWS = ("day", "week", "month")
KINDS = ("upvotes", "comments", "github_stars", "hf_featured", "saves", "clicks", "digest_opens")


@dataclass(frozen=True)
class TrendingParams:
    """Every number the formula uses."""

    weights: Mapping[str, float]
    gravity: float = 1.0
    age_scale_days: float = 7.0

    @classmethod
    def from_settings(cls, settings: Settings) -> TrendingParams:
        weights = {kind: float(getattr(settings, f"trending_weight_{kind}")) for kind in KINDS}
        if settings.trending_age_scale_days <= 0:
            raise SettingError("trending_age_scale_days must be positive")
        return cls(weights, float(settings.trending_gravity), float(settings.trending_age_scale_days))


@dataclass(frozen=True)
class Contribution:
    """One signal kind's share of a paper's score."""

    kind: str
    source: str
    before: float      # value before the window (0 if none known)
    after: float       # value at the window's end
    weight: float
    value: float       # weight * ln(1 + max(0, gain)) / decay

    @property
    def gain(self) -> float:
        return self.after - self.before


@dataclass(frozen=True)
class Explanation:
    """Why a paper scores what it does: the contributions sum to ``score``."""

    published: str
    age_days: int
    decay: float                                  # (1 + age / A) ** G
    contributions: tuple[Contribution, ...] = ()

    @property
    def score(self) -> float:
        return sum(c.value for c in self.contributions)


@dataclass
class Ranking:
    """Papers best first, with their scores and explanations in the same order."""

    ids: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    explanations: list[Explanation] = field(default_factory=list)


def age_days(published: str, at: date) -> int:
    """Whole days from the published day to ``at``; 0 for unknown or later days."""
    try:
        return max(0, (at - date.fromisoformat(published)).days)
    except ValueError:
        return 0


def _largest_gains(deltas: Iterable[SignalDelta]) -> dict[str, tuple[float, SignalDelta]]:
    """Per kind, (gain, delta) of the source that gained most; a tie goes to the first source by name."""
    best: dict[str, tuple[float, SignalDelta]] = {}
    for d in deltas:
        gain = d.after - (d.before or 0.0)
        current = best.get(d.kind)
        if current is None or gain > current[0] or (gain == current[0] and d.source < current[1].source):
            best[d.kind] = (gain, d)
    return best


def age_decay(age: int, params: TrendingParams) -> float:
    return (1.0 + age / params.age_scale_days) ** params.gravity


def explain(published: str, deltas: Iterable[SignalDelta], *, at: date, params: TrendingParams) -> Explanation:
    """One paper's contributions, one per kind, in kind order (the order the score adds them in)."""
    best = _largest_gains(deltas)
    age = age_days(published, at)
    decay = age_decay(age, params)
    parts = []
    for kind in sorted(best):
        gain, d = best[kind]
        weight = float(params.weights.get(kind, 0.0))
        value = weight * math.log1p(max(0.0, gain)) / decay
        parts.append(Contribution(kind, d.source, d.before or 0.0, d.after, weight, value))
    return Explanation(published, age, decay, tuple(parts))


def _score(best: dict[str, tuple[float, SignalDelta]], decay: float, weights: Mapping[str, float]) -> float:
    """The same arithmetic as ``explain``, in the same order, without building the explanation."""
    total = 0.0
    for kind in sorted(best):
        total += float(weights.get(kind, 0.0)) * math.log1p(max(0.0, best[kind][0])) / decay
    return total


def score_papers(deltas: Iterable[SignalDelta], *, at: date, params: TrendingParams,
                 limit: int | None = None) -> Ranking:
    """Rank papers by the formula; only papers scoring above zero are listed.

    Ties go to the more recently published paper, then to the smaller id, so the
    order never depends on the input's order. With ``limit``, only the best
    ``limit`` papers are returned (and only they are explained).
    """
    by_paper: dict[str, list[SignalDelta]] = {}
    for d in deltas:
        by_paper.setdefault(d.paper_id, []).append(d)
    decays: dict[str, float] = {}  # by published day: few distinct ones
    scored = []
    for pid, items in by_paper.items():
        published = items[0].published
        if published not in decays:
            decays[published] = age_decay(age_days(published, at), params)
        total = _score(_largest_gains(items), decays[published], params.weights)
        if total > 0.0:
            scored.append((pid, total, published))
    scored.sort(key=lambda t: t[0])
    scored.sort(key=lambda t: t[2], reverse=True)
    scored.sort(key=lambda t: t[1], reverse=True)
    top = scored if limit is None else scored[:limit]
    explanations = [explain(published, by_paper[pid], at=at, params=params) for pid, _, published in top]
    return Ranking([t[0] for t in top], [w.score for w in explanations], explanations)


def window_days(window: str, settings: Settings) -> int:
    """Length of a named window, from the settings."""
    if window not in WINDOWS:
        raise BadInput(f"unknown trending window {window!r}; choose from {', '.join(WINDOWS)}")
    days = int(getattr(settings, f"trending_window_{window}"))
    if days < 1:
        raise SettingError(f"trending_window_{window} must be at least 1 day")
    return days


def parse_at(value: str | None, now: datetime | None = None) -> datetime:
    """``--at``: a day (its end, UTC) or an ISO date-time; default now."""
    if value is None:
        return (now or datetime.now(timezone.utc)).replace(microsecond=0)
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(23, 59, 59), timezone.utc)
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{value!r} is not a date like 2025-06-02 or a time like 2025-06-02T12:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).replace(microsecond=0)
