"""The health answer."""

from __future__ import annotations

from modelyard.api.schemas._types import Public

__all__ = ["HealthPublic"]


class HealthPublic(Public):
    status: str
    version: str
