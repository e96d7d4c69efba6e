"""How fast ``papertide import`` stores the shared arXiv + Hugging Face files.

Target (issue: one keyword engine): >= 8,000 papers/s end to end, keyword index included, at
most 2.5 times the baseline's time. Two measurements, each in a fresh subprocess (so one does
not inflate the other's peak RSS) on a fresh temporary store, repeated and reported as medians:

* papertide: ``run_sync`` with the ``files`` source into a new SQLite store, exactly the
  path of ``papertide import`` (80,017 distinct papers from 84,309 lines), the tantivy
  keyword index committed page by page. The time is split into storing the pages and what
  follows the last page (the keyword index caught up, the store closed).
* baseline: the same papers' (title, abstract, authors), parsed beforehand, written with
  a bare ``executemany`` into a plain FTS5 table with the same tokenizer, in
  transactions of ``batch_size`` rows: roughly the least any store can spend on the index.

    .venv/bin/python bench/import.py [--repeat 3] [--batch-size N] [--data ../shared/data] [--against SRC]

With ``--against``, the import of another version (``git worktree add /tmp/before REV``, then
``--against /tmp/before/src``) runs right after each run of this one: on a shared machine
whose speed drifts, only runs this close together compare.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = ("arxiv/arxiv_cs_2025-2026.jsonl.gz", "hf/hf_daily_papers_2024-05_to_2026-08.jsonl.gz")
_VERSION = re.compile(r"v\d+$")
TOKENIZER = "porter unicode61 remove_diacritics 2"  # the papers_fts tokenizer (migration 0001)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_s() -> float:
    """CPU seconds (user + system, all threads) so far: less sensitive than wall time to a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_papertide(db: Path, paths: list[Path], batch_size: int | None) -> dict:
    from papertide.settings import Settings
    from papertide.sources import SyncRequest, get_source
    from papertide.store import open_store
    try:
        from papertide.app.sync import run_sync
    except ImportError:  # an earlier version (--against)
        from papertide.sync import run_sync

    settings = Settings({"db": str(db), "batch_size": batch_size}, environ={})
    last_page = {"at": 0.0, "rss_mb": 0.0, "cpu": 0.0}

    def on_page(_: object) -> None:
        last_page.update(at=time.perf_counter(), rss_mb=_peak_rss_mb(), cpu=_cpu_s())

    cpu, start = _cpu_s(), time.perf_counter()
    store = open_store(str(db))
    report = run_sync(get_source("files", settings), SyncRequest(paths=[str(p) for p in paths]), store,
                      on_page=on_page)
    papers = store.count()
    store.close()  # timed too: closing is part of an import (on the WAL, it checkpoints what is left)
    end = time.perf_counter()
    follower = resource.getrusage(resource.RUSAGE_CHILDREN)  # an earlier version's index follower, if any
    return {"papers": papers, "new": report.new, "skipped": report.skipped_total, "wall": end - start,
            "pages": last_page["at"] - start, "refresh": end - last_page["at"],
            "cpu_pages": last_page["cpu"] - cpu, "cpu": _cpu_s() - cpu,
            "rss_pages_mb": last_page["rss_mb"], "rss_mb": _peak_rss_mb(),
            "follower_cpu": follower.ru_utime + follower.ru_stime, "follower_rss_mb": follower.ru_maxrss / 1024}


def _parsed_papers(paths: list[Path]) -> list[tuple[str, str, str]]:
    """(title, abstract, author names) per distinct paper, first occurrence kept."""
    papers: dict[str, tuple[str, str, str]] = {}
    for path in paths:
        with gzip.open(path, "rb") as handle:
            for line in handle:
                obj = orjson.loads(line)
                if "paper" in obj:
                    p = obj["paper"]
                    pid, row = p["id"], (p.get("title") or "", p.get("summary") or "",
                                         "\n".join(a.get("name") or "" for a in p.get("authors") or []))
                else:
                    pid, row = obj["id"], (obj["title"], obj.get("abstract") or "", "\n".join(obj["authors"]))
                papers.setdefault(_VERSION.sub("", pid), row)
    return list(papers.values())


