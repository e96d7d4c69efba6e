"""The digest scheduler inside ``papertide serve``: a background thread that runs the
due digests once a minute.

Several web workers may each start one: every tick tries the store's delivery lock
without waiting, so one worker runs while the others skip that minute, and the
outbox's idempotency keys would stop a digest from being queued twice anyway.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from papertide.digest.runner import run_digests
from papertide.errors import DigestBusy, PapertideError
from papertide.settings import Settings
from papertide.store import open_store

log = logging.getLogger("papertide.digest")


class DigestScheduler:
    """A daemon thread; ``stop()`` ends it after the current tick."""

    def __init__(self, settings: Settings, interval: float = 60.0) -> None:
        self.settings = settings
        self.interval = interval
        self.ticks = 0
        self._ticked = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="papertide-digest", daemon=True)

    def start(self) -> "DigestScheduler":
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def wait_ticks(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` ticks have run; False on timeout."""
        with self._ticked:
            return self._ticked.wait_for(lambda: self.ticks >= count, timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            # Wake at the start of the next interval (minute), or at once when stopped.
            self._stop.wait(self.interval - time.time() % self.interval)

    def tick(self) -> None:
        """Run what is due now; never raises, so one bad minute does not end the thread."""
        try:
            store = open_store(self.settings.db, index_dir=self.settings.index_dir)
        except PapertideError as exc:
            log.warning("digest scheduler: %s", exc)
            return
        try:
            report = run_digests(store, self.settings, blocking=False, max_wait=0.0)
            if report.queue.due or (report.delivery and (report.delivery.sent or report.delivery.stopped)):
                log.info("digest scheduler: %s", report.as_dict())
        except DigestBusy:
            pass  # another worker or a cron run is on it
        except (PapertideError, sqlite3.Error, OSError) as exc:
            log.warning("digest scheduler: %s", exc)
        finally:
            store.close()
            with self._ticked:
                self.ticks += 1
                self._ticked.notify_all()


def start(settings: Settings, interval: float = 60.0) -> DigestScheduler:
    """Start the scheduler thread (``papertide serve`` calls this) and return it."""
    return DigestScheduler(settings, interval).start()
