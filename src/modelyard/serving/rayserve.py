"""``modelyard serve --ray``: the inference server as a Ray Serve application.

Each Ray Serve replica builds the same server as ``modelyard serve`` (``serving.app``:
its own client, model pool, micro-batchers, prediction log and plan polling) and Ray
Serve's HTTP proxy hands it every request as ASGI. Ray decides how many replicas run (a
fixed number, or autoscaling between two bounds on the requests each one holds) and
where. Each answer names the replica that gave it in the ``Modelyard-Replica`` header.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from modelyard._ray import import_ray, ray_session
from modelyard.errors import InvalidInput, MissingDependency
from modelyard.serving.app import ServingClient, assemble

if TYPE_CHECKING:
    from modelyard.config import Settings

__all__ = ["MAX_ONGOING_REQUESTS", "TARGET_ONGOING_REQUESTS", "application", "parse_autoscale"]

#: Requests Ray hands one replica at once: many, since the server micro-batches them and
#: sheds load itself (503 with Retry-After) above its measured capacity.
MAX_ONGOING_REQUESTS = 256
#: Requests in progress per replica that autoscaling aims at.
TARGET_ONGOING_REQUESTS = 32


def parse_autoscale(text: str) -> tuple[int, int]:
    """``MIN:MAX`` replicas for autoscaling (``0 <= MIN <= MAX``, ``MAX >= 1``)."""
    low, sep, high = text.partition(":")
    try:
        bounds = (int(low), int(high))
    except ValueError:
        bounds = (-1, -1)
    if not sep or bounds[0] < 0 or bounds[1] < max(bounds[0], 1):
        raise InvalidInput(
            f"--autoscale {text!r}: give MIN:MAX replicas, 0 <= MIN <= MAX and MAX >= 1 (say 1:4)",
            field="--autoscale",
        )
    return bounds


def _import_serve() -> Any:
    try:
        from ray import serve
    except ImportError as exc:  # ray, or ray without its serve extra
        raise MissingDependency.for_extra(exc.name or "ray", "ray") from None
    return serve


def application(
    make_client: Callable[[], ServingClient],
    *,
    project: str,
    names: Collection[str] = (),
    replicas: int | None = None,
    autoscale: tuple[int, int] | None = None,
    shutdown_grace_s: float = 10.0,
) -> Any:
    """The Ray Serve application (``serve.run`` takes it): one deployment whose replicas
    each build the inference server of ``project`` with a client from ``make_client``
    (it travels to them pickled: settings and all). ``replicas``: that many;
    ``autoscale``: between these bounds; neither: one."""
    serve = _import_serve()
    chosen = tuple(names)

    def build() -> Any:
        replica = serve.get_replica_context().replica_id.unique_id
        server = assemble(
            make_client(), project=project, names=chosen, writer=f"ray:{replica}", freeze_heap=True
        )
        return _Named(server, replica)

    scaling: dict[str, Any] = {"num_replicas": replicas or 1}
    if autoscale is not None:
        scaling = {
            "autoscaling_config": {
                "min_replicas": autoscale[0],
                "max_replicas": autoscale[1],
                "target_ongoing_requests": TARGET_ONGOING_REQUESTS,
            }
        }
    deployment = serve.deployment(
        serve.ingress(build)(),
        name="inference",
        max_ongoing_requests=MAX_ONGOING_REQUESTS,
        graceful_shutdown_timeout_s=shutdown_grace_s,
        logging_config={"enable_access_log": False},
        **scaling,
    )
    return deployment.bind()


def run(
    settings: Settings,
    make_client: Callable[[], ServingClient],
    *,
    project: str,
    names: Collection[str] = (),
    replicas: int | None = None,
    autoscale: tuple[int, int] | None = None,
) -> None:
    """Run the application on Ray (the cluster at ``ray.address``, else a local instance
    started here) with Ray Serve's HTTP proxy on ``serving.host``:``serving.port``, until
    SIGTERM or SIGINT: then the application is deleted (its replicas drain for up to
    ``serving.shutdown_grace_s``), and a local Ray is shut down with Ray Serve."""
    serve = _import_serve()
    ray = import_ray()
    app = application(
        make_client,
        project=project,
        names=names,
        replicas=replicas,
        autoscale=autoscale,
        shutdown_grace_s=settings.serving.shutdown_grace_s,
    )
    local = not ray.is_initialized() and not settings.ray.address
    name = f"modelyard-{project}"
    with ray_session(settings, None):
        serve.start(http_options={"host": settings.serving.host, "port": settings.serving.port})
        try:
            serve.run(app, name=name, route_prefix="/", blocking=False)
            _wait_for_signal()
        finally:
            serve.delete(name)
            if local:
                serve.shutdown()


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):  # a short wait: the signal handler runs between waits
        pass


class _Named:
    """An ASGI app whose HTTP answers carry ``Modelyard-Replica: <replica>``."""

    def __init__(self, app: Any, replica: str) -> None:
        self.app = app
        self.header = (b"modelyard-replica", replica.encode())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, named)
