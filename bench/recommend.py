"""What recommendations cost: updating everyone after a sync, and the "For you" page.

Targets (issue 15): updating the recommendations of 1,000 people with libraries of 20 papers
after a sync of 2,000 new papers takes <= 60 s on 2 cores at 80k stored papers; the "For you"
page answers in <= 50 ms p50.

On a copy of the store given (default: import the shared arXiv and Hugging Face files), the
newest 2,000 papers play the sync's new papers: 1,000 people get 20 random older papers each,
are scored once over everything older (not timed), then ``update`` scores the 2,000 for all
of them (timed: what ``papertide sync`` runs after storing the papers). The baseline, in the
same run, is the plainest recommender over the same batch: one tf-idf fit and the cosine to
each library's centroid. Then the "For you" page is asked 200 times for random people through
the real app (in-process HTTP, a signed-in session), beside the trending page as a baseline.

    .venv/bin/python bench/recommend.py [--db STORE] [--people 1000] [--library 20] [--new 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def prepare(db: Path, people: int, library: int, new: int) -> int:
    from papertide.model import utc_now
    from papertide.store import open_store
    from papertide.store.base import LibraryEntry

    store = open_store(str(db))
    try:
        watermark = store.paper_watermark()
        older = store.paper_texts(after_pk=0)
        older = [t for t in older if t.pk <= watermark - new]
        rng = random.Random(15)
        for n in range(people):
            person = store.ensure_person(f"p{n}@bench.test", utc_now())
            picks = rng.sample(older, library)
            store.add_entries(person.id, [LibraryEntry(title=t.title, paper_id=t.id, abstract=t.abstract,
                                                       authors=t.authors, added_at=utc_now()) for t in picks])
            # As if scored up to the sync: only the new papers remain to score.
            store.save_recommendations(person.id, [], replace=True, seq=watermark - new, now=utc_now(), keep=200)
        return watermark
    finally:
        store.close()


def timed_update(db: Path) -> float:
    from papertide.app.recommend import update
    from papertide.store import open_store

    store = open_store(str(db))
    try:
        started = time.perf_counter()
        counts = update(store)
        took = time.perf_counter() - started
        assert counts["updated"] > 0, counts
        return took
    finally:
        store.close()


def timed_baseline(db: Path, new: int) -> float:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    from papertide.store import open_store

    store = open_store(str(db))
    try:
        started = time.perf_counter()
        watermark = store.paper_watermark()
        candidates = store.paper_texts(after_pk=watermark - new)
        people = store.people()
        libraries = {p.id: [e.paper_id for e in store.library(p.id)] for p in people}
        texts = {c.id: f"{c.title}. {c.abstract}" for c in candidates}
        wanted = {pid for ids in libraries.values() for pid in ids} - set(texts)
        texts.update((t.id, f"{t.title}. {t.abstract}") for t in store.paper_texts(ids=wanted))
        keys = list(texts)
        row = {k: i for i, k in enumerate(keys)}
        X = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_df=0.5, stop_words="english",
                            dtype=np.float32).fit_transform([texts[k] for k in keys]).tocsr()
        C = X[[row[c.id] for c in candidates]]
        for ids in libraries.values():
            scores = C @ np.asarray(X[[row[i] for i in ids]].mean(axis=0)).ravel()
            np.argsort(-scores)[:200]
        return time.perf_counter() - started
    finally:
        store.close()


def page_times(db: Path, people: int, requests: int) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from papertide.settings import Settings
    from papertide.store import open_store
    from papertide.web.app import create_app

    store = open_store(str(db))
    cookies = []
    try:
        for n in random.Random(1).sample(range(people), min(people, 50)):
            person = store.person(email=f"p{n}@bench.test")
            cookie = f"bench-session-{n:04d}-" + "x" * 20
            store.add_session(person.id, hashlib.sha256(cookie.encode()).hexdigest(), "2026-01-01T00:00:00Z",
                              "2999-01-01T00:00:00Z")
            cookies.append(cookie)
    finally:
        store.close()
    quiet = logging.getLogger("papertide.access")  # one JSON line per request would drown the figures
    quiet.addHandler(logging.NullHandler())
    quiet.setLevel(logging.WARNING)
    settings = Settings({"db": str(db), "rate_limit_search": 0, "embed_every_seconds": 0, "digest_scheduler": False,
                         "web_cache_seconds": 60, "allowed_hosts": "testserver"}, environ={})
    out = {}
    with TestClient(create_app(settings)) as client:
        for label, path in (("trending page (baseline)", "/"), ("for you page", "/for-you")):
            times = []
            for n in range(requests):
                client.cookies.set("pt_session", cookies[n % len(cookies)])
                started = time.perf_counter()
                answer = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, answer.status_code
            out[label] = statistics.median(times[5:])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="a SQLite store to copy (default: import the shared files into a new one)")
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--library", type=int, default=20)
    parser.add_argument("--new", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        if args.db:
            shutil.copy(args.db, db)
        else:
            papertide = str(Path(sys.executable).with_name("papertide"))
            subprocess.run([papertide, "--db", str(db), "import", str(DATA / "arxiv/arxiv_cs_2025-2026.jsonl.gz"),
                            str(DATA / "hf/hf_daily_papers_2024-05_to_2026-08.jsonl.gz")], check=True,
                           stdout=subprocess.DEVNULL)
        from papertide.store import open_store

        store = open_store(str(db))
        stored = store.count()
        store.close()
        prepare(db, args.people, args.library, args.new)
        update_s = timed_update(db)
        baseline_s = timed_baseline(db, args.new)
        pages = page_times(db, args.people, args.requests)
    print(f"{stored:,} papers stored; {args.people:,} people with {args.library} papers each; {args.new:,} new papers")
    print(f"update after the sync:     {update_s:6.1f} s   (target <= 60 s)")
    print(f"baseline, tf-idf centroid: {baseline_s:6.1f} s   (papertide / baseline {update_s / baseline_s:.1f}x)")
    for label, ms in pages.items():
        print(f"{label + ' p50:':26} {ms:6.1f} ms" + ("  (target <= 50 ms)" if "for you" in label else ""))


if __name__ == "__main__":
    main()
