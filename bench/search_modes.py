"""Search quality and speed of every mode side by side, on the shared dev sets.

    .venv/bin/python bench/search_modes.py --known-db /tmp/sem80k.db --topical-db /tmp/hf.db \
        [--embedder all-MiniLM-L6-v2|static] [--weights 0.5 0.6 0.7] [--feedback 0 3 5] [--rrf] \
        [--limit-queries N] [--half 0|1]

Rows: keyword, semantic, and hybrid for every keyword weight x number of feedback documents
(``hybrid_feedback_docs``) asked for. The last line of each
set says whether the default hybrid beats the best single mode (MRR@10 on
known-item, nDCG@10 on topical).

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
from papertide.app.hybrid import HybridParams
from papertide.app.semantic import evaluate_queries, open_embedder
from papertide.settings import Settings
from papertide.store import open_store

EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"
COLUMNS = ("mrr@10", "ndcg@10", "recall@10", "recall@100", "p50_ms", "p95_ms")


def run_set(name: str, db: str, embedder, args: argparse.Namespace) -> list[tuple[str, dict]]:
    """Every mode (and fusion variant) over one dev set; rows of (label, metrics)."""
    queries = load_jsonl(EVAL / f"{name}.jsonl")[: args.limit_queries or None]
    if args.half is not None:
        queries = queries[args.half::2]
    default = HybridParams()
    rows = []
    store = open_store(db)

    def run(label: str, mode: str, params: HybridParams) -> None:
        rows.append((label, evaluate_queries(store, queries, mode=mode, embedder=embedder, params=params)))
        print(f"  {name}: {label} done", file=sys.stderr, flush=True)

    try:
        run("keyword", "keyword", default)
        run("semantic", "semantic", default)
        for weight in args.weights:
            for docs in args.feedback:
                label = f"hybrid w={weight}, feedback {docs}" + (
                    " (default)" if (weight, docs) == (default.keyword_weight, default.feedback_docs) else "")
                run(label, "hybrid", HybridParams(keyword_weight=weight, feedback_docs=docs, candidates=args.candidates))
        if args.rrf:
            run("hybrid rrf k=60", "hybrid", HybridParams(method="rrf", candidates=args.candidates))
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
    parser.add_argument("--weights", type=float, nargs="+", default=[HybridParams().keyword_weight],
                        help="Hybrid keyword weights to try.")
    parser.add_argument("--feedback", type=int, nargs="+", default=[0, HybridParams().feedback_docs],
                        help="Numbers of feedback documents to try (0: none).")
    parser.add_argument("--half", type=int, choices=[0, 1], help="Only the even (0) or odd (1) queries.")
    parser.add_argument("--candidates", type=int, default=150, help="Candidates per side before fusion.")
    parser.add_argument("--rrf", action="store_true", help="Also run reciprocal rank fusion (k=60).")
    parser.add_argument("--limit-queries", type=int, default=0, help="Only the first N queries of each set.")
    parser.add_argument("--json", action="store_true", help="Also print every row as a JSON line.")
    args = parser.parse_args()
    settings = Settings({"embedder": args.embedder})
    started = time.perf_counter()
    embedder = open_embedder(settings, queries_only=True)  # as searches embed queries (query_encoder)
    print(f"embedder {embedder.key} ({type(embedder).__name__}{', 8-bit' if getattr(embedder, 'int8', False) else ''}) "
          f"loaded in {time.perf_counter() - started:.1f} s")
    for name, db in (("known_item_dev", args.known_db), ("topical_dev", args.topical_db)):
        if not db:
            continue
        rows = run_set(name, db, embedder, args)
        print_table(name, db, rows)
        metric = "mrr@10" if name.startswith("known") else "ndcg@10"
        best_single = max(m[metric] for label, m in rows if label in ("keyword", "semantic"))
        hybrid = [m[metric] for label, m in rows if label.endswith("(default)")]
        if hybrid:
            print(f"\ndefault hybrid {metric} {hybrid[0]:.4f} vs best single mode {best_single:.4f}: "
                  f"{'not worse' if hybrid[0] >= best_single else 'WORSE'}")
        if args.json:
            for label, m in rows:
                print(json.dumps({"set": name, "label": label, **m}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
