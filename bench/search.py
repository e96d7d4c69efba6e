"""Keyword search speed and quality on the shared data (issue: foundation).

Targets: p50 < 5 ms for 1-3 word queries; p50 < 30 ms for the long known-item
queries with MRR@10 no worse than a plain FTS5 OR of all their words.

Compares, on the same store:
  (a) baseline: FTS5 alone, every non-stopword word OR-ed, ORDER BY bm25() (1, 1, 1);
  (b) papertide's search() (in-memory BM25F index, FTS5 for phrases/authors/exclusions);
  (c) papertide's search() with the in-memory index turned off (the FTS5 fallback).
Query sets: 1-3 word queries (topical_dev queries of up to 3 words, and each of their
words alone) and the long known_item_dev queries over the arXiv + HF union (80,017
papers); topical_dev nDCG@10 / Recall@100 over a store of the HF file only.

    .venv/bin/python bench/search.py [--db PATH] [--hf-db PATH] [--no-topical] [--rebuild]

Without --db the shared files are imported into a temporary store (~1 min).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from papertide.query import parse_query
from papertide.rank.keyword import STOPWORDS, KeywordParams
from papertide.app.search import search
from papertide.settings import Settings
from papertide.sources import SyncRequest, get_source
from papertide.store import Filters, keyword_files, open_store
from papertide.app.sync import run_sync

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ARXIV = DATA / "arxiv" / "arxiv_cs_2025-2026.jsonl.gz"
HF = DATA / "hf" / "hf_daily_papers_2024-05_to_2026-08.jsonl.gz"
EVAL = DATA / "eval"
K = 100
Runner = Callable[[str], list[str]]


def load(name: str) -> list[dict]:
    with open(EVAL / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def imported_store(path: Path, files: list[Path]):
    store = open_store(str(path))
    started = time.perf_counter()
    run_sync(get_source("files", Settings({"db": str(path)})), SyncRequest(paths=[str(f) for f in files]), store)
    print(f"imported {store.count():,} papers into {path} in {time.perf_counter() - started:.0f} s", flush=True)
    return store


def baseline(store) -> Runner:
    """Plain FTS5: every non-stopword word OR-ed, bm25() with equal weights."""
    def run(query: str) -> list[str]:
        words = [w for w in parse_query(query).words if w not in STOPWORDS] or parse_query(query).words
        expr = " OR ".join(f'"{w}"' for w in dict.fromkeys(words))
        return [pid for pid, _ in store.keyword_search(expr, Filters(), K, (1.0, 1.0, 1.0))] if expr else []
    return run


def papertide(store, params: KeywordParams) -> Runner:
    return lambda query: [pid for pid, _ in search(store, query, limit=K, params=params).hits]


def timed(run: Runner, queries: list[dict]) -> tuple[list[list[str]], list[float]]:
    run(queries[0]["query"])  # warm: loads the index, fills caches
    results, times = [], []
    for q in queries:
        started = time.perf_counter()
        results.append(run(q["query"]))
        times.append((time.perf_counter() - started) * 1000)
    return results, times


def mrr10(results: list[list[str]], queries: list[dict]) -> float:
    total = 0.0
    for ids, q in zip(results, queries):
        rank = next((i for i, pid in enumerate(ids[:10], 1) if pid in q["relevant"]), None)
        total += 1 / rank if rank else 0.0
    return total / len(queries)


def recall(results: list[list[str]], queries: list[dict], k: int = K) -> float:
    return statistics.mean(len(set(ids[:k]) & set(q["relevant"])) / len(q["relevant"])
                           for ids, q in zip(results, queries))


def ndcg10(results: list[list[str]], queries: list[dict]) -> float:
    scores = []
    for ids, q in zip(results, queries):
        rel = set(q["relevant"])
        dcg = sum(1 / math.log2(i + 2) for i, pid in enumerate(ids[:10]) if pid in rel)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(rel))))
        scores.append(dcg / ideal)
    return statistics.mean(scores)


def pct(times: list[float], p: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def short_queries() -> list[dict]:
    topical = [q for q in load("topical_dev.jsonl") if len(q["query"].split()) <= 3]
    singles = sorted({w for q in topical for w in q["query"].lower().split()})
    return topical + [{"query": w, "relevant": []} for w in singles]


def report_speed_quality(store, runners: dict[str, Runner]) -> None:
    short, known = short_queries(), load("known_item_dev.jsonl")
    print(f"\n1-3 word queries ({len(short)}) and long known-item queries ({len(known)}), "
          f"top {K}, {store.count():,} papers")
    print(f"{'system':<28}{'short p50':>10}{'p95':>8}{'long p50':>10}{'p95':>8}{'MRR@10':>8}{'R@100':>7}")
    rows = {}
    for name, run in runners.items():
        _, short_t = timed(run, short)
        results, long_t = timed(run, known)
        rows[name] = (pct(short_t, 50), pct(short_t, 95), pct(long_t, 50), pct(long_t, 95),
                      mrr10(results, known), recall(results, known))
        r = rows[name]
        print(f"{name:<28}{r[0]:>8.2f}ms{r[1]:>6.1f}ms{r[2]:>8.2f}ms{r[3]:>6.1f}ms{r[4]:>8.4f}{r[5]:>7.3f}",
              flush=True)
    base, ours = rows.get("baseline FTS5 OR"), rows.get("papertide")
    if base and ours:
        print(f"{'speed-up (baseline/ours)':<28}{base[0] / ours[0]:>9.1f}x{base[1] / ours[1]:>7.1f}x"
              f"{base[2] / ours[2]:>9.1f}x{base[3] / ours[3]:>7.1f}x{ours[4] - base[4]:>+8.4f}{ours[5] - base[5]:>+7.3f}")


def report_topical(store, runners: dict[str, Runner]) -> None:
    topical = load("topical_dev.jsonl")
    print(f"\ntopical_dev ({len(topical)} queries) over the HF-only store ({store.count():,} papers)")
    print(f"{'system':<28}{'nDCG@10':>9}{'R@100':>8}{'p50':>9}")
    for name, run in runners.items():
        results, times = timed(run, topical)
        print(f"{name:<28}{ndcg10(results, topical):>9.4f}{recall(results, topical):>8.3f}"
              f"{pct(times, 50):>7.2f}ms", flush=True)


def runners_for(store) -> dict[str, Runner]:
    return {"baseline FTS5 OR": baseline(store), "papertide": papertide(store, KeywordParams()),
            "papertide, FTS5 only": papertide(store, KeywordParams(accelerate=False))}


def index_report(store, rebuild: bool) -> None:
    started = time.perf_counter()
    index = store.rebuild_keyword_index() if rebuild else store.keyword_index()
    took = time.perf_counter() - started
    arrays = (index.matrix.indptr, index.matrix.docs, index.matrix.weights, index.pks, index.published,
              index.category_ptr, index.category_rows)
    folder = keyword_files.folder_for(Path(store.path))
    print(f"keyword index: {index.n_docs:,} papers, {len(index.vocabulary):,} terms, "
          f"{len(index.matrix.docs):,} postings; {'built' if rebuild else 'ready'} in {took:.1f} s; "
          f"arrays {sum(a.nbytes for a in arrays) / 1e6:.0f} MB, files {keyword_files.size_bytes(folder) / 1e6:.0f} MB; "
          f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="a store holding the arXiv + HF files (imported into a temp store if absent)")
    parser.add_argument("--hf-db", help="a store holding only the HF file (for topical_dev)")
    parser.add_argument("--no-topical", action="store_true", help="skip the HF-only topical_dev run")
    parser.add_argument("--rebuild", action="store_true", help="time a fresh build of the keyword index")
    args = parser.parse_args()
    if not EVAL.is_dir():
        sys.exit(f"shared data not found at {DATA}")
    tmp = tempfile.TemporaryDirectory(prefix="papertide-bench-")
    store = open_store(args.db) if args.db else imported_store(Path(tmp.name) / "all.db", [ARXIV, HF])
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    index_report(store, args.rebuild or not args.db)
    report_speed_quality(store, runners_for(store))
    if not args.no_topical:
        hf = open_store(args.hf_db) if args.hf_db else imported_store(Path(tmp.name) / "hf.db", [HF])
        hf.keyword_index()
        report_topical(hf, runners_for(hf))
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
