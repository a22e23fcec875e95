"""Plain value objects the project service returns (never table rows)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Project"]


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    description: str
    created_at: int
