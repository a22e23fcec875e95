"""``modelyard lineage REF``: what produced an object, or what depends on it, as a tree.

``REF`` is a run (its id or a unique prefix of 6+ hex digits, or ``run:ID``), a dataset
version (``dataset:NAME``, ``dataset:NAME:VERSION`` or ``dataset:NAME@ALIAS``) or a model
version (``model:NAME``, ``model:NAME/VERSION`` or ``model:NAME@ALIAS``) in ``--project``.
Up from a model version: its run, the dataset versions that run read (with the digests of
their values) and the runs and data they came from, each run with its code commit.
"""

from __future__ import annotations

from typing import Any

import typer

from modelyard.cli._common import (
    JsonOption,
    client,
    console,
    one_line_errors,
    print_json,
    project_option,
    styled,
)
from modelyard.errors import InvalidInput
from modelyard.lineage.graph import LineageGraph, LineageNode


@one_line_errors
def lineage(
    ctx: typer.Context,
    ref: str = typer.Argument(
        ...,
        help="A run id (or prefix), run:ID, dataset:NAME[:VERSION|@ALIAS] or "
        "model:NAME[/VERSION|@ALIAS].",
    ),
    direction: str = typer.Option(
        "up", "--direction", "-d", help="up: what produced it; down: what depends on it; both."
    ),
    depth: int = typer.Option(3, "--depth", help="How many hops to follow (0-50)."),
    project: str = project_option("Project of a dataset or a model."),
    as_json: bool = JsonOption,
) -> None:
    """Show the lineage of a run, a dataset version or a model version as a tree."""
    if direction not in ("up", "down", "both"):
        raise InvalidInput(
            f"--direction must be up, down or both, not {direction!r}", field="direction"
        )
    with client(ctx) as c:
        graph = c.lineage(_node(c, ref, project), direction=direction, depth=depth)
    if as_json:
        print_json(graph.as_dict())
    else:
        console.print(tree(graph))


def _node(c: Any, ref: str, project: str) -> tuple[str, str]:
    from modelyard.cli.data import parse_ref

    kind, _, rest = ref.partition(":")
    if kind == "dataset" and rest:
        name, version, alias = parse_ref(rest)
        return ("dataset_version", c.datasets.get(name, version, alias, project=project).id)
    if kind == "model" and rest:
        return ("model_version", c.models.get_version(rest, project=project).id)
    run_ref = rest if kind == "run" and rest else ref
    return ("run", c.tracking.resolve_run_id(run_ref))


def tree(graph: LineageGraph) -> Any:
    """A Rich tree of the graph from its root; a node met again is shown once more by
    name only (its branch is under its first place)."""
    from rich.text import Text
    from rich.tree import Tree

    shown: set[tuple[str, str]] = set()

    def name(node: LineageNode) -> Text:
        text = styled(node.label or f"{node.kind} {node.id}", " ", (node.id, "dim"))
        return text + styled(" ", (f"({node.note})", "red")) if node.note else text

    label = name(graph.root)
    label.stylize("bold")
    root = Tree(label)
    shown.add(graph.root.key)

    def grow(branch: Tree, node: LineageNode) -> None:
        for edge, other, way in graph.neighbours(node):
            arrow = "<-" if way == "up" else "->"
            child = branch.add(styled(f"{arrow} {edge.relation}: ", name(other)))
            if other.key not in shown:
                shown.add(other.key)
                grow(child, other)

    grow(root, graph.root)
    return root
