"""Fusing keyword and semantic rankings. Pure functions over ``(id, score)`` lists.

Two methods are here; hybrid search uses :func:`convex` (docs/semantic.md says why),
with the query vector first moved towards the best keyword hits by :func:`rocchio`:

- :func:`convex`: min-max-normalise each side's scores to [0, 1] and add them with
  weights ``w`` (keyword) and ``1 - w`` (semantic). A paper one side did not return
  gets that side's 0. Keeps *how much* better the top keyword hit is, which matters
  for known-item queries where BM25 is usually right by a wide margin.
- :func:`rrf`: reciprocal rank fusion, ``sum 1 / (k + rank)``. Uses ranks only;
  measured here it lost to BM25 alone on known-item queries, so it is kept for
  comparison (``bench/search_modes.py``) rather than used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

if TYPE_CHECKING:
    import numpy as np

Ranking = Sequence[tuple[str, float]]


def minmax(scores: Mapping[str, float]) -> dict[str, float]:
    """Scores scaled to [0, 1]: the best becomes 1, the worst 0; all equal become 1."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return {pid: 1.0 for pid in scores}
    span = high - low
    return {pid: (s - low) / span for pid, s in scores.items()}


def convex(keyword: Mapping[str, float], semantic: Mapping[str, float], *, keyword_weight: float,
           limit: int | None = None) -> list[tuple[str, float]]:
    """Best first by ``w * minmax(keyword) + (1 - w) * minmax(semantic)``; ties by id.

    ``keyword`` and ``semantic`` map paper ids to raw scores (BM25, cosine); either may
    be empty. ``keyword_weight`` must be within [0, 1]."""
    if not 0.0 <= keyword_weight <= 1.0:
        raise ValueError(f"keyword_weight must be within [0, 1], got {keyword_weight}")
    kw, sem = minmax(keyword), minmax(semantic)
    fused = {pid: keyword_weight * kw.get(pid, 0.0) + (1.0 - keyword_weight) * sem.get(pid, 0.0)
             for pid in {*kw, *sem}}
    ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    return ranked if limit is None else ranked[:limit]


def rrf(rankings: Sequence[Ranking], *, k: float = 60.0, weights: Sequence[float] | None = None,
        limit: int | None = None) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: ``sum_i w_i / (k + rank_i)`` (ranks from 1); ties by id."""
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking is needed")
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, (pid, _) in enumerate(ranking, 1):
            fused[pid] = fused.get(pid, 0.0) + weight / (k + rank)
    ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    return ranked if limit is None else ranked[:limit]


def rocchio(query: "np.ndarray", feedback: "np.ndarray", *, beta: float = 1.0) -> "np.ndarray":
    """Pseudo-relevance feedback in vector space: the unit vector of
    ``query + beta * mean(feedback rows)``; ``query`` itself when there are no rows.

    ``query`` is a unit vector, ``feedback`` a (k, dim) array of unit vectors (the
    papers keyword search ranked first)."""
    import numpy as np

    if feedback.shape[0] == 0 or beta == 0:
        return query
    moved = query + beta * feedback.mean(axis=0)
    norm = float(np.linalg.norm(moved))
    return (moved / norm).astype(query.dtype, copy=False) if norm > 0 else query
