"""Lineage walks: "what produced this?" (``up``) and "what depends on this?" (``down``).

Edges are stored one hop at a time (``datasets/edges.py``: a run read a dataset version,
a run produced one, a step run read another's output, ...). :func:`walk` follows them
breadth-first from one object to a given depth and returns a :class:`LineageGraph`: every
node reached once, every edge crossed once, so diamonds and cycles end. A walk keeps its
way: ``up`` only ever goes to what a node was made from, ``down`` to what was made from
it, and ``both`` is the two walks from the root together (not everything connected).
Each hop goes through the dataset service's ``lineage_edges`` (in this process or on the
server, with the caller's read rights), so the same walk works embedded and remote. An
object the caller may not read, or of a kind that cannot be expanded, is kept as a leaf
with a note.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from modelyard.errors import InvalidInput, NotFound, PermissionDenied
from modelyard.lineage.edges import ARTIFACT, DATASET_VERSION, MODEL_VERSION, RUN

if TYPE_CHECKING:
    from modelyard.lineage.entities import LineageEdge

__all__ = ["EXPANDABLE", "MAX_DEPTH", "LineageGraph", "LineageNode", "Walk", "walk"]

#: The deepest walk one call may ask for.
MAX_DEPTH = 50
#: Kinds whose neighbours can be looked up (others are leaves).
EXPANDABLE = frozenset({RUN, DATASET_VERSION, MODEL_VERSION, ARTIFACT})

Walk = Literal["up", "down", "both"]
Hop = Callable[[str, str, Walk], list["LineageEdge"]]


@dataclass(frozen=True)
class LineageNode:
    """One object in a lineage graph: its kind and id, a label for people, and a note
    when it could not be expanded."""

    kind: str
    id: str
    label: str = ""
    note: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.id)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "label": self.label, "note": self.note}


@dataclass
class LineageGraph:
    """Nodes reached from ``root`` (``nodes[0]`` is the root) and the edges crossed, each
    once; ``depth`` is how far each node is from the root."""

    root: LineageNode
    direction: Walk
    nodes: list[LineageNode] = field(default_factory=list)
    edges: list[LineageEdge] = field(default_factory=list)
    depth: dict[tuple[str, str], int] = field(default_factory=dict)
    #: The way each node was reached ("up" or "down"; the root: the walk's direction).
    way: dict[tuple[str, str], Walk] = field(default_factory=dict)

    def node(self, kind: str, object_id: str) -> LineageNode:
        for found in self.nodes:
            if found.key == (kind, object_id):
                return found
        raise NotFound(f"{kind} {object_id} is not in this lineage graph")

    def neighbours(self, node: LineageNode) -> list[tuple[LineageEdge, LineageNode, str]]:
        """(edge, the node at its other end, "up" or "down") for each edge at ``node`` that
        goes the way the walk went on from it."""
        ways = ("up", "down") if self.way[node.key] == "both" else (self.way[node.key],)
        found = []
        for edge in self.edges:
            if "up" in ways and (edge.target_kind, edge.target_id) == node.key:
                found.append((edge, self.node(edge.source_kind, edge.source_id), "up"))
            elif "down" in ways and (edge.source_kind, edge.source_id) == node.key:
                found.append((edge, self.node(edge.target_kind, edge.target_id), "down"))
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "root": self.root.as_dict(),
            "direction": self.direction,
            "nodes": [
                {**n.as_dict(), "depth": self.depth[n.key], "way": self.way[n.key]}
                for n in self.nodes
            ],
            "edges": [e.as_dict() for e in self.edges],
        }


def walk(
    root: LineageNode,
    hop: Hop,
    *,
    direction: Walk = "up",
    depth: int = 3,
    label: Callable[[str, str], str] | None = None,
) -> LineageGraph:
    """Follow edges from ``root`` breadth-first, at most ``depth`` hops; ``hop(kind, id,
    direction)`` answers one hop, ``label(kind, id)`` names a node for people."""
    if direction not in ("up", "down", "both"):
        raise InvalidInput(
            f"direction must be 'up', 'down' or 'both'; got {direction!r}", field="direction"
        )
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= MAX_DEPTH:
        raise InvalidInput(f"depth must be a whole number from 0 to {MAX_DEPTH}", field="depth")
    graph = LineageGraph(root=root, direction=direction)
    graph.nodes.append(root)
    graph.depth[root.key] = 0
    graph.way[root.key] = direction
    crossed: set[tuple[str, str, str, str, str]] = set()
    queue = deque([root])
    while queue:
        node = queue.popleft()
        here = graph.depth[node.key]
        if here >= depth or node.kind not in EXPANDABLE or node.note is not None:
            continue
        for edge in hop(node.kind, node.id, graph.way[node.key]):
            ends = (edge.source_kind, edge.source_id, edge.target_kind, edge.target_id)
            if (*ends, edge.relation) in crossed:
                continue
            upstream = (edge.target_kind, edge.target_id) == node.key
            other = (edge.source_kind, edge.source_id) if upstream else ends[2:]
            way: Walk = "up" if upstream else "down"
            if other in graph.way and graph.way[other] not in (way, "both"):
                continue  # reached the other way round: not part of this walk's way
            crossed.add((*ends, edge.relation))
            graph.edges.append(edge)
            if other in graph.depth:
                continue
            reached = _reach(other[0], other[1], label)
            graph.nodes.append(reached)
            graph.depth[reached.key] = here + 1
            graph.way[reached.key] = way
            queue.append(reached)
    return graph


def _reach(kind: str, object_id: str, label: Callable[[str, str], str] | None) -> LineageNode:
    if label is None:
        return LineageNode(kind, object_id)
    try:
        return LineageNode(kind, object_id, label(kind, object_id))
    except (NotFound, PermissionDenied) as exc:
        return LineageNode(kind, object_id, note=str(exc))
