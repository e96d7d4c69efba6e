"""How wide the one resend window of a digest is (issue: trust, item 10).

A digest is sent twice only if its process dies after the SMTP server holds the whole message
and before papertide has committed `sent`. This measures, per message sent to a local aiosmtpd
over one connection, the whole send (MAIL, RCPT, DATA, the reply, the commit) and the part of it
inside the window: from the last byte of DATA to the committed `sent` (a one-row update in a
SQLite file on its WAL, as the outbox does). The window is mostly the server's own work before
its `250`, which no SMTP client can shorten.

    .venv/bin/python bench/smtp_window.py [--messages 300]
"""

from __future__ import annotations

import argparse
import smtplib
import socket
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from aiosmtpd.controller import Controller


class _Accept:
    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201 - aiosmtpd's hook
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    with socket.socket() as probe:  # a free port on 127.0.0.1
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Controller(_Accept(), hostname="127.0.0.1", port=port)
    server.start()
    body = ("From: a@example.org\r\nTo: b@example.org\r\nSubject: digest\r\nMessage-ID: <1@x>\r\n\r\n"
            + "a line of a digest\r\n" * 2000).encode()  # about 40 KB, a digest's size
    with tempfile.TemporaryDirectory() as folder:
        db = sqlite3.connect(str(Path(folder) / "outbox.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, status TEXT)")
        db.executemany("INSERT INTO outbox VALUES (?, 'sending')", [(n,) for n in range(args.messages)])
        conn = smtplib.SMTP("127.0.0.1", port)
        conn.ehlo()
        whole, window = [], []
        for n in range(args.messages):
            began = time.perf_counter()
            conn.mail("a@example.org")
            conn.rcpt("b@example.org")
            conn.putcmd("data")
            conn.getreply()
            conn.send(body + b"\r\n.\r\n")  # from here on the server holds the whole message
            held = time.perf_counter()
            conn.getreply()
            db.execute("UPDATE outbox SET status = 'sent' WHERE id = ?", (n,))
            done = time.perf_counter()
            whole.append(done - began)
            window.append(done - held)
        conn.quit()
        db.close()
    server.stop()
    p95 = statistics.quantiles(window, n=20)[18]
    print(f"{args.messages} messages of {len(body) / 1000:.0f} KB to a local aiosmtpd: whole send p50 "
          f"{statistics.median(whole) * 1000:.2f} ms; window (message held by the server -> 'sent' committed) "
          f"p50 {statistics.median(window) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms = "
          f"{statistics.median(window) / statistics.median(whole):.0%} of a send")


if __name__ == "__main__":
    main()
