"""The route class of every API route (``APIRouter(route_class=Route)``).

- A JSON body is parsed in one place, :func:`loads`, which refuses an object with the same
  key twice (422 naming ``body``): which of two values a parser keeps differs between
  parsers, so a proxy and this server could read two different requests.
- A ``BaseException`` that is no ``Exception`` (``SystemExit``, ``KeyboardInterrupt``,
  ``GeneratorExit``) raised by an endpoint leaves it as an ``Exception``, on the worker
  thread of a synchronous endpoint: crossing into the event loop, a ``GeneratorExit``
  would close the request's coroutines instead of reaching the error handlers. It is
  answered 500 in the one shape (see :mod:`modelyard.api._errors`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from modelyard._util import refuse_duplicate_keys
from modelyard.api._errors import HandlerExited

__all__ = ["Route", "loads"]


def loads(body: bytes | str) -> Any:
    """A JSON document; an object with a key twice is a ``JSONDecodeError``."""
    return json.loads(body, object_pairs_hook=refuse_duplicate_keys)


class _Request(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


def _ordinary_errors(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint``, raising :class:`HandlerExited` for a ``BaseException`` that is no
    ``Exception``."""
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await endpoint(*args, **kwargs)
            except (Exception, asyncio.CancelledError):
                raise
            except BaseException as exc:
                raise HandlerExited.of(exc) from exc

        return run_async

    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return endpoint(*args, **kwargs)
        except Exception:
            raise
        except BaseException as exc:
            raise HandlerExited.of(exc) from exc

    return run


class Route(APIRoute):
    """An API route: strict JSON bodies, and ordinary errors only (module docstring)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _ordinary_errors(endpoint), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_Request(request.scope, request.receive))

        return strict
