"""A webhook receiver for tests: a threaded HTTP server on 127.0.0.1 that records every
request and answers with the statuses it is told, in order (then 200); it may stall the
first request until released."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Requests seen (``received``), statuses to answer (``answers``, consumed in order),
    ``stall_first``: hold the first request until :meth:`release`."""

    answers: list[int] = field(default_factory=list)
    stall_first: bool = False
    redirect_to: str | None = None
    received: list[Received] = field(default_factory=list)
    got: threading.Condition = field(default_factory=threading.Condition)
    released: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Receiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with owner.got:
                    first = not owner.received
                    owner.received.append(Received(self.path, dict(self.headers), body))
                    status = owner.answers.pop(0) if owner.answers else 200
                    owner.got.notify_all()
                if first and owner.stall_first:
                    owner.released.wait(60)
                self.send_response(status)
                if 300 <= status < 400 and owner.redirect_to:
                    self.send_header("Location", owner.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that went away (a killed worker) is no test failure

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """The requests once there are ``count`` of them (AssertionError after ``timeout``)."""
        with self.got:
            assert self.got.wait_for(lambda: len(self.received) >= count, timeout), (
                f"{len(self.received)} requests received, {count} expected"
            )
            return list(self.received)

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.release()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(10)
