"""Connecting to Ray, the one way Modelyard does, for the ``ray`` executor of pipelines,
batch scoring on Ray (``modelyard predict --ray``) and ``modelyard serve --ray``: the
``ray`` module or an error naming the extra, and a session on the instance this process
already has, the cluster at ``ray.address``, or a local instance."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInput, MissingDependency

if TYPE_CHECKING:
    from modelyard.config import Settings

__all__ = ["RAY_CONNECT_TIMEOUT", "check_reachable", "import_ray", "ray_session"]


def import_ray() -> Any:
    """The ``ray`` module, or MissingDependency naming the extra."""
    try:
        import ray
    except ImportError:
        raise MissingDependency.for_extra("ray", "ray") from None
    return ray


@contextlib.contextmanager
def ray_session(settings: Settings, max_workers: int | None) -> Iterator[Any]:
    """Ray, connected: the instance this process is already connected to, else the
    cluster at ``ray.address``, else a local instance started here and stopped after."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if settings.ray.address:
        check_reachable(settings.ray.address)
        ray.init(address=settings.ray.address)
    else:
        ray.init(num_cpus=max_workers, include_dashboard=False)
    try:
        yield ray
    finally:
        ray.shutdown()


#: Seconds to wait for a TCP connection to ``ray.address`` before giving up.
RAY_CONNECT_TIMEOUT = 5.0


def check_reachable(address: str) -> None:
    """Refuse at once a ``ray.address`` that takes no TCP connection (Ray itself retries
    for minutes); ``auto`` and addresses without a port are left to Ray."""
    import socket
    from urllib.parse import urlsplit

    target = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = target.hostname, target.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        return
    try:
        socket.create_connection((host, port), timeout=RAY_CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise InvalidInput(
            f"cannot reach the Ray cluster at {address!r}: {exc.strerror or exc}; start it, "
            "or fix ray.address (MODELYARD_RAY_ADDRESS), or unset it to run on a local "
            "Ray instance",
            field="ray.address",
        ) from None
