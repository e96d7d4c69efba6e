"""``papertide eval-recommend``: the recommender against baselines on author continuation.

Each line of the file is ``{"qid", "library": [ids], "window": [start, end), "relevant": [ids]}``.
The candidates are every stored paper published in the window; the recommender sees only
titles and abstracts. Baselines in the same run: random, the cosine to the library's tf-idf
centroid, and arxiv-sanity-lite's recipe (tf-idf 1-2-grams, sublinear tf, LinearSVC C=0.01
balanced, the library as positives, the background papers as negatives).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from papertide.app.recommend import text_of
from papertide.errors import BadQueries
from papertide.rank.evaluate import mrr_at, ndcg_at, recall_at
from papertide.rank.recommend import Batch, Person, Space, recommend

EVAL_BACKGROUND = 5000
BUCKETS = (("1-3", 1, 3), ("4-9", 4, 9), ("10+", 10, 10**9))


def read_file(path: Path) -> list[dict[str, Any]]:
    try:
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadQueries(f"cannot read {path}: {exc}") from None
    for n, item in enumerate(lines, 1):
        if not isinstance(item, dict) or not {"library", "window", "relevant"} <= set(item):
            raise BadQueries(f"{path} line {n}: needs library, window and relevant")
    return lines


def evaluate(store: Any, path: Path, *, background: int = EVAL_BACKGROUND, limit: int = 100,
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Metrics of the recommender and the baselines, overall and by library size."""
    queries = read_file(path)
    runs: dict[str, list[tuple[int, list[str], set[str]]]] = {"papertide": [], "random": [], "tfidf-centroid": [],
                                                               "svm": []}
    done = 0
    for window in dict.fromkeys(tuple(q["window"]) for q in queries):
        group = [q for q in queries if tuple(q["window"]) == window]
        candidates = store.paper_texts(published=window)
        texts = {c.id: text_of(c.title, c.abstract) for c in candidates}
        libraries = store.paper_texts(ids={i for q in group for i in q["library"]} - set(texts))
        texts.update((t.id, text_of(t.title, t.abstract)) for t in libraries)
        earlier = [t for t in store.sample_texts(window[0], background) if t.id not in texts]
        texts.update((t.id, text_of(t.title, t.abstract)) for t in earlier)
        cands = [c.id for c in candidates]
        batch = Batch(Space(texts, [t.id for t in earlier]), cands)
        baselines = _Baselines(texts, cands, [t.id for t in earlier])
        for q in group:
            lib = [i for i in q["library"] if i in texts]
            relevant = set(q["relevant"])
            picks = recommend(batch, Person(q.get("qid"), lib, hidden=set(lib)), limit=limit, reasons=False)
            runs["papertide"].append((len(lib), [p.paper for p in picks], relevant))
            for name, ranked in baselines.rank(lib, limit).items():
                runs[name].append((len(lib), ranked, relevant))
            done += 1
            if progress:
                progress(done)
    report = _metrics(runs["papertide"])
    report["baselines"] = {name: _metrics(rows) for name, rows in runs.items() if name != "papertide"}
    report["researchers"] = len(queries)
    report["candidates"] = len(cands) if queries else 0
    return report


def _metrics(rows: list[tuple[int, list[str], set[str]]]) -> dict[str, Any]:
    def summary(part: list[tuple[int, list[str], set[str]]]) -> dict[str, float]:
        if not part:
            return {"mrr@100": 0.0, "recall@50": 0.0, "ndcg@10": 0.0, "n": 0}
        rel = [dict.fromkeys(r, 1.0) for _, _, r in part]
        return {"mrr@100": round(float(np.mean([mrr_at(rk, g, 100) for (_, rk, _), g in zip(part, rel)])), 4),
                "recall@50": round(float(np.mean([recall_at(rk, g, 50) for (_, rk, _), g in zip(part, rel)])), 4),
                "ndcg@10": round(float(np.mean([ndcg_at(rk, g, 10) for (_, rk, _), g in zip(part, rel)])), 4),
                "n": len(part)}
    out: dict[str, Any] = summary(rows)
    out["by_library_size"] = {name: summary([r for r in rows if lo <= r[0] <= hi]) for name, lo, hi in BUCKETS}
    return out


class _Baselines:
    """Random, tf-idf centroid and arxiv-sanity-lite's SVM, over their own tf-idf (as published)."""

    def __init__(self, texts: dict[str, str], candidates: list[str], background: list[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        keys = list(texts)
        self.row = {k: i for i, k in enumerate(keys)}
        self.X = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2 if len(keys) >= 200 else 1,
                                 max_df=0.5 if len(keys) >= 200 else 1.0, stop_words="english",
                                 dtype=np.float32).fit_transform([texts[k] for k in keys]).tocsr()
        self.cands = candidates
        self.C = self.X[[self.row[c] for c in candidates]]
        self.background = [self.row[k] for k in background]
        self.rng = np.random.default_rng(0)

    def rank(self, library: list[str], limit: int) -> dict[str, list[str]]:
        from sklearn.svm import LinearSVC

        lib = [self.row[k] for k in library]
        hidden = set(library)
        out = {"random": [self.cands[i] for i in self.rng.permutation(len(self.cands))]}
        if not lib:
            return {name: [] for name in ("random", "tfidf-centroid", "svm")}
        centroid = np.asarray(self.X[lib].mean(axis=0)).ravel()
        out["tfidf-centroid"] = self._top(self.C @ centroid)
        negatives = [i for i in self.background if i not in set(lib)]
        y = np.r_[np.ones(len(lib)), np.zeros(len(negatives))]
        svm = LinearSVC(C=0.01, class_weight="balanced", max_iter=10000).fit(self.X[lib + negatives], y)
        out["svm"] = self._top(svm.decision_function(self.C))
        return {name: [c for c in ranked if c not in hidden][:limit] for name, ranked in out.items()}

    def _top(self, scores: np.ndarray) -> list[str]:
        return [self.cands[i] for i in np.argsort(-scores, kind="stable")]
