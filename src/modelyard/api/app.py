"""The app factory: ``create_app(settings, auth=...)``.

Everything is under ``/api/v1``; the OpenAPI document is ``/api/v1/openapi.json``.
``/api/v1/health`` and ``/api/v1/auth/login`` need no authentication; every other path
under ``/api/v1`` is authenticated by the request guard before anything reads the body,
and every other route depends on :func:`~modelyard.api.auth.get_actor` (deny by default:
a router added to ``_PROTECTED`` is authenticated, and the services check the actor's
project role).
"""

from __future__ import annotations

import gc
import ipaddress
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware

from modelyard.api._errors import BaseExceptions, install_error_handlers
from modelyard.api._guard import RequestGuard
from modelyard.api._inflight import BodyBudget
from modelyard.api._services import Services
from modelyard.api._throttle import AddressThrottle
from modelyard.api.auth import Authenticator, get_actor
from modelyard.api.routes import (
    alerts,
    artifacts,
    audit,
    costs,
    datasets,
    deployments,
    health,
    login,
    loops,
    members,
    metrics,
    models,
    monitors,
    predictions,
    projects,
    runs,
    schedules,
    search,
    tokens,
    users,
    webhooks,
)
from modelyard.api.schemas._types import ErrorResponse
from modelyard.api.ui import install_ui
from modelyard.config import ServerSettings, Settings

__all__ = ["API_PREFIX", "LOOPBACK_HOSTS", "PUBLIC_PATHS", "accepted_hosts", "create_app"]

API_PREFIX = "/api/v1"
#: The only paths answered without credentials.
PUBLIC_PATHS = frozenset(
    {f"{API_PREFIX}/health", f"{API_PREFIX}/auth/login", f"{API_PREFIX}/openapi.json"}
)
#: The Host names a server bound to a loopback address answers by default.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_PROTECTED = (
    projects.router,
    members.router,
    runs.router,
    search.router,
    metrics.router,
    artifacts.router,
    datasets.router,
    datasets.lineage_router,
    models.router,
    models.versions_router,
    deployments.router,
    monitors.router,
    loops.router,
    predictions.router,
    costs.router,
    alerts.router,
    schedules.router,
    login.router,
    tokens.router,
    users.router,
    audit.router,
    webhooks.router,
)

_ERRORS = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "Bad request (for example a Host that is not allowed).",
        401: "No credentials, or credentials that prove nothing.",
        403: "Permission denied (a role the caller lacks, or a missing CSRF token).",
        404: "Not found.",
        409: "Conflict or already exists.",
        413: "Over a size limit.",
        415: "Wrong content type.",
        422: "Invalid input; `field` names it.",
        429: "Too many failed sign-ins from this address; `Retry-After` says when to retry.",
        500: "Internal error.",
        503: "The metadata or artifact store is unavailable, or the server holds as many "
        "request bytes as it may (`server_busy`; `Retry-After` says when to retry).",
    }.items()
}


def create_app(settings: Settings, *, auth: Authenticator, freeze_gc: bool = False) -> FastAPI:
    """The control-plane API over the store and artifacts named by ``settings``.

    ``auth`` turns each request into its principal (see :mod:`modelyard.api.auth`).
    ``freeze_gc`` (for a server process of its own) moves everything alive once the app
    has started into the collector's permanent generation: the app's ~100,000 long-lived
    objects are then not walked again by every full collection.
    """
    from modelyard._version import __version__

    services = Services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(services.open)
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await run_in_threadpool(services.close)

    app = FastAPI(
        title="Modelyard",
        version=__version__,
        summary=(
            "Control-plane API: projects, runs, metrics, artifacts, datasets, models, "
            "deployments, schedules."
        ),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        responses=_ERRORS,  # type: ignore[arg-type]
    )
    app.state.services = services
    app.state.authenticate = auth
    limit, window_s = (
        settings.server.login_failures_per_address,
        settings.server.login_failure_window_s,
    )
    app.state.login_throttle = AddressThrottle(limit, window_s)
    app.state.token_throttle = AddressThrottle(
        limit, window_s, what="requests with a refused access token"
    )
    install_error_handlers(app)
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(login.public_router, prefix=API_PREFIX)
    for router in _PROTECTED:
        app.include_router(router, prefix=API_PREFIX, dependencies=[Depends(get_actor)])
    install_ui(app)
    server = settings.server
    if server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=server.cors_origins,
            allow_credentials="*" not in server.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"],
        )
    app.add_middleware(
        RequestGuard,
        allowed_hosts=accepted_hosts(server),
        max_body_bytes=server.max_body_bytes,
        max_upload_bytes=server.max_artifact_bytes,
        protected_prefix=API_PREFIX,
        public_paths=PUBLIC_PATHS,
    )
    app.add_middleware(  # counts body bytes as the guard reads them, before it buffers them
        BodyBudget,
        max_in_flight=server.max_body_bytes_in_flight,
        max_body_bytes=server.max_body_bytes,
    )
    app.add_middleware(BaseExceptions)
    return app


def accepted_hosts(server: ServerSettings) -> list[str]:
    """The Host names the server answers: ``server.allowed_hosts`` and the address it
    binds, or when that is unset, what follows the bind address -- any host for every
    interface (0.0.0.0, ::), the loopback names for a loopback address, else that address
    and the names it has (reverse lookup; a host name as it is)."""
    bound = server.host.strip("[]").lower()
    try:
        address = ipaddress.ip_address(bound)
    except ValueError:
        address = None
    configured = server.allowed_hosts
    if configured is not None:
        unspecified = address is not None and address.is_unspecified
        return configured if unspecified or bound in configured else [*configured, bound]
    if address is not None and address.is_unspecified:
        return ["*"]
    if bound == "localhost" or (address is not None and address.is_loopback):
        return list(dict.fromkeys([*LOOPBACK_HOSTS, bound]))
    return list(dict.fromkeys([bound, *(_names_of(bound) if address is not None else [])]))


def _names_of(address: str) -> list[str]:
    """The host names of ``address`` (its name and aliases), none when it has none."""
    try:
        name, aliases, _ = socket.gethostbyaddr(address)
    except OSError:
        return []
    return [n.lower() for n in (name, *aliases) if n]
