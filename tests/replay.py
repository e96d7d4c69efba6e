"""A real HTTP server on 127.0.0.1 that replays scripted responses, for connector tests.

Replies are keyed by path and query (query parameters compared as a sorted
list, so their order does not matter). Several replies under one key are
served in turn, the last one repeating. A callable handler can answer instead.
A reply can carry any status and headers (``Retry-After``) and can drop the
connection after part of its body. Every request received is recorded.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import parse_qsl, urlsplit

QueryKey = tuple[tuple[str, str], ...]


@dataclass
class Reply:
    """One scripted response."""

    body: bytes | str = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/xml; charset=utf-8"
    drop_after: int | None = None  # send this many body bytes, then close the connection

    def payload(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass
class Received:
    """One request the server got."""

    path: str
    query: dict[str, str]
    raw_query: str


def query_key(query: str | Mapping[str, object]) -> QueryKey:
    """A query string or mapping as a sorted tuple of (name, value)."""
    if isinstance(query, str):
        return tuple(sorted(parse_qsl(query, keep_blank_values=True)))
    return tuple(sorted((k, str(v)) for k, v in query.items()))


class ReplayServer:
    """Serve scripted replies over real HTTP; use ``url`` as a source's base URL."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, QueryKey | None], list[Reply]] = {}
        self.handler: Callable[[Received], Reply] | None = None
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        # A short poll interval makes shutdown() quick at the end of each test.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, query: str | Mapping[str, object] | None, *replies: Reply) -> None:
        """Script replies for ``path`` + ``query`` (None: any query on that path), served in turn."""
        if not replies:
            raise ValueError("add() needs at least one reply")
        key = (path, None if query is None else query_key(query))
        self.routes.setdefault(key, []).extend(replies)

    def add_recorded(self, path: str) -> None:
        """Script a recorded ``{url, status_code, body}`` JSON file under its own path + query."""
        data = json.loads(Path(path).read_text("utf-8"))
        parts = urlsplit(data["url"])
        self.add(parts.path, parts.query, Reply(body=data["body"], status=data["status_code"]))

    def reply_for(self, request: Received) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self.handler is not None:
                return self.handler(request)
            for key in ((request.path, query_key(request.raw_query)), (request.path, None)):
                queue = self.routes.get(key)
                if queue:
                    return queue.pop(0) if len(queue) > 1 else queue[0]
        return Reply(body=f"no reply scripted for {request.path}?{request.raw_query}", status=404,
                     content_type="text/plain")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _make_handler(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            parts = urlsplit(self.path)
            received = Received(parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)), parts.query)
            reply = server.reply_for(received)
            body = reply.payload()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if reply.drop_after is None:
                self.wfile.write(body)
                return
            self.wfile.write(body[:reply.drop_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)  # the client sees a short body

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            return

    return Handler
