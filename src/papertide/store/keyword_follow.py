"""Build the in-memory keyword index beside a long ingest, in a process of its own.

A bulk import spends its time in SQLite on one core; working out the keyword index
from the same papers is numpy work that can run on the other. Once an ingest has
written enough papers (``FOLLOW_AFTER``), the store starts ``python -m
papertide.store.keyword_follow DB SCRATCH``: it reads every paper already stored, then each
page's new papers once that page has committed (its own connection, which only reads, a
few thousand papers per statement so that it never holds the writer up for long), and
counts their terms. If the store is on its WAL, a thread of it checkpoints the WAL after
each page, which the writer then leaves to it. When the ingest ends, it reads
again the papers changed after they were counted, checks that it has seen exactly the papers of
the store's current state, and saves the index beside the store; the store then loads
it like any saved index. Anything else (the follower died, fell behind, or saw a
different state) and the store rebuilds the index the ordinary way.

Messages are JSON lines: to the follower ``{"rows": [first_pk, last_pk], "changed": [pk…]}``
and ``{"finish": {"signature": …, "params": …}}``; from it one ``{"ok": …}`` or
``{"error": …}`` line. It exits when its input closes.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import select
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from papertide.index.bm25 import BM25Params
from papertide.index.keyword_index import Builder, PaperRow
from papertide.store.sqlite_util import BUSY_TIMEOUT_MS, _chunks

log = logging.getLogger(__name__)

# glibc's malloc for the follower (other C libraries ignore these): keep freed memory for
# the next chunk's arrays instead of handing it back and faulting it in again, which took
# 200,000 page faults and about 0.5 s of CPU at 80k papers (38,000 faults with these); and
# one arena for its threads, so that what one frees the other reuses.
_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
           "MALLOC_TOP_PAD_": str(64 << 20), "MALLOC_ARENA_MAX": "1"}
FOLLOW_AFTER = 5_000  # papers one ingest writes before its keyword index is built alongside (one default page)
FINISH_TIMEOUT_S = 600.0
LAST_PK = 2**62  # above any paper's key
READ_AT_ONCE = 2048  # papers read in one statement, before any is counted
_COLUMNS = "SELECT pk, id, title, abstract, author_names, published, categories FROM papers"


class KeywordFollower:
    """The writer's side: start the follower, tell it what committed, ask for the index."""

    def __init__(self, db_path: Path) -> None:
        from papertide.store import keyword_files

        folder = keyword_files.folder_for(db_path)
        folder.mkdir(parents=True, exist_ok=True)
        self._scratch = Path(tempfile.mkdtemp(prefix="follow-", dir=folder))
        env = {**_MALLOC, **os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "papertide.store.keyword_follow", str(db_path), str(self._scratch)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=env, start_new_session=True)  # Ctrl-C reaches the writer only
        self.broken: str | None = None

    def committed(self, first: int, last: int, changed: list[int]) -> None:
        """A page committed new papers ``first..last`` (pks) and changed ``changed``."""
        self._send({"rows": [first, last], "changed": changed})

    def finish(self, signature: dict, params: BM25Params) -> bool:
        """Have the follower save the index of the store as it is now; True once saved."""
        self.start_finish(signature, params)
        return self.finished()

    def start_finish(self, signature: dict, params: BM25Params) -> None:
        """Ask for the index of the store as it is now, without waiting (see ``finished``)."""
        self._send({"finish": {"signature": signature, "params": params.as_dict()}})

    def finished(self) -> bool:
        """Wait for the index ``start_finish`` asked for; True once saved."""
        if self.broken:
            return False
        reply = self._reply(FINISH_TIMEOUT_S)
        if reply.get("ok"):
            return True
        self.broken = reply.get("error") or "no answer"
        return False

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for pipe in (self._process.stdin, self._process.stdout):
            try:
                pipe.close()
            except OSError:  # unsent lines for a follower that is gone
                pass
        shutil.rmtree(self._scratch, ignore_errors=True)

    def _send(self, message: dict) -> None:
        if self.broken:
            return
        try:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            self.broken = f"stopped ({exc})"

    def _reply(self, timeout: float) -> dict:
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        line = self._process.stdout.readline() if ready else ""
        try:
            reply = json.loads(line)
        except ValueError:
            code = self._process.poll()
            return {"error": "timed out" if not ready else f"stopped (exit code {code})"}
        return reply if isinstance(reply, dict) else {"error": "garbled answer"}


