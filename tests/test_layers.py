"""The house's layers, read from the code's own imports (every import statement: at the
top, inside functions and under TYPE_CHECKING alike).

Interfaces (the SDK, the REST API, the CLI, the remote client, the worker, pipelines) sit
on the services, which sit on storage. An import circle never spans two packages, and no
module below the interfaces imports one of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import modelyard

PACKAGE = Path(modelyard.__file__).parent
#: Packages and top-level modules that are interfaces: nothing below imports them.
INTERFACES = {
    "<root>",
    "__main__",
    "sdk",
    "api",
    "cli",
    "remote",
    "worker",
    "pipelines",
    "examples",
}
#: Package faces and modules that are the SDK's sugar (``my.datasets.register(...)``,
#: ``my.models.log(...)``), as the root package is: interfaces too, though their package's
#: modules are a service.
FACES = {
    "modelyard.alerts",
    "modelyard.datasets",
    "modelyard.models",
    "modelyard.deployments",
    "modelyard.predictions",
    "modelyard.costs",
    "modelyard.monitors",
    "modelyard.loops",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["modelyard", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str) -> Iterator[str]:
    """The modules of this package that ``module`` imports, anywhere in its code."""
    path = MODULES[module]
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            origin = node.module or ""
            if node.level:
                origin = ".".join(base[: len(base) - node.level + 1] + ([origin] if origin else []))
            names = [
                f"{origin}.{a.name}" if f"{origin}.{a.name}" in MODULES else origin
                for a in node.names
            ]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                yield target


GRAPH = {module: set(_imported(module)) for module in MODULES}


def _unit(module: str) -> str:
    """The package (or top-level module) a module belongs to; the package root itself
    is ``<root>``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def _is_interface(module: str) -> bool:
    return module in FACES or _unit(module) in INTERFACES


def _circles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(GRAPH):
        if start in index:
            continue
        work = [(start, iter(sorted(GRAPH[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(GRAPH[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_graph_is_read() -> None:
    assert "modelyard.tracking.service" in GRAPH["modelyard.services"]
    assert "modelyard.sdk.client" in GRAPH["modelyard"]


def test_no_import_circle_spans_two_packages() -> None:
    spanning = [c for c in _circles() if len({_unit(m) for m in c}) > 1]
    assert not spanning, "import circles across packages:\n" + "\n".join(map(str, spanning))


def test_the_circle_finder_finds_a_circle() -> None:
    GRAPH["modelyard.errors"].add("modelyard.config")
    try:
        assert any({"modelyard.errors", "modelyard.config"} <= set(c) for c in _circles())
    finally:
        GRAPH["modelyard.errors"].discard("modelyard.config")


def test_nothing_below_the_interfaces_imports_one() -> None:
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if not _is_interface(module)
        for target in targets
        if _is_interface(target)
    )
    assert not upward, "\n".join(upward)


#: The services (and the access helper they share) that only the composition root builds.
SERVICES = {
    "Access",
    "DatasetService",
    "Governance",
    "LineageService",
    "ModelService",
    "PredictionService",
    "ProjectService",
    "ScheduleService",
    "StepIndex",
    "TrackingService",
    "WebhookService",
}


def test_only_the_composition_root_builds_services() -> None:
    built = sorted(
        f"{module} builds {node.func.id} (line {node.lineno})"
        for module, path in MODULES.items()
        if module != "modelyard.services"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in SERVICES
    )
    assert not built, "\n".join(built)
