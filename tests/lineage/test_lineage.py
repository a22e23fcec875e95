"""``client.lineage``, ``modelyard.lineage`` and ``modelyard lineage``: multi-hop walks up
(what produced this?) and down (what depends on this?), in both SDK modes."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import pytest
from typer.testing import CliRunner

import modelyard as my
from modelyard import Client, InvalidInput, NotFound
from modelyard.cli.main import app
from modelyard.config import Settings
from modelyard.datasets import DatasetVersion
from modelyard.lineage.graph import LineageGraph, LineageNode, walk


@dataclass
class Chain:
    """raw v1 -> prepare run -> clean v1 -> train run (and a second reader of raw)."""

    raw: DatasetVersion
    clean: DatasetVersion
    prepare: str
    train: str
    audit: str


@pytest.fixture
def chain(client: Client) -> Chain:
    raw = client.datasets.register("raw", pd.DataFrame({"x": [1, 2, 3]}), project="p")
    with client.start_run("p", name="prepare", capture=False) as prepare:
        frame = client.datasets.load("raw")
        clean = client.datasets.register("clean", frame * 2)
    with client.start_run("p", name="train", capture=False) as train:
        client.datasets.load("clean")
    with client.start_run("p", name="audit", capture=False) as audit:
        client.datasets.load("raw")
    return Chain(raw, clean, str(prepare.id), str(train.id), str(audit.id))


def _keys(graph: LineageGraph) -> set[tuple[str, str]]:
    return {node.key for node in graph.nodes}


def test_up_answers_what_produced_a_run(client: Client, chain: Chain) -> None:
    graph = client.lineage(client.get_run(chain.train), direction="up", depth=5)
    assert graph.root.key == ("run", chain.train)
    assert graph.root.label.startswith("run train (finished")
    assert _keys(graph) == {
        ("run", chain.train),
        ("dataset_version", chain.clean.id),
        ("run", chain.prepare),
        ("dataset_version", chain.raw.id),
    }
    assert graph.depth[("dataset_version", chain.raw.id)] == 3
    raw = graph.node("dataset_version", chain.raw.id)
    assert raw.label == f"dataset raw v1 (3 rows, blake3:{chain.raw.digest[:16]})"
    assert [(e.source_kind, e.relation, e.target_kind) for e in graph.edges] == [
        ("dataset_version", "input", "run"),
        ("run", "output", "dataset_version"),
        ("dataset_version", "input", "run"),
    ]


def test_down_answers_what_depends_on_a_version_and_depth_bounds_it(
    client: Client, chain: Chain
) -> None:
    down = client.lineage(chain.raw, direction="down", depth=3)
    assert _keys(down) == {
        ("dataset_version", chain.raw.id),
        ("run", chain.prepare),
        ("run", chain.audit),
        ("dataset_version", chain.clean.id),
        ("run", chain.train),
    }
    near = client.lineage(chain.raw, direction="down", depth=1)
    assert _keys(near) == {
        ("dataset_version", chain.raw.id),
        ("run", chain.prepare),
        ("run", chain.audit),
    }
    assert client.lineage(chain.raw, depth=0).edges == []
    both = client.lineage(("dataset_version", chain.clean.id), direction="both", depth=1)
    assert _keys(both) == {
        ("dataset_version", chain.clean.id),
        ("run", chain.prepare),
        ("run", chain.train),
    }
    # both = up and down from the root, not all that is connected: the audit run read
    # raw (upstream of clean) but does not depend on clean
    wide = client.lineage(("dataset_version", chain.clean.id), direction="both", depth=5)
    assert _keys(wide) == _keys(both) | {("dataset_version", chain.raw.id)}
    assert wide.way[("dataset_version", chain.raw.id)] == "up"
    assert wide.way[("run", chain.train)] == "down"


def test_the_module_function_uses_the_settings(settings: Settings, chain: Chain) -> None:
    graph = my.lineage(chain.clean, settings=settings)
    assert ("run", chain.prepare) in _keys(graph)


def test_bad_starts_and_arguments_are_clear_errors(client: Client, chain: Chain) -> None:
    with pytest.raises(NotFound):
        client.lineage(("run", "f" * 32))
    with pytest.raises(InvalidInput, match="starts from a run"):
        client.lineage(42)
    with pytest.raises(InvalidInput, match="direction"):
        client.lineage(chain.raw, direction="sideways")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="depth"):
        client.lineage(chain.raw, depth=51)


def test_cycles_and_diamonds_visit_each_node_once() -> None:
    from modelyard.lineage.entities import LineageEdge

    def edge(a: str, b: str) -> LineageEdge:
        return LineageEdge("run", a, "run", b, "output", None, 0)

    edges = [edge("a", "b"), edge("a", "c"), edge("b", "d"), edge("c", "d"), edge("d", "a")]

    def hop(kind: str, object_id: str, direction: str) -> list[LineageEdge]:
        return [e for e in edges if e.source_id == object_id]

    graph = walk(LineageNode("run", "a"), hop, direction="down", depth=10)
    assert [n.id for n in graph.nodes] == ["a", "b", "c", "d"]
    assert len(graph.edges) == 5
    assert graph.depth[("run", "d")] == 2


def test_cli_tree_and_json(settings: Settings, chain: Chain) -> None:
    base = ["--store-url", settings.store_url, "--home", str(settings.home)]
    env = {}
    if settings.tracking.uri:
        base += ["--tracking-uri", settings.tracking.uri]
        env["MODELYARD_TRACKING_TOKEN"] = settings.tracking.token or ""
    runner = CliRunner()
    shown = runner.invoke(app, [*base, "lineage", chain.train[:8], "--depth", "5"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "run train" in shown.output and "dataset raw v1" in shown.output
    assert "<- output: run prepare" in shown.output
    as_json = runner.invoke(
        app, [*base, "lineage", "dataset:raw:1", "-p", "p", "-d", "down", "--json"], env=env
    )
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert {n["id"] for n in data["nodes"]} >= {chain.prepare, chain.audit, chain.clean.id}
    bad = runner.invoke(app, [*base, "lineage", "dataset:nope", "-p", "p"], env=env)
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    sideways = runner.invoke(app, [*base, "lineage", chain.train, "-d", "sideways"], env=env)
    assert sideways.exit_code == 2 and "--direction" in sideways.output
