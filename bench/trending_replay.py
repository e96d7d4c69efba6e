"""Check trending against reality: replay the Hugging Face history week by week.

The shared Hugging Face file (``../shared/data/hf/``) holds every daily-papers item
of 2024-05 .. 2026-08 with its ``_listing_date`` (the day it was featured), the
paper's ``publishedAt`` and its *final* upvotes. This script imports it with
``papertide import`` into a fresh store (and, unless ``--hf-only``, a second store
that also holds the 74,728 arXiv papers of the shared arXiv file, as a real
install would), then for every week (Monday..Sunday) computes, as of Sunday
23:59:59 UTC, through ``papertide.rank.trending.trending(..., window="week", at=...)``:

* **trending, leak-free** — only what was known that Sunday: which papers Hugging
  Face featured and when (``hf_featured``), plus publication dates. Upvotes,
  comments and stars get weight 0, because the file only has their *final*
  values, i.e. values from the future;
* **trending, as imported** — all default weights. The import records each final
  count as observed on the listing day, so this ranking sees the answer; it is an
  upper bound showing what the age decay and the other weights cost, not a forecast;
* **recency** — the 20 most recently published papers (what papertide shows
  without signals).

The truth for a week is its 20 featured papers with the most final upvotes.
Reported per ranker: mean precision@20 over the weeks with at least 20 featured
papers, and the mean Spearman correlation, within each week's featured papers,
between the ranker's score (0 if unlisted) and the final upvotes.

    .venv/bin/python bench/trending_replay.py [--hf-only] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from papertide.model import split_arxiv_id
from papertide.app.trending import trending
from papertide.rank.trending import TrendingParams
from papertide.settings import Settings
from papertide.sources import get_source
from papertide.sources.base import SyncRequest
from papertide.store import open_store
from papertide.app.sync import run_sync

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HF_FILE = DATA / "hf" / "hf_daily_papers_2024-05_to_2026-08.jsonl.gz"
ARXIV_FILE = DATA / "arxiv" / "arxiv_cs_2025-2026.jsonl.gz"
TOP = 20
LEAKY = ("upvotes", "comments", "github_stars")


@dataclass
class Truth:
    """What the file says about one paper."""

    listed: str            # first listing day
    upvotes: float         # final upvotes


@dataclass
class Scores:
    """Per-week measurements of one ranker."""

    precision: list[float] = field(default_factory=list)
    spearman: list[float] = field(default_factory=list)
    undefined: int = 0     # weeks where the ranker gave every featured paper the same score


def load_truth() -> dict[str, Truth]:
    truth: dict[str, Truth] = {}
    with gzip.open(HF_FILE, "rt", encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            pid = split_arxiv_id(item["paper"]["id"])[0]
            day, votes = item["_listing_date"], float(item["paper"].get("upvotes") or 0)
            old = truth.get(pid)
            truth[pid] = Truth(min(day, old.listed) if old else day, max(votes, old.upvotes if old else 0.0))
    return truth


def build(path: Path, files: list[Path]) -> None:
    store = open_store(str(path))
    settings = Settings({"db": str(path)}, environ={})
    started = time.perf_counter()
    report = run_sync(get_source("files", settings), SyncRequest(paths=[str(f) for f in files]), store)
    print(f"imported {report.new:,} papers, {report.signals:,} observations into {path.name} "
          f"in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    store.close()


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rho (Pearson on average ranks); None if either side is constant."""
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx, vy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return None if vx == 0 or vy == 0 else cov / (vx * vy) ** 0.5


def weeks(truth: dict[str, Truth]) -> list[tuple[date, list[str]]]:
    """(Monday, ids featured that week) for every week with at least TOP featured papers."""
    by_week: dict[date, list[str]] = {}
    for pid, t in truth.items():
        day = date.fromisoformat(t.listed)
        by_week.setdefault(day - timedelta(days=day.weekday()), []).append(pid)
    return [(monday, ids) for monday, ids in sorted(by_week.items()) if len(ids) >= TOP]


def known_by_recency(published: dict[str, str]) -> list[str]:
    """Every paper, newest published first (then larger id first), for the recency ranker."""
    ids = sorted(published, reverse=True)
    return sorted(ids, key=lambda pid: published[pid], reverse=True)


