"""kill -9 at random moments of real `papertide import` runs (fixed seeds): afterwards the store
is whole, the rerun completes it, no paper is lost or doubled in the store or the keyword index,
and no scratch file is left behind."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import tantivy


from papertide.query import parse_query
from papertide.store import Filters, open_store
from papertide.store.keyword import STATE_ID

PAPERTIDE = str(Path(sys.executable).with_name("papertide"))
KILLS = 30 if os.environ.get("PAPERTIDE_ATTACK_LONG") == "1" else 6  # scripts/attack --long: soak size
STEP, SPAN = 3000, 8000  # run k imports papers k*STEP .. k*STEP+SPAN: new ones, and changes to earlier ones
assert KILLS * STEP + SPAN <= 100_000  # ids 2508.00000 .. 2508.99999


def _records(path: Path, run: int) -> Path:
    with path.open("w") as out:
        for n in range(run * STEP, run * STEP + SPAN):
            out.write(json.dumps({"id": f"2508.{n:05d}", "title": f"Paper {n} as of run {run}",
                                  "abstract": f"About word{n} and the rest " * 20, "authors": [f"Author {n}"],
                                  "categories": ["cs.CV"], "first_seen": "2026-08-01",
                                  "updated": (date(2026, 8, 1) + timedelta(days=run)).isoformat()}) + "\n")
    return path


def _import(db: Path, *data: Path) -> subprocess.Popen:
    return subprocess.Popen([PAPERTIDE, "--db", str(db), "import", *map(str, data)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={"PAPERTIDE_BATCH_SIZE": "500", "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("seed", [7, 11])
def test_imports_killed_at_random_moments_lose_and_double_nothing(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    db = tmp_path / "kills.db"
    files = [_records(tmp_path / f"run{k}.jsonl", k) for k in range(KILLS)]
    killed = 0
    for data in files:
        run = _import(db, data)
        time.sleep(rng.uniform(0.1, 1.0))  # a random moment of the run (about 1 s long): the point of the test
        if run.poll() is None:
            run.send_signal(signal.SIGKILL)
            killed += 1
        run.wait(60)
    print(f"seed {seed}: {killed} of {KILLS} imports killed with SIGKILL")  # scripts/attack reports it
    assert killed >= KILLS // 2, f"only {killed} of {KILLS} runs were killed before they finished"
    assert _import(db, *files).wait(300) == 0  # the rerun completes every file, in order

    papers = KILLS * STEP + SPAN - STEP
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = dict(conn.execute("SELECT id, title FROM papers").fetchall())
        stored = conn.execute("SELECT count(*) FROM papers").fetchone()[0]
    assert stored == len(rows) == papers  # nothing lost, nothing doubled in the store
    last_run = {f"2508.{n:05d}": min(n // STEP, KILLS - 1) for n in range(papers)}
    assert all(rows[pid] == f"Paper {int(pid[5:])} as of run {k}" for pid, k in last_run.items())  # no lost update
    store = open_store(str(db))
    try:
        searcher = store._fresh_index().searcher()
        hits = searcher.search(tantivy.Query.all_query(), searcher.num_docs + 1, count=False).hits
        indexed = [pid for pid in (searcher.doc(a)["id"][0] for _, a in hits) if pid != STATE_ID]
        assert len(indexed) == len(set(indexed)) == papers  # ... nor in the keyword index
        assert [pid for pid, _ in store.keyword_search(parse_query("word4321"), Filters(), 5)] == ["2508.04321"]
    finally:
        store.close()
    leftovers = [p.name for p in tmp_path.rglob("*") if ".tmp" in p.name or p.name.endswith("-journal")]
    assert leftovers == []
