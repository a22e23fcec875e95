"""``GET /api/v1/health``: is the server up (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter

from modelyard.api._routing import Route
from modelyard.api.schemas.health import HealthPublic

__all__ = ["router"]

router = APIRouter(tags=["health"], route_class=Route)


@router.get("/health", response_model=HealthPublic)
def health() -> HealthPublic:
    from modelyard._version import __version__

    return HealthPublic(status="ok", version=__version__)
