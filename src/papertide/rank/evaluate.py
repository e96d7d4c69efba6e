"""Search quality metrics and evaluation query files. The metrics are pure.

Relevance is a mapping ``{paper id: grade}`` (grade > 0 is relevant; binary
judgements use grade 1). Definitions, all over one query's ranked ids:

- ``mrr@k``: 1 / rank of the first relevant id within the top k (0 if none);
- ``ndcg@k``: DCG / ideal DCG with linear gain, ``sum grade_i / log2(i + 1)``;
- ``recall@k``: relevant ids in the top k / all relevant ids.

Query files: JSONL of ``{"qid", "query", "relevant": [ids] or {id: grade}}``, or a
BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from papertide.errors import BadQueries


@dataclass
class EvalQuery:
    qid: str
    query: str
    relevant: dict[str, float] = field(default_factory=dict)  # id -> grade (> 0)


def mrr_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int = 10) -> float:
    """Reciprocal rank of the first relevant id in the top ``k``."""
    for rank, pid in enumerate(ranked[:k], 1):
        if relevant.get(pid, 0) > 0:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int = 10) -> float:
    """Normalised discounted cumulative gain of the top ``k`` (linear gain)."""
    dcg = sum(relevant.get(pid, 0) / math.log2(rank + 1) for rank, pid in enumerate(ranked[:k], 1))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, 1))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Share of the relevant ids found in the top ``k``."""
    wanted = {pid for pid, g in relevant.items() if g > 0}
    if not wanted:
        return 0.0
    return len(wanted.intersection(ranked[:k])) / len(wanted)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(runs: Sequence[tuple[Sequence[str], Mapping[str, float], float]], mode: str) -> dict[str, object]:
    """The metrics object of ``papertide eval --json`` from (ranked ids, relevance, ms) per query."""
    n = len(runs)
    mean = (lambda f: round(sum(f(r, rel) for r, rel, _ in runs) / n, 4) if n else 0.0)  # noqa: E731
    latencies = [ms for _, _, ms in runs]
    return {"queries": n, "mode": mode,
            "mrr@10": mean(lambda r, rel: mrr_at(r, rel, 10)),
            "ndcg@10": mean(lambda r, rel: ndcg_at(r, rel, 10)),
            "recall@10": mean(lambda r, rel: recall_at(r, rel, 10)),
            "recall@100": mean(lambda r, rel: recall_at(r, rel, 100)),
            "p50_ms": round(percentile(latencies, 50), 2), "p95_ms": round(percentile(latencies, 95), 2)}


def _relevance(value: object, where: str) -> dict[str, float]:
    if isinstance(value, list):
        return {str(pid): 1.0 for pid in value}
    if isinstance(value, dict):
        try:
            return {str(pid): float(g) for pid, g in value.items() if float(g) > 0}
        except (TypeError, ValueError):
            raise BadQueries(f"{where}: grades must be numbers") from None
    raise BadQueries(f"{where}: 'relevant' must be a list of ids or an object of id: grade")


def load_jsonl(path: Path) -> list[EvalQuery]:
    """Queries from a JSONL file of ``{"qid", "query", "relevant"}`` lines."""
    queries = []
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadQueries(f"cannot read {path}: {exc}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            item = json.loads(line)
            queries.append(EvalQuery(str(item.get("qid", n)), str(item["query"]),
                                     _relevance(item["relevant"], where)))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise BadQueries(f"{where}: expected {{\"qid\", \"query\", \"relevant\"}}") from None
    if not queries:
        raise BadQueries(f"{path} holds no queries")
    return queries


def load_beir_queries(folder: Path, split: str = "test") -> list[EvalQuery]:
    """Queries and graded qrels of a BEIR folder (only queries that have judgements)."""
    qrels: dict[str, dict[str, float]] = {}
    try:
        with open(folder / "qrels" / f"{split}.tsv", newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle, delimiter="\t"):
                if len(row) >= 3 and row[2].strip().lstrip("-").isdigit() and int(row[2]) > 0:
                    qrels.setdefault(row[0], {})[row[1]] = float(row[2])
        texts = {}
        for line in (folder / "queries.jsonl").read_text("utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                texts[str(item["_id"])] = str(item["text"])
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise BadQueries(f"{folder} is not a BEIR folder: {exc}") from None
    queries = [EvalQuery(qid, texts[qid], rel) for qid, rel in qrels.items() if qid in texts]
    if not queries:
        raise BadQueries(f"{folder}: no query has judgements in qrels/{split}.tsv")
    return queries


def beir_corpus(folder: Path) -> list[dict[str, str]]:
    """Documents of a BEIR ``corpus.jsonl``: ``{"_id", "title", "text"}``."""
    docs = []
    try:
        for line in (folder / "corpus.jsonl").read_text("utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                docs.append({"id": str(item["_id"]), "title": str(item.get("title") or ""),
                             "text": str(item.get("text") or "")})
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise BadQueries(f"cannot read {folder / 'corpus.jsonl'}: {exc}") from None
    return docs
