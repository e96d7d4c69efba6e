"""How fast trending is over 100,000 papers and 1,000,000 signal observations.

Targets (issue 4): <= 200 ms for a window, <= 300 ms with a topic filter, store warm.

Builds a temporary store by bulk SQL (the schema comes from papertide's own
migrations): real titles and abstracts from the shared arXiv and Hugging Face
files (``../shared/data`` beside the checkout), cycled to 100,000 papers published
over two years, and 1,000,000 observations shaped like real ones: Hugging Face
upvotes and comments climbing over the days after a paper is featured, GitHub
stars growing (and sometimes dropping) over months, local saves and clicks.
Then times ``papertide.rank.trending.trending`` plus the ``get_many`` the command
does for titles, as of the newest day, for each window and with a topic, and
reports medians, the slowest run, peak Python allocation (tracemalloc) and the
process's peak RSS.

    .venv/bin/python bench/trending.py [--papers 100000] [--observations 1000000] [--runs 7]
                                       [--keep /tmp/trending_bench.db]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from papertide.app.trending import trending
from papertide.rank.trending import parse_at
from papertide.settings import Settings
from papertide.store import open_store

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
END = date(2026, 8, 21)
TOPICS = ["inference efficiency", "adaptive reasoning", "agentic systems", "medical image segmentation",
          "diffusion models", "video generation", "reinforcement learning from human feedback"]
CATEGORIES = ["cs.CV", "cs.CL", "cs.AI", "cs.LG", "eess.IV", "q-bio.QM"]


def texts() -> Iterator[tuple[str, str, list[str]]]:
    """(title, abstract, authors) from the shared files, forever."""
    rows = []
    with gzip.open(DATA / "arxiv" / "arxiv_cs_2025-2026.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            obj = json.loads(line)
            rows.append((obj["title"], obj.get("abstract") or "", obj.get("authors") or []))
    with gzip.open(DATA / "hf" / "hf_daily_papers_2024-05_to_2026-08.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            paper = json.loads(line)["paper"]
            rows.append((paper.get("title") or "", paper.get("summary") or "",
                         [a.get("name", "") for a in paper.get("authors") or [] if isinstance(a, dict)]))
    return itertools.cycle(rows)


def insert_papers(db, count: int, rnd: random.Random) -> list[tuple[int, date]]:
    """Bulk-insert ``count`` papers published over the two years before END."""
    source = texts()
    rows, cats = [], []
    for n in range(count):
        title, abstract, authors = next(source)
        day = END - timedelta(days=rnd.randrange(730))
        cat = rnd.choice(CATEGORIES)
        rows.append((n + 1, f"2500.{n:05d}", f"{title} [{n}]", abstract, json.dumps(authors), "\n".join(authors),
                     json.dumps([cat]), cat, day.isoformat()))
        cats.append((cat, n + 1))
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO papers (pk, id, title, abstract, authors, author_names, categories, primary_category, "
        "published, meta_source, added_at, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'bench', '', '')", rows)
    db.executemany("INSERT INTO paper_categories (category, pk) VALUES (?, ?)", cats)
    db.execute("COMMIT")
    return [(r[0], date.fromisoformat(r[8])) for r in rows]


def series(rnd: random.Random, pk: int, day: date, kind: str) -> Iterator[tuple]:
    """A cumulative signal's observations after publication (only changes, like the store keeps)."""
    source, scale, steps, jump = {
        "upvotes": ("hf-daily", 4.0, 12, 15), "comments": ("hf-daily", 4.0, 4, 2),
        "github_stars": ("github", 60.0, 30, 40), "saves": ("local", 20.0, 6, 1),
        "clicks": ("local", 10.0, 10, 3)}[kind]
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=rnd.random() * 3)
    value = 0.0
    for offset in sorted(rnd.expovariate(1 / scale) for _ in range(rnd.randrange(1, steps))):
        when = start + timedelta(days=offset)
        value = max(0.0, value + rnd.randrange(-jump // 4 if kind == "github_stars" else 1, jump + 1))
        yield (pk, kind, source, when.replace(microsecond=0).isoformat(), value)


def observations(rnd: random.Random, papers: list[tuple[int, date]], total: int) -> list[tuple]:
    """``total`` observations known by the end of END, over a third of the papers."""
    limit = datetime(END.year, END.month, END.day, 23, 59, 59, tzinfo=timezone.utc).isoformat()
    out: dict[tuple, tuple] = {}  # by primary key: two steps may land in the same second
    for pk, day in rnd.sample(papers, len(papers)):
        if len(out) >= total:
            break
        stamp = datetime(day.year, day.month, day.day, tzinfo=timezone.utc).isoformat()
        out[(pk, "hf_featured", "hf-daily", stamp)] = (pk, "hf_featured", "hf-daily", stamp, 1.0)
        for kind in ("upvotes", "comments", "github_stars", "saves", "clicks"):
            out.update((o[:4], o) for o in series(rnd, pk, day, kind) if o[3] <= limit)
    return list(out.values())[:total]


def build(path: Path, n_papers: int, n_obs: int) -> None:
    rnd = random.Random(20260821)
    store = open_store(str(path))
    started = time.perf_counter()
    papers = insert_papers(store.db, n_papers, rnd)
    obs = observations(rnd, papers, n_obs)
    store.db.execute("BEGIN")
    store.db.executemany("INSERT INTO signals (pk, kind, source, observed_at, value) "
                         "VALUES (?, ?, ?, ?, ?)", sorted(obs))
    store.db.execute("COMMIT")
    store.db.execute("ANALYZE")
    stats = store.stats()
    store.close()
    print(f"built {stats['papers']:,} papers, {stats['signals']:,} observations in "
          f"{time.perf_counter() - started:.0f}s: {path}", file=sys.stderr)


@dataclass
class Timing:
    """Wall-clock ms (median, slowest) and CPU ms (median) of one query, and papers it scored."""

    median: float
    slowest: float
    cpu: float
    scored: int

    def row(self, label: str) -> str:
        return f"| {label} | {self.median:.1f} | {self.slowest:.1f} | {self.cpu:.1f} | {self.scored} |"


def measure(store, settings: Settings, runs: int, **kwargs) -> Timing:
    """Trending + the get_many the command does for titles, after one warm-up.

    CPU time (this process, SQLite included) is reported beside wall time: on a
    shared machine it shows the cost of the query itself, whatever else runs.
    """
    def once() -> int:
        result = trending(store, settings, at=parse_at(END.isoformat()), limit=20, **kwargs)
        store.get_many(result.ranking.ids)
        return len(result.ranking.ids) - result.filled
    once()
    wall, cpu, scored = [], [], 0
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        scored = once()
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return Timing(statistics.median(wall), max(wall), statistics.median(cpu), scored)


def _rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _allocated(store, settings: Settings, **kwargs) -> float:
    """Peak MiB Python allocates during one call (tracemalloc)."""
    tracemalloc.start()
    trending(store, settings, at=parse_at(END.isoformat()), limit=20, **kwargs)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def run(path: Path, runs: int) -> None:
    store = open_store(str(path))
    settings = Settings(environ={})
    stats = store.stats()
    print(f"store: {stats['papers']:,} papers, {stats['signals']:,} observations; as of {END}, limit 20, "
          f"{runs} runs each after one warm-up; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    print("| query | median ms | slowest ms | median CPU ms | papers with a score (of 20) |\n|---|---|---|---|---|")
    for window in ("day", "week", "month"):
        print(measure(store, settings, runs, window=window).row(f"window={window}"))
    print(measure(store, settings, runs, window="week", categories=["cs.CV"]).row("window=week --category cs.CV"))
    month, rss_windows = _allocated(store, settings, window="month"), _rss()
    for window in ("day", "week", "month"):
        each = [measure(store, settings, max(1, runs // 2), window=window, topic=t) for t in TOPICS]
        print(Timing(statistics.median(t.median for t in each), max(t.slowest for t in each),
                     statistics.median(t.cpu for t in each), int(statistics.median(t.scored for t in each)))
              .row(f"window={window} --topic (median of {len(TOPICS)} topics)"))
    topical = _allocated(store, settings, window="month", topic=TOPICS[0])
    print(f"\nmemory: one month call allocates at most {month:.1f} MiB ({topical:.1f} MiB with a topic); "
          f"process peak RSS {rss_windows:.0f} MiB after the window queries, {_rss():.0f} MiB after the "
          f"topic queries (the keyword search's own index included); load average now "
          f"{os.getloadavg()[0]:.1f}")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="Build (or reuse) the store at this path instead of a temp one.")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"shared data not found at {DATA}")
    if args.build_only:
        build(args.keep, args.papers, args.observations)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "trending_bench.db"
        if not path.exists():
            # In a child process, so the peak RSS reported below is the queries' alone.
            subprocess.run([sys.executable, __file__, "--build-only", "--keep", str(path), "--papers",
                            str(args.papers), "--observations", str(args.observations)], check=True)
        run(path, args.runs)


if __name__ == "__main__":
    main()
