"""What the datasets and pipelines pages work out before they draw (no browser): the DAG's
layers and arrows from the step records, a drift result's bar, a version's lineage."""

from __future__ import annotations

import math

from modelyard.api.ui._data_views import BOX_W, drift_score, layout_dag, sort_lineage
from modelyard.data.drift import FeatureDrift
from modelyard.errors import NotFound
from modelyard.lineage.edges import DATASET_VERSION, MODEL_VERSION, RUN
from modelyard.lineage.entities import LineageEdge
from modelyard.steps.entities import KeyParts, OutputRef, StepRecord


def _record(step: str, inputs: dict[str, str], output: str | None) -> StepRecord:
    parts = KeyParts(step, {}, {}, {}, inputs, {})
    out = OutputRef("outputs/o.json", output, "file", 1, "json", "int") if output else None
    status = "finished" if output else "failed"
    return StepRecord(f"run-{step}", "p", "pipe", step, "k", parts, False, None, out, 0, status)


def test_a_diamond_is_laid_out_in_layers_with_an_arrow_per_input() -> None:
    records = [
        _record("load", {}, "d1"),
        _record("left", {"df": "d1"}, "d2"),
        _record("right", {"df": "d1"}, "d3"),
        _record("join", {"a": "d2", "b": "d3"}, None),
    ]
    dag = layout_dag(records, {"load": "cached", "left": "ran"})
    by_step = {n.step: n for n in dag.nodes}
    assert [by_step[s].x for s in ("load", "left", "right", "join")] == [
        by_step["load"].x,
        by_step["load"].x + BOX_W + 70,
        by_step["load"].x + BOX_W + 70,
        by_step["load"].x + 2 * (BOX_W + 70),
    ]
    assert by_step["left"].y != by_step["right"].y
    assert [(n.step, n.outcome) for n in dag.nodes] == [
        ("load", "cached"),
        ("left", "ran"),
        ("right", "finished"),  # no explanation: its status
        ("join", "failed"),
    ]
    assert sorted((e.source, e.target, e.label) for e in dag.edges) == [
        ("left", "join", "a"),
        ("load", "left", "df"),
        ("load", "right", "df"),
        ("right", "join", "b"),
    ]
    assert dag.width >= by_step["join"].x + BOX_W
    assert layout_dag([], {}).nodes == []


def _feature(**fields: object) -> FeatureDrift:
    base: dict[str, object] = {
        "column": "x",
        "kind": "numeric",
        "test": "wasserstein",
        "statistic": 0.2,
        "p_value": None,
        "threshold": 0.1,
        "drifted": True,
        "reference_count": 10,
        "current_count": 10,
        "reference_missing": 0.0,
        "current_missing": 0.0,
    }
    return FeatureDrift(**{**base, **fields})  # type: ignore[arg-type]


def test_the_drift_bar_is_the_distance_from_the_threshold() -> None:
    assert drift_score(_feature()) == 2.0
    assert drift_score(_feature(test="ks", p_value=0.5, threshold=0.05)) == 0.1
    assert drift_score(_feature(test="ks", p_value=0.0, threshold=0.05)) == math.inf
    assert drift_score(_feature(test=None, statistic=None)) is None
    assert drift_score(_feature(statistic=math.nan)) is None


def _edge(source: tuple[str, str], target: tuple[str, str], relation: str) -> LineageEdge:
    return LineageEdge(*source, *target, relation, None, 0)


def test_lineage_is_sorted_into_makers_readers_and_models() -> None:
    edges = [
        _edge((RUN, "maker"), (DATASET_VERSION, "v"), "output"),
        _edge((DATASET_VERSION, "v"), (RUN, "reader"), "input"),
        _edge((DATASET_VERSION, "v"), (RUN, "gone"), "input"),
        _edge((DATASET_VERSION, "raw"), (DATASET_VERSION, "v"), "input"),
        _edge((DATASET_VERSION, "v"), (DATASET_VERSION, "scores"), "input"),
    ]

    def down(run_id: str) -> list[LineageEdge]:
        if run_id == "gone":
            raise NotFound("gone")
        return [_edge((RUN, run_id), (MODEL_VERSION, "m1"), "output")]

    found = sort_lineage("v", edges, down)
    assert found.made_by == ["maker"]
    assert found.read_by == ["reader", "gone"]
    assert found.derived_from == [(DATASET_VERSION, "raw")]
    assert found.went_into == [(DATASET_VERSION, "scores")]
    assert found.models == ["m1"]
