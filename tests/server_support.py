"""Servers for tests: an ASGI app in a thread (``LiveServer``) and ``modelyard server`` in
a child process (``ServerProcess``), both on 127.0.0.1 and stopped by handle."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from modelyard.config import Settings


class LiveServer:
    """An ASGI app served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any, port: int = 0) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_config=None, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


class ServerProcess:
    """``modelyard server`` in a child process on a free loopback port (``--no-auth``
    unless ``auth``)."""

    def __init__(
        self, settings: Settings, log: Path, port: int = 0, workers: int = 1, auth: bool = False
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.log = log
        self.port = port or free_port()
        self.workers = workers
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0

    def start(self, timeout: float = 30) -> ServerProcess:
        args = [
            sys.executable, "-m", "modelyard",
            "--home", str(self.settings.home), "--store-url", self.settings.store_url,
            "server", "--port", str(self.port), "--workers", str(self.workers),
            "--log-level", "warning", *([] if self.auth else ["--no-auth"]),
        ]  # fmt: skip
        started = time.monotonic()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        while not self._healthy():
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < started + timeout, "the server did not start"
            time.sleep(0.02)
        self.startup_s = time.monotonic() - started
        return self

    def _healthy(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"GET /api/v1/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                return conn.recv(12).endswith(b"200")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing, connections cut."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        """SIGINT, as Ctrl-C: a graceful shutdown. Returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        return self.proc.returncode


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