def recency(newest_first: list[str], published: dict[str, str], truth: dict[str, Truth], on_arxiv: set[str],
            at: date) -> list[str]:
    """The TOP newest papers the store held at ``at``: published by then, and if they
    came only from Hugging Face, featured by then (the store learnt of them that day)."""
    day, out = at.isoformat(), []
    for pid in newest_first:
        if published[pid] > day:
            continue
        if pid in on_arxiv or (pid in truth and truth[pid].listed <= day):
            out.append(pid)
            if len(out) == TOP:
                break
    return out


def evaluate(store, settings: Settings, truth: dict[str, Truth], params: TrendingParams | None,
             on_arxiv: set[str]) -> Scores:
    """One ranker over every week; ``params`` None means recency."""
    scores = Scores()
    published = {pid: day for pid, day in store.published_dates(
        [*truth, *on_arxiv]).items() if day}
    newest_first = known_by_recency(published)
    for monday, featured in weeks(truth):
        at = datetime.combine(monday + timedelta(days=6), datetime.max.time(), timezone.utc).replace(microsecond=0)
        if params is None:
            listed = recency(newest_first, published, truth, on_arxiv, at.date())
            score = {pid: float(date.fromisoformat(published[pid]).toordinal()) for pid in featured
                     if pid in published}
        else:
            result = trending(store, settings, window="week", at=at, limit=1000, params=params)
            listed = result.ranking.ids[:TOP]
            score = dict(zip(result.ranking.ids, result.ranking.scores))
        best = sorted(featured, key=lambda pid: (-truth[pid].upvotes, pid))[:TOP]
        scores.precision.append(len(set(listed) & set(best)) / TOP)
        rho = spearman([score.get(pid, 0.0) for pid in featured], [truth[pid].upvotes for pid in featured])
        if rho is None:
            scores.undefined += 1
        else:
            scores.spearman.append(rho)
    return scores


def arxiv_ids() -> set[str]:
    with gzip.open(ARXIV_FILE, "rt", encoding="utf-8") as handle:
        return {split_arxiv_id(json.loads(line)["id"])[0] for line in handle}


def report(name: str, store_path: Path, truth: dict[str, Truth], on_arxiv: set[str]) -> None:
    store = open_store(str(store_path))
    settings = Settings({"db": str(store_path)}, environ={})
    default = TrendingParams.from_settings(settings)
    leak_free = TrendingParams({k: (0.0 if k in LEAKY else w) for k, w in default.weights.items()},
                               default.gravity, default.age_scale_days)
    no_decay = TrendingParams(default.weights, 0.0, default.age_scale_days)
    print(f"\n**{name}** ({store.count():,} papers; {len(weeks(truth))} weeks with >= {TOP} featured papers)\n")
    print("| ranker | precision@20 (mean) | Spearman rho (mean) | weeks with rho undefined |\n|---|---|---|---|")
    for label, params in (("recency (newest papers known then)", None),
                          ("trending, leak-free (featured + age)", leak_free),
                          ("trending, as imported (final counts: upper bound)", default),
                          ("trending, as imported, gravity 0 (no age decay)", no_decay)):
        s = evaluate(store, settings, truth, params, on_arxiv)
        rho = f"{sum(s.spearman) / len(s.spearman):.3f}" if s.spearman else "n/a"
        print(f"| {label} | {sum(s.precision) / len(s.precision):.3f} | {rho} | {s.undefined} |")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hf-only", action="store_true", help="Skip the store with the arXiv papers too.")
    parser.add_argument("--keep", type=Path, help="Build (or reuse) the stores in this folder.")
    args = parser.parse_args()
    if not HF_FILE.is_file():
        sys.exit(f"shared data not found at {DATA}")
    truth = load_truth()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        stores = [("Hugging Face papers only", folder / "replay_hf.db", [HF_FILE], set())]
        if not args.hf_only:
            stores.append(("arXiv + Hugging Face papers", folder / "replay_union.db", [ARXIV_FILE, HF_FILE],
                           arxiv_ids()))
        for name, path, files, on_arxiv in stores:
            if not path.exists():
                build(path, files)
            report(name, path, truth, on_arxiv)


if __name__ == "__main__":
    main()
