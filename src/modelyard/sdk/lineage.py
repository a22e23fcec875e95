"""The SDK's lineage: a walk (:mod:`modelyard.lineage.graph`) from a run, a dataset
version, a model version or a ``(kind, id)`` pair, each node labelled for people (a run
with its code commit, a dataset version with the digest of its values), through the
client's services (embedded or remote)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.datasets.entities import DatasetVersion
from modelyard.errors import InvalidInput
from modelyard.lineage.edges import ARTIFACT, DATASET_VERSION, MODEL_VERSION, RUN
from modelyard.lineage.graph import LineageGraph, LineageNode, Walk, walk
from modelyard.registry.entities import ModelVersion
from modelyard.sdk.run import ActiveRun
from modelyard.tracking.entities import Run

if TYPE_CHECKING:
    from modelyard.sdk.client import Client

__all__ = ["lineage", "node_of"]


def node_of(obj: object) -> LineageNode:
    """The node for a run (``Run``, ``ActiveRun``), a dataset version, a model version, a
    node, or a ``(kind, id)`` pair."""
    if isinstance(obj, LineageNode):
        return obj
    if isinstance(obj, DatasetVersion):
        return LineageNode(DATASET_VERSION, obj.id)
    if isinstance(obj, ModelVersion):
        return LineageNode(MODEL_VERSION, obj.id)
    if isinstance(obj, Run | ActiveRun):
        return LineageNode(RUN, str(obj.id))
    if (
        isinstance(obj, tuple)
        and len(obj) == 2
        and all(isinstance(part, str) and part for part in obj)
    ):
        return LineageNode(obj[0], obj[1])
    raise InvalidInput(
        "lineage starts from a run, a dataset version, a model version or a (kind, id) pair, "
        f"not {type(obj).__name__}",
        field="obj",
    )


def lineage(client: Client, obj: object, *, direction: Walk = "up", depth: int = 3) -> LineageGraph:
    """The lineage graph around ``obj`` in ``client``'s store (or server), with labels."""
    start = node_of(obj)
    service = client.dataset_service

    def label(kind: str, object_id: str) -> str:
        if kind == RUN:
            run = client.get_run(object_id)
            commit = run.tags.get("git.commit")
            code = f", commit {commit[:12]}" if commit else ""
            return f"run {run.name or run.id[:8]} ({run.status}, project {run.project}{code})"
        if kind == DATASET_VERSION:
            version = service.get_by_id(object_id)
            return (
                f"dataset {version.dataset} v{version.version} ({version.num_rows:,} rows, "
                f"blake3:{version.digest[:16]})"
            )
        if kind == ARTIFACT:
            return f"artifact blake3:{object_id[:16]}"
        if kind == MODEL_VERSION:
            model = client.model_service.get_version_by_id(object_id)
            return f"model {model.name} v{model.version} ({model.flavor}, project {model.project})"
        return f"{kind} {object_id}"

    root = LineageNode(start.kind, start.id, label(start.kind, start.id))  # errors surface
    return walk(root, client.lineage_service.edges, direction=direction, depth=depth, label=label)
