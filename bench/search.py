"""Keyword search quality and speed on the shared data, this version beside the previous engine's.

Targets (issue: one keyword engine): at 80,017 papers, known-item MRR@10 >= 0.951, topical
nDCG@10 >= 0.33; p50 <= 1 ms for 1-3 word queries and <= 3 ms for long ones.

Each version imports the shared files into fresh stores of its own (the arXiv + HF union, 80,017
papers, and the HF file alone for topical_dev, whose labels exist only for HF papers) and runs:

* known-item: 500 long descriptions written without the target's title words (MRR@10);
* title-4: the first four words of each known-item target's title (MRR@10), people who
  remember a title;
* topical: 250 topic phrases of 2-5 words over the HF store (nDCG@10, Recall@100);
* speed: p50 and p95 of 1-3 word queries (topical queries of up to 3 words and each of their
  words alone) and of the long known-item queries, each query timed alone, top 10, through
  ``search()`` (parsing and fetching the ids included).

    .venv/bin/python bench/search.py [--against REV] [--no-against]

``--against`` (default: the last commit with the hand-made engine) is checked out with
``git worktree`` and measured in a subprocess right after this version, on the same data and
machine. The old engine needs PyStemmer (``.venv/bin/pip install PyStemmer``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
ARXIV = DATA / "arxiv" / "arxiv_cs_2025-2026.jsonl.gz"
HF = DATA / "hf" / "hf_daily_papers_2024-05_to_2026-08.jsonl.gz"
EVAL = DATA / "eval"


def load(name: str) -> list[dict]:
    with open(EVAL / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _api():
    """search() and run_sync() of whichever papertide is importable (their homes moved)."""
    try:
        from papertide.app.search import search
        from papertide.app.sync import run_sync
    except ImportError:  # the previous layout
        from papertide.rank.search import search
        from papertide.sync import run_sync
    return search, run_sync


def imported(path: Path, files: list[Path]):
    from papertide.settings import Settings
    from papertide.sources import SyncRequest, get_source
    from papertide.store import open_store

    _, run_sync = _api()
    store = open_store(str(path))
    started = time.perf_counter()
    run_sync(get_source("files", Settings({"db": str(path)}, environ={})),
             SyncRequest(paths=[str(f) for f in files]), store)
    return store, time.perf_counter() - started


def run(store, queries: list[dict], k: int = 100) -> tuple[list[list[str]], list[float]]:
    search, _ = _api()
    search(store, "warm up", limit=10)
    found, times = [], []
    for q in queries:
        began = time.perf_counter()
        hits = search(store, q["query"], limit=k).hits
        times.append((time.perf_counter() - began) * 1000)
        found.append([pid for pid, _ in hits])
    return found, times


def timed(store, queries: list[str]) -> list[float]:
    search, _ = _api()
    times = []
    for query in queries:
        began = time.perf_counter()
        search(store, query, limit=10)
        times.append((time.perf_counter() - began) * 1000)
    return times


def mrr10(found: list[list[str]], queries: list[dict]) -> float:
    return statistics.mean(next((1 / (i + 1) for i, pid in enumerate(hits[:10]) if pid in q["relevant"]), 0.0)
                           for hits, q in zip(found, queries))


def ndcg10(found: list[list[str]], queries: list[dict]) -> float:
    scores = []
    for hits, q in zip(found, queries):
        relevant = set(q["relevant"])
        dcg = sum(1 / math.log2(i + 2) for i, pid in enumerate(hits[:10]) if pid in relevant)
        scores.append(dcg / sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10))))
    return statistics.mean(scores)


def recall100(found: list[list[str]], queries: list[dict]) -> float:
    return statistics.mean(len(set(hits[:100]) & set(q["relevant"])) / len(q["relevant"])
                           for hits, q in zip(found, queries))


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100)[p - 1] if len(values) > 1 else values[0]


def measure(folder: Path) -> dict:
    """Every figure of one version (the papertide on sys.path)."""
    known, topical = load("known_item_dev.jsonl"), load("topical_dev.jsonl")
    store, seconds = imported(folder / "all.db", [ARXIV, HF])
    titles = store.get_many(q["relevant"][0] for q in known)
    title4 = [{"query": " ".join(titles[q["relevant"][0]].title.split()[:4]), "relevant": q["relevant"]}
              for q in known if q["relevant"][0] in titles]
    found, _ = run(store, known)
    long_times = timed(store, [q["query"] for q in known])
    figures = {"papers": store.count(), "import_s": seconds, "known_mrr10": mrr10(found, known),
               "long_p50": pct(long_times, 50), "long_p95": pct(long_times, 95)}
    figures["title4_mrr10"] = mrr10(run(store, title4)[0], title4)
    short = [q["query"] for q in topical if len(q["query"].split()) <= 3]
    short += sorted({w for q in short for w in q.split()})
    short_times = timed(store, short)
    figures.update(short_queries=len(short), short_p50=pct(short_times, 50), short_p95=pct(short_times, 95))
    store.close()
    hf, _ = imported(folder / "hf.db", [HF])
    found, _ = run(hf, topical)
    figures.update(topical_ndcg10=ndcg10(found, topical), topical_r100=recall100(found, topical))
    hf.close()
    return figures


def previous_engine() -> str:
    """The last commit that still had the hand-made keyword engine."""
    deleted = subprocess.run(["git", "log", "-1", "--format=%H", "--diff-filter=D", "--",
                              "src/papertide/index/bm25.py"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
    return f"{deleted}^" if deleted else "HEAD"


def measure_other(rev: str, scratch: Path) -> dict:
    tree = scratch / "before"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        env = {**os.environ, "PYTHONPATH": str(tree / "src")}
        out = subprocess.run([sys.executable, __file__, "--worker", str(scratch / "other")], env=env,
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"the version at {rev} failed:\n{out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)


ROWS = [("papers", "papers", "{:,.0f}"), ("import_s", "import of both files, s", "{:.1f}"),
        ("known_mrr10", "known-item MRR@10 (>= 0.951)", "{:.4f}"),
        ("topical_ndcg10", "topical nDCG@10 (>= 0.33)", "{:.4f}"), ("topical_r100", "topical Recall@100", "{:.4f}"),
        ("title4_mrr10", "title-4 MRR@10", "{:.4f}"),
        ("short_p50", "1-3 words p50, ms (<= 1)", "{:.2f}"), ("short_p95", "1-3 words p95, ms", "{:.2f}"),
        ("long_p50", "long p50, ms (<= 3)", "{:.2f}"), ("long_p95", "long p95, ms", "{:.2f}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", help="git revision to compare with (default: the previous engine)")
    parser.add_argument("--no-against", action="store_true", help="measure this version only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not EVAL.is_dir():
        sys.exit(f"shared data not found at {DATA}")
    if args.worker:
        Path(args.worker).mkdir(parents=True, exist_ok=True)
        print(json.dumps(measure(Path(args.worker))))
        return
    with tempfile.TemporaryDirectory(prefix="papertide-bench-") as scratch:
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        this = measure(Path(scratch) / "this")
        rev = None if args.no_against else (args.against or previous_engine())
        other = measure_other(rev, Path(scratch)) if rev else {}
    label = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.strip() if rev else ""
    head = f"{'':<34}{'this version':>14}" + (f"{label:>16}" if rev else "")
    print(head)
    for key, label, form in ROWS:
        print(f"{label:<34}{form.format(this[key]):>14}" + (f"{form.format(other[key]):>16}" if other else ""))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
