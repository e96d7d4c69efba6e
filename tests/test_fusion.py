"""Hybrid fusion as pure functions: scores worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from papertide.rank.fusion import convex, minmax, rocchio, rrf


def test_minmax_scales_best_to_one_and_worst_to_zero() -> None:
    assert minmax({"a": 10.0, "b": 5.0, "c": 0.0}) == {"a": 1.0, "b": 0.5, "c": 0.0}
    assert minmax({"a": 3.0, "b": 3.0}) == {"a": 1.0, "b": 1.0}
    assert minmax({}) == {}


def test_convex_combination_by_hand() -> None:
    keyword = {"a": 10.0, "b": 5.0, "c": 0.0}          # -> a 1, b .5, c 0
    semantic = {"b": 0.9, "d": 0.5, "a": 0.1}           # -> b 1, d .5, a 0
    fused = convex(keyword, semantic, keyword_weight=0.6)
    # b: .6*.5 + .4*1 = .7; a: .6*1 + .4*0 = .6; d: .4*.5 = .2; c: 0
    assert [pid for pid, _ in fused] == ["b", "a", "d", "c"]
    assert [round(s, 6) for _, s in fused] == [0.7, 0.6, 0.2, 0.0]


def test_convex_weight_one_is_keyword_order_and_zero_is_semantic_order() -> None:
    keyword = {"a": 3.0, "b": 2.0, "c": 1.0}
    semantic = {"c": 0.9, "b": 0.8, "a": 0.1}
    assert [p for p, _ in convex(keyword, semantic, keyword_weight=1.0)] == ["a", "b", "c"]
    assert [p for p, _ in convex(keyword, semantic, keyword_weight=0.0)] == ["c", "b", "a"]


def test_convex_one_side_empty_and_limit_and_ties_by_id() -> None:
    assert convex({}, {"x": 0.2, "y": 0.2}, keyword_weight=0.5) == [("x", 0.5), ("y", 0.5)]
    assert convex({"a": 2.0, "b": 1.0}, {}, keyword_weight=0.5, limit=1) == [("a", 0.5)]
    assert convex({}, {}, keyword_weight=0.5) == []


def test_convex_rejects_a_weight_outside_zero_one() -> None:
    with pytest.raises(ValueError):
        convex({"a": 1.0}, {}, keyword_weight=1.5)


def test_rrf_by_hand() -> None:
    fused = rrf([[("a", 9.0), ("b", 8.0)], [("b", 0.9), ("c", 0.8)]], k=60)
    # b: 1/62 + 1/61; a: 1/61; c: 1/62
    assert [p for p, _ in fused] == ["b", "a", "c"]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    weighted = rrf([[("a", 1.0)], [("c", 1.0)]], k=1, weights=[1.0, 3.0])
    assert weighted == [("c", 1.5), ("a", 0.5)]
    with pytest.raises(ValueError):
        rrf([[("a", 1.0)]], weights=[1.0, 2.0])


def test_rocchio_moves_the_query_towards_the_mean_of_the_feedback_by_hand() -> None:
    np = pytest.importorskip("numpy")
    query = np.array([1.0, 0.0], dtype=np.float32)
    feedback = np.array([[0.0, 1.0], [0.6, 0.8]], dtype=np.float32)  # mean (0.3, 0.9)
    moved = rocchio(query, feedback)  # (1.3, 0.9) / |(1.3, 0.9)|
    assert moved.dtype == np.float32
    assert moved.tolist() == pytest.approx([1.3 / 1.581139, 0.9 / 1.581139], abs=1e-6)
    assert rocchio(query, feedback, beta=2.0).tolist() == pytest.approx([1.6 / 2.408319, 1.8 / 2.408319], abs=1e-6)
    assert rocchio(query, feedback[:0]) is query  # no feedback: the query as it was
    assert rocchio(query, feedback, beta=0.0) is query
    assert rocchio(query, -query[None, :]) is query  # cancelled out: keep the query


def test_query_vectors_are_cached_unless_the_cache_is_off() -> None:
    from papertide.app.hybrid import clear_query_cache, embed_query

    class Counting:
        key = "test:counting"
        calls = 0

        def encode_queries(self, texts: list[str]) -> np.ndarray:
            Counting.calls += 1
            return np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2)

    clear_query_cache()
    for _ in range(3):
        embed_query(Counting(), "graph neural networks", 16)
    assert Counting.calls == 1
    for _ in range(3):
        embed_query(Counting(), "graph neural networks", 0)  # what bench/web.py measures: the model every time
    assert Counting.calls == 4
    clear_query_cache()
