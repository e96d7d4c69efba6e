"""Kill a real ``papertide digest run`` in the middle of a batch (SIGKILL, no cleanup) and
check that running it again sends every digest that was not sent, and none twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from digest_support import Hold, env_of, seed

from papertide.store import open_store

TODAY = datetime.now(timezone.utc).date().isoformat()
PAPERTIDE = str(Path(sys.executable).with_name("papertide"))


def start_run(settings) -> subprocess.Popen:
    return subprocess.Popen([PAPERTIDE, "digest", "run", "--date", TODAY], env={**os.environ, **env_of(settings)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_at(smtp_server, settings, hold: Hold) -> None:
    smtp_server.recorder.hold = hold
    process = start_run(settings)
    try:
        assert hold.reached.wait(60), "the run never reached the SMTP server"
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
    finally:
        hold.release.set()
        smtp_server.recorder.hold = None
        if process.poll() is None:
            process.kill()


def outbox(settings) -> dict[str, int]:
    store = open_store(settings.db)
    try:
        return store.outbox_counts()
    finally:
        store.close()


def test_a_run_killed_mid_batch_is_completed_by_the_next(digest_settings, smtp_server, backend: str) -> None:
    settings = digest_settings()
    emails = [f"reader{i:02d}@example.org" for i in range(30)]
    seed(settings, emails)
    # Killed while the server holds the 12th message at RCPT: 11 sent, the 12th not delivered.
    kill_at(smtp_server, settings, Hold("rcpt", at=12))
    assert len(smtp_server.recorder.messages) == 11
    if backend == "sqlite":  # marked 'sending'; the next run puts it back in the queue
        assert outbox(settings) == {"sent": 11, "sending": 1, "queued": 18, "cancelled": 30}
    else:  # PostgreSQL: the claim's transaction died with the worker; the row is queued again
        assert outbox(settings) == {"sent": 11, "queued": 19, "cancelled": 30}
    rerun = subprocess.run([PAPERTIDE, "digest", "run", "--date", TODAY], env={**os.environ, **env_of(settings)},
                           capture_output=True, text=True, timeout=120, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert ("resumed 1" in rerun.stdout) == (backend == "sqlite")
    received = Counter(r for m in smtp_server.recorder.messages for r in m.rcpt_tos)
    assert sorted(received) == emails and set(received.values()) == {1}
    assert outbox(settings) == {"sent": 30, "cancelled": 30}


def test_the_one_window_resends_the_same_bytes(digest_settings, smtp_server) -> None:
    """Killed after the server took the message but before the run recorded it: the one case
    in which a digest arrives twice. It is byte for byte the same, with the same Message-ID,
    so a receiving server or mail client that drops duplicate Message-IDs shows it once."""
    settings = digest_settings()
    emails = [f"reader{i:02d}@example.org" for i in range(8)]
    seed(settings, emails)
    kill_at(smtp_server, settings, Hold("data", at=3))
    rerun = subprocess.run([PAPERTIDE, "digest", "run", "--date", TODAY], env={**os.environ, **env_of(settings)},
                           capture_output=True, text=True, timeout=120, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    received = Counter(r for m in smtp_server.recorder.messages for r in m.rcpt_tos)
    assert sorted(received) == emails
    [(twice, _)] = [(r, n) for r, n in received.items() if n == 2]
    copies = [m for m in smtp_server.recorder.messages if m.rcpt_tos == [twice]]
    assert copies[0].data == copies[1].data and copies[0].message["Message-ID"]
