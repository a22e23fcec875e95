"""What the datasets and pipelines pages draw, worked out from the services' answers:
a pipeline run's DAG laid out for an inline SVG, a drift result's bar, a version's
lineage sorted into who made it, who read it and the models trained on what read it.
Plain functions over value objects (no request, no template)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from modelyard.data.drift import FeatureDrift
from modelyard.errors import NotFound
from modelyard.lineage.edges import DATASET_VERSION, MODEL_VERSION, RUN
from modelyard.lineage.entities import LineageEdge
from modelyard.steps.entities import StepRecord

__all__ = [
    "BOX_H",
    "BOX_W",
    "Dag",
    "DagEdge",
    "DagNode",
    "VersionLineage",
    "drift_score",
    "layout_dag",
    "sort_lineage",
]

T = TypeVar("T")

#: A step's box and the gaps between layers and rows (SVG user units).
BOX_W = 170
BOX_H = 46
GAP_X = 70
GAP_Y = 24
MARGIN = 10


@dataclass(frozen=True, slots=True)
class DagNode:
    """A step's box: its name, run, status, ``outcome`` (cached, ran, failed...) and
    where it is drawn."""

    step: str
    run_id: str
    status: str
    outcome: str
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class DagEdge:
    """An arrow from the step that made an input to the step that read it (``label``:
    the input's name)."""

    source: str
    target: str
    label: str
    path: str


@dataclass(frozen=True, slots=True)
class Dag:
    nodes: list[DagNode]
    edges: list[DagEdge]
    width: int
    height: int


def layout_dag(records: Sequence[StepRecord], outcomes: dict[str, str]) -> Dag:
    """The steps of a pipeline run in layers: a step with no input from another step
    in the first, every other one right of the steps it read from. An input is another
    step's output when its blob digest is that output's (the step recorded before it
    that wrote it); ``outcomes`` by step name (a step without one shows its status)."""
    made_by: dict[str, str] = {}
    inputs: dict[str, list[tuple[str, str]]] = {}
    for record in records:
        inputs[record.step] = [
            (made_by[digest], name)
            for name, digest in sorted(record.parts.inputs.items())
            if digest in made_by
        ]
        if record.output is not None:
            made_by.setdefault(record.output.digest, record.step)
    layer: dict[str, int] = {}
    for record in records:  # recorded in an order where producers come first
        layer[record.step] = 1 + max((layer[s] for s, _ in inputs[record.step]), default=-1)
    rows: dict[int, int] = {}
    nodes: dict[str, DagNode] = {}
    for record in records:
        column = layer[record.step]
        row = rows.get(column, 0)
        rows[column] = row + 1
        nodes[record.step] = DagNode(
            step=record.step,
            run_id=record.run_id,
            status=record.status,
            outcome=outcomes.get(record.step, record.status),
            x=MARGIN + column * (BOX_W + GAP_X),
            y=MARGIN + row * (BOX_H + GAP_Y),
        )
    edges = [
        DagEdge(source, step, label, _arrow(nodes[source], nodes[step]))
        for step, found in inputs.items()
        for source, label in found
    ]
    columns = max(layer.values(), default=-1) + 1
    most_rows = max(rows.values(), default=0)
    return Dag(
        nodes=list(nodes.values()),
        edges=edges,
        width=2 * MARGIN + max(columns, 1) * BOX_W + max(columns - 1, 0) * GAP_X,
        height=2 * MARGIN + max(most_rows, 1) * BOX_H + max(most_rows - 1, 0) * GAP_Y,
    )


def _arrow(source: DagNode, target: DagNode) -> str:
    """A curve from the middle of the source's right side to the target's left side."""
    x1, y1 = source.x + BOX_W, source.y + BOX_H // 2
    x2, y2 = target.x - 4, target.y + BOX_H // 2
    bend = (x2 - x1) // 2
    return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"


def drift_score(feature: FeatureDrift) -> float | None:
    """How far a feature is from its threshold, 1 at the threshold: the statistic over
    the threshold, or for a p-value test the threshold over the p-value (None when the
    feature was not tested, or the result is NaN)."""
    if feature.test is None or feature.threshold is None:
        return None
    if feature.p_value is not None:
        score = math.inf if feature.p_value <= 0 else feature.threshold / feature.p_value
    elif feature.statistic is None or feature.threshold <= 0:
        return None
    else:
        score = feature.statistic / feature.threshold
    return None if math.isnan(score) else score


@dataclass
class VersionLineage:
    """A dataset version's lineage one hop out, and the models trained by the runs that
    read it: run ids, and ``(kind, id)`` of the versions it came from or went into."""

    made_by: list[str] = field(default_factory=list)
    read_by: list[str] = field(default_factory=list)
    derived_from: list[tuple[str, str]] = field(default_factory=list)
    went_into: list[tuple[str, str]] = field(default_factory=list)
    models: list[str] = field(default_factory=list)


def sort_lineage(
    version_id: str,
    edges: Sequence[LineageEdge],
    downstream: Callable[[str], Sequence[LineageEdge]],
) -> VersionLineage:
    """Sort the edges around a dataset version; ``downstream(run_id)`` gives the edges
    down from a run that read it (for the model versions it made; NotFound: none)."""
    found = VersionLineage()
    for edge in edges:
        if edge.target_kind == DATASET_VERSION and edge.target_id == version_id:
            if edge.source_kind == RUN:
                _add(found.made_by, edge.source_id)
            else:
                _add(found.derived_from, (edge.source_kind, edge.source_id))
        elif edge.source_id == version_id:
            if edge.target_kind == RUN:
                _add(found.read_by, edge.target_id)
            else:
                _add(found.went_into, (edge.target_kind, edge.target_id))
    for run_id in found.read_by:
        try:
            below = downstream(run_id)
        except NotFound:
            continue
        for edge in below:
            if edge.source_id == run_id and edge.target_kind == MODEL_VERSION:
                _add(found.models, edge.target_id)
    return found


def _add(items: list[T], item: T) -> None:
    if item not in items:
        items.append(item)
