"""Send queued messages over SMTP, each once.

A row goes ``queued`` -> ``sending`` (committed before the message is handed to the
server) -> ``sent`` (committed the moment the server accepts it). A process killed
while a row is ``sending`` leaves it so; the next run, holding the delivery lock
(which a dead process no longer holds), puts it back in the queue and sends the same
bytes with the same Message-ID. The message was accepted twice only if the kill fell
between the server's ``250`` after DATA and the ``sent`` commit: one small SQLite
write, the one unavoidable window of at-least-once delivery over SMTP (docs/digest.md).

Transient failures (no connection, 4xx, a dropped connection) are retried with
exponential backoff; a 5xx for the recipient bounces the subscriber; a 5xx for the
message fails that row; neither stops the batch.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parseaddr
from typing import Any, Callable, Iterable

from papertide.digest.periods import iso, parse_instant
from papertide.errors import SmtpUnavailable
from papertide.settings import Settings
from papertide.store.base import OutboxRow

log = logging.getLogger("papertide.digest")

MAX_BACKOFF = 6 * 3600.0
Clock = Callable[[], datetime]


def utc_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0     # transient failures, queued again with backoff
    failed: int = 0      # gave up: permanent 5xx for the message or too many tries
    bounced: int = 0     # 5xx for the recipient: the subscriber is marked bounced
    recovered: int = 0   # rows a killed run left 'sending', queued again
    left_queued: int = 0  # still queued when the run stopped waiting
    stopped: str = ""    # why delivery stopped early (server unreachable, login refused...)
    seconds: float = 0.0


class Mailer:
    """One SMTP connection at a time, opened on demand and renewed every N messages."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conn: smtplib.SMTP | None = None
        self.used = 0
        self.sender = parseaddr(settings.smtp_from)[1] or settings.smtp_from

    def connect(self) -> None:
        s = self.settings
        if s.smtp_tls not in ("none", "starttls", "ssl"):
            raise SmtpUnavailable(f"smtp_tls is none, starttls or ssl, not {s.smtp_tls!r}")
        try:
            if s.smtp_tls == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout,
                                                      context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
            if s.smtp_tls == "starttls":
                conn.starttls(context=ssl.create_default_context())
        except (smtplib.SMTPNotSupportedError, ssl.SSLError) as exc:
            raise SmtpUnavailable(f"cannot secure the SMTP connection ({s.smtp_tls}): {exc}") from None
        self.conn, self.used = conn, 0
        if s.smtp_user:
            self._login(conn)

    def _login(self, conn: smtplib.SMTP) -> None:
        # Errors name the user, never the password.
        try:
            conn.login(self.settings.smtp_user, self.settings.smtp_password)
        except smtplib.SMTPNotSupportedError:
            self.close()
            raise SmtpUnavailable("the SMTP server offers no login (AUTH); unset smtp_user or use TLS") from None
        except smtplib.SMTPAuthenticationError:
            self.close()
            raise SmtpUnavailable(f"the SMTP server refused the login of {self.settings.smtp_user!r}") from None

    @property
    def ready(self) -> bool:
        """Connected, and the connection may carry another message."""
        if self.conn is not None and self.used >= self.settings.smtp_messages_per_connection:
            self.close()
        return self.conn is not None

    def send(self, row: OutboxRow) -> None:
        conn = self.conn
        if conn is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        self.used += 1
        conn.sendmail(self.sender, [row.email], row.mime or b"")

    def close(self) -> None:
        if self.conn is None:
            return
        try:
            self.conn.quit()
        except (smtplib.SMTPException, OSError):
            self.conn.close()
        self.conn = None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return f"{code} {_text(text)}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def classify(exc: BaseException) -> str:
    """What a send failure means: 'bounced' (recipient refused for good), 'failed' (message
    refused for good), 'stop' (the server refuses our sender), or 'retry' (try later)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code = next(iter(exc.recipients.values()))[0]
        return "bounced" if 500 <= code < 600 else "retry"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return "stop" if 500 <= exc.smtp_code < 600 else "retry"
    if isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600:
        return "failed"
    return "retry"


def backoff(settings: Settings, attempts: int) -> float:
    """Seconds before try number ``attempts + 1``: base, 2 x base, 4 x base... capped at 6 hours."""
    return min(settings.smtp_retry_base * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


class Delivery:
    """One pass over the outbox. The caller holds the store's delivery lock."""

    def __init__(self, store: Any, settings: Settings, *, keys: Iterable[str] = (), max_wait: float = 0.0,
                 clock: Clock = utc_clock, sleep: Callable[[float], None] = time.sleep,
                 progress: Callable[[DeliveryReport], None] | None = None) -> None:
        self.store, self.settings, self.keys = store, settings, list(keys)
        self.clock, self.sleep, self.progress = clock, sleep, progress
        self.deadline = clock() + timedelta(seconds=max_wait)
        self.mailer = Mailer(settings)
        self.report = DeliveryReport()
        self.connect_failures = 0
        self.last_send = 0.0

    def run(self) -> DeliveryReport:
        """Send every due row; wait for retries until ``max_wait`` has passed."""
        started = time.perf_counter()
        self.report.recovered = self.store.recover_outbox()
        try:
            while not self.report.stopped:
                row = self.store.next_due(iso(self.clock()), self.keys)
                if row is None:
                    if not self._wait_for_retry():
                        break
                    continue
                if self._connected():
                    self._attempt(row)
        finally:
            self.mailer.close()
        self.report.left_queued = self.store.outbox_counts().get("queued", 0)
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _wait_for_retry(self) -> bool:
        wake = self.store.next_wakeup(self.keys)
        if wake is None or parse_instant(wake) > self.deadline:
            return False
        self.sleep(max((parse_instant(wake) - self.clock()).total_seconds(), 0.0))
        return True

    def _connected(self) -> bool:
        if self.mailer.ready:
            return True
        try:
            self.mailer.connect()
        except SmtpUnavailable as exc:
            self.report.stopped = str(exc)
            return False
        except (smtplib.SMTPException, OSError) as exc:
            self.connect_failures += 1
            delay = backoff(self.settings, self.connect_failures)
            where = f"{self.settings.smtp_host}:{self.settings.smtp_port}"
            if self.clock() + timedelta(seconds=delay) > self.deadline:
                self.report.stopped = f"SMTP server {where} unreachable ({_describe(exc)}); messages stay queued"
                return False
            log.warning("SMTP server %s unreachable (%s); trying again in %.1f s", where, _describe(exc), delay)
            self.sleep(delay)
            return False
        self.connect_failures = 0
        return True

    def _attempt(self, row: OutboxRow) -> None:
        self._pace()
        if not self.store.claim(row.id, iso(self.clock())):
            return  # taken by someone else since we looked
        try:
            self.mailer.send(row)
        except (smtplib.SMTPException, OSError) as exc:
            self._failed(row, exc)
            return
        self.store.finish(row.id, "sent", iso(self.clock()))  # at once: this is the kill window
        self.report.sent += 1
        if self.progress:
            self.progress(self.report)

    def _pace(self) -> None:
        rate = float(self.settings.smtp_rate_per_second)
        if rate > 0:
            wait = self.last_send + 1.0 / rate - time.monotonic()
            if wait > 0:
                self.sleep(wait)
            self.last_send = time.monotonic()

    def _failed(self, row: OutboxRow, exc: BaseException) -> None:
        kind, error, now = classify(exc), _describe(exc), self.clock()
        if kind in ("bounced", "failed"):
            self.store.finish(row.id, kind, iso(now), error=error)
            setattr(self.report, kind, getattr(self.report, kind) + 1)
            log.warning("%s %s: %s", row.email, kind, error)
            return
        self.mailer.close()
        attempts = row.attempts + 1
        if kind == "stop":
            self.store.finish(row.id, "queued", iso(now), error=error)
            self.report.stopped = f"the SMTP server refuses the sender {self.mailer.sender}: {error}"
        elif attempts >= self.settings.smtp_max_attempts:
            self.store.finish(row.id, "failed", iso(now), error=f"gave up after {attempts} tries: {error}")
            self.report.failed += 1
        else:
            later = now + timedelta(seconds=backoff(self.settings, attempts))
            self.store.finish(row.id, "queued", iso(now), error=error, next_attempt_at=iso(later))
            self.report.retried += 1
            log.info("%s: %s; try %d in %.1f s", row.email, error, attempts + 1, (later - now).total_seconds())