def run_baseline(db: Path, paths: list[Path], batch_size: int | None) -> dict:
    rows = _parsed_papers(paths)
    batch = batch_size or 5000  # papertide's default
    cpu, start = _cpu_s(), time.perf_counter()
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"CREATE VIRTUAL TABLE f USING fts5(title, abstract, author_names, tokenize='{TOKENIZER}')")
    for at in range(0, len(rows), batch):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO f (title, abstract, author_names) VALUES (?, ?, ?)", rows[at:at + batch])
        conn.execute("COMMIT")
    conn.close()
    wall = time.perf_counter() - start
    return {"papers": len(rows), "wall": wall, "cpu": _cpu_s() - cpu, "rss_mb": _peak_rss_mb()}


def _child(kind: str, paths: list[Path], batch_size: int | None, src: Path | None = None) -> dict:
    """Run one measurement in a fresh interpreter on a fresh store (with papertide imported
    from ``src`` if given); its result as a dict."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src.resolve()), os.environ.get("PYTHONPATH", "")])} \
        if src else None
    with tempfile.TemporaryDirectory(prefix="papertide-bench-") as folder:
        args = [sys.executable, __file__, "--child", kind, "--db", str(Path(folder) / "bench.db"),
                *(["--batch-size", str(batch_size)] if batch_size else []), *map(str, paths)]
        done = subprocess.run(args, check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (medians reported)")
    parser.add_argument("--batch-size", type=int, help="records per page (default: papertide's setting)")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--against", type=Path, metavar="SRC",
                        help="the src/ folder of another version (a git worktree of an earlier commit, say): "
                             "its import runs right after each of this one's, for a comparison of the same moments")
    parser.add_argument("--child", choices=["papertide", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = run_papertide if args.child == "papertide" else run_baseline
        print(json.dumps(run(args.db, args.paths, args.batch_size)))
        return
    paths = [args.data / f for f in FILES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        sys.exit(f"bench/import.py: data not found: {', '.join(missing)}")
    print(f"import of {', '.join(p.name for p in paths)}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; median of {args.repeat}", flush=True)
    ours: list[dict] = []
    base: list[dict] = []
    other: list[dict] = []
    for n in range(1, args.repeat + 1):
        ours.append(_child("papertide", paths, args.batch_size))
        if args.against:
            other.append(_child("papertide", paths, args.batch_size, args.against))
            print(f"  run {n}: this version {ours[-1]['wall']:.2f} s, the other {other[-1]['wall']:.2f} s", flush=True)
        base.append(_child("baseline", paths, args.batch_size))
        o, b = ours[-1], base[-1]
        print(f"  run {n}: papertide {o['wall']:.2f} s = pages {o['pages']:.2f} s + end {o['refresh']:.2f} s "
              f"(CPU {o['cpu_pages']:.2f} + {o['cpu'] - o['cpu_pages']:.2f} s), peak RSS {o['rss_mb']:.0f} MB; "
              f"baseline {b['wall']:.2f} s (CPU {b['cpu']:.2f} s)", flush=True)
    _summary(ours, base)
    if other:
        print(f"the other version ({args.against}): {_median(other, 'wall'):.2f} s = "
              f"{other[0]['papers'] / _median(other, 'wall'):,.0f} papers/s; this one / the other (time): "
              f"{_median(ours, 'wall') / _median(other, 'wall'):.2f}")


def _summary(ours: list[dict], base: list[dict]) -> None:
    papers, wall, pages = ours[0]["papers"], _median(ours, "wall"), _median(ours, "pages")
    base_papers, base_wall = base[0]["papers"], _median(base, "wall")
    print(f"papertide: {papers:,} papers ({ours[0]['new']:,} new, {ours[0]['skipped']} skipped) in {wall:.2f} s "
          f"= {papers / wall:,.0f} papers/s end to end (CPU {_median(ours, 'cpu'):.2f} s); "
          f"peak RSS {_median(ours, 'rss_mb'):.0f} MB")
    print(f"  storing the pages: {pages:.2f} s = {papers / pages:,.0f} papers/s "
          f"(CPU {_median(ours, 'cpu_pages'):.2f} s), peak RSS {_median(ours, 'rss_pages_mb'):.0f} MB")
    print(f"  after the last page (the keyword index caught up, the store closed): {_median(ours, 'refresh'):.2f} s")
    print(f"baseline, bare executemany into a plain FTS5 table: {base_papers:,} papers in {base_wall:.2f} s "
          f"= {base_papers / base_wall:,.0f} papers/s (CPU {_median(base, 'cpu'):.2f} s)")
    print(f"papertide / baseline (time): {wall / base_wall:.2f} end to end (target <= 2.5), "
          f"{pages / base_wall:.2f} storing the pages")


if __name__ == "__main__":
    main()
