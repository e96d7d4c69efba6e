"""Digest benchmark: 10,000 confirmed subscribers with 1-5 topics each over the shared papers.

    .venv/bin/python bench/digest.py [--db STORE] [--subscribers 10000] [--no-send]

Without --db, the two shared data files are imported into a temporary store first
(about a minute). Subscribers follow a seeded random mix of trending (overall or in a
category), saved searches (the 250 topical queries of ../shared/data/eval), authors
(drawn from the store) and categories; 80 % daily, 20 % weekly, across time zones.
Every one gets a first digest covering every stored paper (the heaviest case: the
whole store is "new"), composed, rendered and queued in one timed run; then the outbox
is sent to a local SMTP server (aiosmtpd, in its own process) and the rate measured.
Figures go to stdout; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from papertide.digest import periods
from papertide.digest.deliver import Delivery
from papertide.digest.outbox import queue_due
from papertide.settings import Settings
from papertide.store import Filters, open_store

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATA = [SHARED / "arxiv" / "arxiv_cs_2025-2026.jsonl.gz", SHARED / "hf" / "hf_daily_papers_2024-05_to_2026-08.jsonl.gz"]
ZONES = ["UTC", "Europe/Paris", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Tokyo",
         "Asia/Kolkata", "Australia/Sydney", "America/Sao_Paulo", "Africa/Nairobi"]
# A counting SMTP server: aiosmtpd in a separate process, so it does not share our GIL.
SERVER = """
import asyncio, signal, sys
from aiosmtpd.controller import Controller
class Count:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Count.n += 1
        return '250 OK'
c = Controller(Count(), hostname='127.0.0.1', port=int(sys.argv[1]))
c.start()
print('ready', flush=True)
sys.stdin.read()
c.stop()
print(Count.n, flush=True)
"""


def rss_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_store(path: Path) -> None:
    started = time.perf_counter()
    papertide = Path(sys.executable).with_name("papertide")
    subprocess.run([str(papertide), "--db", str(path), "import", *map(str, DATA)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    print(f"store built in {time.perf_counter() - started:.0f} s")


def topic_pool(store) -> dict[str, list]:
    queries = [json.loads(line)["query"] for line in (SHARED / "eval" / "topical_dev.jsonl").open()]
    papers = store.get_many(pid for pid, _ in store.recent(Filters(), 20000))
    counts: dict[str, int] = {}
    cats: dict[str, int] = {}
    for paper in papers.values():
        for author in paper.authors:
            counts[author] = counts.get(author, 0) + 1
        for cat in paper.categories:
            cats[cat] = cats.get(cat, 0) + 1
    authors = sorted((a for a, n in counts.items() if n >= 3), key=lambda a: (-counts[a], a))[:1000]
    categories = sorted((c for c, n in cats.items() if n >= 200), key=lambda c: -cats[c])
    return {"queries": queries, "authors": authors, "categories": categories}


def random_follows(rng: random.Random, pool: dict[str, list]) -> dict:
    follows: dict[str, list] = {"trending": [], "searches": [], "authors": [], "categories": []}
    for _ in range(rng.randint(1, 5)):
        kind = rng.choices(["trending", "search", "author", "category"], weights=[2, 4, 2, 2])[0]
        if kind == "trending":
            cats = [rng.choice(pool["categories"][:12])] if rng.random() < 0.5 else []
            follows["trending"].append({"categories": cats, "window": ""})
        elif kind == "search":
            follows["searches"].append({"query": rng.choice(pool["queries"]), "mode": "keyword", "categories": []})
        elif kind == "author":
            follows["authors"].append(rng.choice(pool["authors"]))
        else:
            follows["categories"].append(rng.choice(pool["categories"]))
    return follows


def add_subscribers(store, count: int, pool: dict[str, list], now: datetime) -> None:
    rng = random.Random(6)
    stamp = periods.iso(now - timedelta(days=2))
    for i in range(count):
        pending = {"follows": random_follows(rng, pool), "frequency": "weekly" if rng.random() < 0.2 else "daily",
                   "hour": rng.randint(5, 9), "tz": rng.choice(ZONES), "max_papers": rng.choice([10, 20, 30])}
        sub = store.save_request(f"reader{i:05d}@lab{i % 37}.example.org", pending, "n", stamp)
        store.confirm_subscriber(sub.id, "n", stamp)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send_all(store, settings: Settings) -> tuple[int, float, int]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        if server.stdout.readline().strip() != "ready":
            raise SystemExit("the SMTP server did not start")
        settings = settings.replace(smtp_port=port)
        started, cpu = time.perf_counter(), time.process_time()
        with store.digest_lock():
            report = Delivery(store, settings).run()
        seconds = time.perf_counter() - started
        print(f"  (sender CPU {time.process_time() - cpu:.1f} s; load average {os.getloadavg()[0]:.1f})")
    finally:
        received, _ = server.communicate("", timeout=60)
    return report.sent, seconds, int(received.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="Use this store (it gets the subscribers) instead of building one.")
    parser.add_argument("--subscribers", type=int, default=10000)
    parser.add_argument("--no-send", action="store_true", help="Compose only.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db) if args.db else Path(tmp) / "bench.db"
        if not args.db:
            build_store(path)
        run(path, args.subscribers, not args.no_send)


def run(path: Path, count: int, send: bool) -> None:
    store = open_store(str(path))
    now = datetime.now(timezone.utc)
    settings = Settings({"db": str(path), "digest_max_age_days": 0, "base_url": "https://papers.example.org",
                         "secret_key": "bench", "smtp_host": "127.0.0.1"})
    print(f"papers: {store.count():,}")
    if not store.count():
        raise SystemExit("the store holds no papers")
    pool = topic_pool(store)
    add_subscribers(store, count, pool, now)
    print(f"subscribers: {count:,} (pool: {len(pool['queries'])} searches, {len(pool['authors'])} authors, "
          f"{len(pool['categories'])} categories); peak memory before composing {rss_mib():.0f} MiB")
    started, cpu = time.perf_counter(), time.process_time()
    report = queue_due(store, settings, now=now, day=now.date(), lookback=timedelta(days=36500))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"compose+render+queue: {report.queued:,} digests ({report.empty:,} empty, {report.papers:,} papers) "
          f"in {seconds:.1f} s wall, {cpu:.1f} s CPU = {report.queued / seconds:,.0f} digests/s; "
          f"peak memory {rss_mib():.0f} MiB; load average {os.getloadavg()[0]:.1f}")
    if send:
        sent, took, received = send_all(store, settings)
        print(f"send: {sent:,} messages in {took:.1f} s = {sent / took:,.0f} messages/s "
              f"(server received {received:,}); peak memory {rss_mib():.0f} MiB")
    store.close()


if __name__ == "__main__":
    main()
