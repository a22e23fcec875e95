"""The value objects of lineage (never table rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["LineageEdge"]


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """``source`` was used to make ``target`` (``relation``: "input" when a run read a
    dataset version, "output" when a run produced one)."""

    source_kind: str
    source_id: str
    target_kind: str
    target_id: str
    relation: str
    run_id: str | None
    created_at: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "source_kind": self.source_kind,
            "source_id": self.source_id,
            "target_kind": self.target_kind,
            "target_id": self.target_id,
            "relation": self.relation,
            "run_id": self.run_id,
            "created_at": self.created_at,
        }