def follow(db_path: Path, messages, reply, spill: Path | None = None) -> None:
    """The follower's side: count what each message names; on ``finish``, save the index.
    Counted chunks wait in ``spill`` (a scratch folder, removed at the end)."""
    from papertide.store import keyword_files

    folder = keyword_files.folder_for(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    spill = spill or Path(tempfile.mkdtemp(prefix="follow-", dir=folder))
    # It waits as long as the writer would for a lock: on a rollback journal each commit
    # of the writer keeps readers out while it writes.
    db = sqlite3.connect(db_path.resolve().as_uri() + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    # The writer leaves checkpoints to this process while it runs: copying the WAL's pages
    # into the database is I/O better spent here, on a thread, beside the counting.
    checkpoints = Checkpoints(db_path)
    try:
        builder = Builder(spill=spill)
        changed: set[int] = set()
        for line in messages:
            message = json.loads(line)
            if "rows" in message:
                first, last = message["rows"]
                builder.add(paper_rows(db, max(first, builder.last_pk + 1), last))
                changed.update(message.get("changed") or ())
                checkpoints.ask()
            elif "finish" in message:
                answer = _finish(db, builder, changed, folder, **message["finish"])
                checkpoints.wait()  # the pages read are in the database file before the answer
                reply(answer)
                return
    finally:
        checkpoints.close()
        db.close()
        shutil.rmtree(spill, ignore_errors=True)


class Checkpoints:
    """``PRAGMA wal_checkpoint(PASSIVE)`` on a thread and a read-write connection of its
    own, once more after each ``ask`` (SQLite lets go of the GIL while it copies)."""

    def __init__(self, db_path: Path) -> None:
        self._state = threading.Condition()
        self._asked = self._done = 0
        self._stopped = self._gone = False
        self._thread = threading.Thread(target=self._run, args=(db_path,), name="papertide-checkpoints",
                                        daemon=True)
        self._thread.start()

    def ask(self) -> None:
        with self._state:
            self._asked += 1
            self._state.notify_all()

    def wait(self) -> None:
        """Until every checkpoint asked for so far has run (or the thread is gone)."""
        with self._state:
            self._state.wait_for(lambda: self._done >= self._asked or self._gone)

    def close(self) -> None:
        with self._state:
            self._stopped = True
            self._state.notify_all()
        self._thread.join()

    def _run(self, db_path: Path) -> None:
        try:
            db = sqlite3.connect(db_path.resolve().as_uri() + "?mode=rw", uri=True)  # it never writes a row
            try:
                while True:
                    with self._state:
                        self._state.wait_for(lambda: self._asked > self._done or self._stopped)
                        if self._asked == self._done:
                            return
                        asked = self._asked
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    with self._state:
                        self._done = asked
                        self._state.notify_all()
            finally:
                db.close()
        except sqlite3.Error:  # the writer checkpoints again at the end of the import
            pass
        finally:
            with self._state:
                self._gone = True
                self._state.notify_all()


def _finish(db: sqlite3.Connection, builder: Builder, changed: set[int], folder: Path,
            signature: dict, params: dict) -> dict:
    from papertide.store import keyword_files

    started = time.perf_counter()
    db.execute("BEGIN")  # one snapshot for the check and the papers read again
    try:
        uid, generation = db.execute("SELECT store_uid, generation FROM keyword_state WHERE id = 1").fetchone()
        if {"store": uid, "generation": generation} != signature:
            return {"error": f"the store moved on (generation {generation}, expected {signature})"}
        builder.add(paper_rows(db, builder.last_pk + 1))  # nothing, unless a message was lost
        # Only papers whose text changed are counted again, with their chunk: a new
        # date or category (most changes: a second source's earlier date) is just noted.
        for first, last in builder.chunk_spans(builder.update(changed_rows(db, sorted(changed)))):
            builder.recount(list(paper_rows(db, first, last)))
        count = db.execute("SELECT count(*) FROM papers").fetchone()[0]
    finally:
        db.execute("COMMIT")
    if count != len(builder.pks):
        return {"error": f"counted {len(builder.pks)} papers, the store holds {count}"}
    bm25 = BM25Params(k1=params["k1"], b=tuple(params["b"]), weights=tuple(params["weights"]))
    index = builder.finish(bm25, signature)
    keyword_files.save(index, folder)
    return {"ok": True, "papers": index.n_docs, "finish_s": round(time.perf_counter() - started, 3)}


def paper_rows(db: sqlite3.Connection, first: int = 0, last: int = LAST_PK) -> Iterator[PaperRow]:
    """What the keyword index reads of papers ``first..last`` (pks), in pk order.

    Each statement is read to its end before its papers are counted: outside a
    transaction that lets go of the read lock, which a writer on a rollback journal
    (``bulk_ingest``) waits for before it can commit."""
    while rows := _read(db, f"{_COLUMNS} WHERE pk BETWEEN ? AND ? ORDER BY pk LIMIT ?", (first, last, READ_AT_ONCE)):
        yield from rows
        first = rows[-1][0] + 1


def changed_rows(db: sqlite3.Connection, pks: list[int]) -> Iterator[PaperRow]:
    """What the keyword index reads of the papers ``pks`` (those still stored)."""
    for chunk in _chunks(pks):
        yield from _read(db, f"{_COLUMNS} WHERE pk IN ({','.join('?' * len(chunk))})", chunk)


def _read(db: sqlite3.Connection, sql: str, params: tuple | list) -> list[PaperRow]:
    cursor = db.cursor()
    cursor.row_factory = None
    return cursor.execute(sql, params).fetchall()  # SQLite's own tuples; categories stay JSON text


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: python -m papertide.store.keyword_follow DB SCRATCH_FOLDER", file=sys.stderr)
        return 2

    def reply(message: dict) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    # Python's cycle collector far less often (as in a sync, papertide.sync): the row
    # tuples it reads hold no cycles, and it went through them about 480 times.
    gc.set_threshold(100_000, 10, 10)
    try:
        follow(Path(sys.argv[1]), sys.stdin, reply, Path(sys.argv[2]))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the writer falls back to an ordinary rebuild; say why
        reply({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
