"""The control-plane REST API (FastAPI): ``create_app(settings, auth=...)``.

Needs the ``server`` extra: ``pip install 'modelyard[server]'``.
"""

from modelyard.errors import MissingDependency

try:
    import fastapi  # noqa: F401
except ImportError as _exc:
    raise MissingDependency.for_extra(_exc.name or "fastapi", "server") from None

from modelyard.api.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
