"""Search quality and speed of every mode side by side, on the shared dev sets.

    .venv/bin/python bench/search_modes.py --known-db /tmp/sem80k.db --topical-db /tmp/hf.db \
        [--embedder all-MiniLM-L6-v2|static] [--weights 0.5 0.6 0.7] [--rrf] [--limit-queries N]

known_item_dev runs over the store holding all 80,017 shared papers, topical_dev over
a store holding only the Hugging Face file (its labels cover only those papers). Each
store must have been indexed (`papertide --db X index`) with the embedder given.
Latency includes embedding the query (the query-vector cache is cleared per mode).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from papertide.rank.evaluate import load_jsonl
from papertide.rank.hybrid import HybridParams
from papertide.semantic_cmd import evaluate_queries, open_embedder
from papertide.settings import Settings
from papertide.store import open_store

EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"
COLUMNS = ("mrr@10", "ndcg@10", "recall@10", "recall@100", "p50_ms", "p95_ms")


def run_set(name: str, db: str, embedder, args: argparse.Namespace) -> list[tuple[str, dict]]:
    """Every mode (and fusion variant) over one dev set; rows of (label, metrics)."""
    queries = load_jsonl(EVAL / f"{name}.jsonl")[: args.limit_queries or None]
    store = open_store(db)
    rows = []
    try:
        for mode in ("keyword", "semantic"):
            rows.append((mode, evaluate_queries(store, queries, mode=mode, embedder=embedder)))
        for weight in args.weights:
            params = HybridParams(keyword_weight=weight, candidates=args.candidates)
            rows.append((f"hybrid w={weight}", evaluate_queries(store, queries, mode="hybrid",
                                                                 embedder=embedder, params=params)))
        if args.rrf:
            params = HybridParams(method="rrf", candidates=args.candidates)
            rows.append(("hybrid rrf k=60", evaluate_queries(store, queries, mode="hybrid",
                                                              embedder=embedder, params=params)))
    finally:
        store.close()
    return rows


def print_table(name: str, db: str, rows: list[tuple[str, dict]]) -> None:
    print(f"\n### {name} ({rows[0][1]['queries']} queries, store {db})\n")
    print("| mode | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for label, m in rows:
        print(f"| {label} | " + " | ".join(f"{m[c]:.3f}" if "ms" not in c else f"{m[c]:.1f}" for c in COLUMNS) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--known-db", help="Store with all 80,017 shared papers, indexed.")
    parser.add_argument("--topical-db", help="Store with only the Hugging Face papers, indexed.")
    parser.add_argument("--embedder", help="Embedder setting (default: the configured one).")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.6], help="Hybrid keyword weights to try.")
    parser.add_argument("--candidates", type=int, default=150, help="Candidates per side before fusion.")
    parser.add_argument("--rrf", action="store_true", help="Also run reciprocal rank fusion (k=60).")
    parser.add_argument("--limit-queries", type=int, default=0, help="Only the first N queries of each set.")
    parser.add_argument("--json", action="store_true", help="Also print every row as a JSON line.")
    args = parser.parse_args()
    settings = Settings({"embedder": args.embedder})
    started = time.perf_counter()
    embedder = open_embedder(settings)
    print(f"embedder {embedder.key} loaded in {time.perf_counter() - started:.1f} s")
    for name, db in (("known_item_dev", args.known_db), ("topical_dev", args.topical_db)):
        if not db:
            continue
        rows = run_set(name, db, embedder, args)
        print_table(name, db, rows)
        best_single = max(m["ndcg@10"] for label, m in rows if label in ("keyword", "semantic"))
        best_hybrid = max(m["ndcg@10"] for label, m in rows if label.startswith("hybrid"))
        print(f"\nhybrid never worse than the best single mode (nDCG@10): {best_hybrid >= best_single}")
        if args.json:
            for label, m in rows:
                print(json.dumps({"set": name, "label": label, **m}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
