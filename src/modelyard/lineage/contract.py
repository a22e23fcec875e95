"""The contract of the lineage service: one typed surface with two implementations,
in this process and through a server (mypy checks both; ``tests/remote/test_contracts.py``
checks that their signatures are the contract's)."""

from __future__ import annotations

from typing import Protocol

from modelyard.lineage.edges import Direction
from modelyard.lineage.entities import LineageEdge

__all__ = ["LineageContract"]


class LineageContract(Protocol):
    """The lineage service's reads: :class:`~modelyard.lineage.service.LineageService` in this
    process and :class:`~modelyard.remote.lineage.RemoteLineage` through a server both
    implement it."""

    def edges(self, kind: str, object_id: str, direction: Direction = "both") -> list[LineageEdge]:
        """One hop of lineage around any object the actor may read: a ``run``, a
        ``dataset_version`` or a ``model_version`` (by id) or an ``artifact`` (by blob
        digest: readable when a run that holds it is)."""
