"""Serving the API with uvicorn: one process, or several sharing one socket."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from modelyard.api.app import create_app
from modelyard.api.auth import Authenticator
from modelyard.config import Settings
from modelyard.errors import MissingDependency

__all__ = ["AppFactory", "serve"]


@dataclass(frozen=True)
class AppFactory:
    """Builds the app in each worker process (picklable: settings and a module-level
    authenticator travel to the workers as arguments, not through the environment); the
    process is the server's own, so the app freezes what it holds after start-up."""

    settings: Settings
    auth: Authenticator

    def __call__(self) -> FastAPI:
        return create_app(self.settings, auth=self.auth, freeze_gc=True)


def serve(settings: Settings, *, auth: Authenticator, log_level: str = "info") -> None:
    """Serve until interrupted on ``server.host``:``server.port`` with ``server.workers``
    processes (each with its own connections to the stores)."""
    try:
        import uvicorn
    except ImportError:
        raise MissingDependency.for_extra("uvicorn", "server") from None

    conf = settings.server
    config = uvicorn.Config(
        AppFactory(settings, auth),
        factory=True,
        host=conf.host,
        port=conf.port,
        workers=conf.workers,
        log_level=log_level,
        server_header=False,
        proxy_headers=bool(conf.forwarded_allow_ips),
        forwarded_allow_ips=conf.forwarded_allow_ips or None,
    )
    if conf.workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()
