"""The lineage service of a server, with the lineage service's methods a client uses."""

from __future__ import annotations

from modelyard.lineage.edges import Direction
from modelyard.lineage.entities import LineageEdge
from modelyard.remote._http import HttpSession, entity

__all__ = ["RemoteLineage"]


class RemoteLineage:
    """:class:`~modelyard.lineage.service.LineageService`'s reads, answered by a server."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    def edges(self, kind: str, object_id: str, direction: Direction = "both") -> list[LineageEdge]:
        """One hop of lineage around a run, a dataset version or an artifact the caller may
        read."""
        params = {"kind": kind, "id": object_id, "direction": direction}
        return [entity(LineageEdge, item) for item in self.http.all_pages("/lineage", params)]
