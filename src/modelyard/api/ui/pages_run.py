"""A run's details (metric charts, overlaid runs, system metrics, artifact previews,
source, resources, lineage) and the compare page of several runs.

Metric series are read through the tracking service, downsampled on the server to at
most :data:`HISTORY_POINTS` points keeping each bucket's lowest and highest value, and
put in the page as JSON; ``static/run.js`` draws them with uPlot (drag to zoom,
double-click to reset) and draws the parallel coordinates of the compare page.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from modelyard.api._services import Services, get_services
from modelyard.api.ui._pages import Viewer, page, render, viewer
from modelyard.errors import InvalidInput, ModelyardError, NotFound
from modelyard.lineage.edges import DATASET_VERSION, MODEL_VERSION, RUN
from modelyard.tracking.capture import DIFF_ARTIFACT
from modelyard.tracking.entities import ArtifactInfo, Run
from modelyard.tracking.service import TrackingService

__all__ = ["SYSTEM_PREFIX", "router", "run_details"]

router = APIRouter(include_in_schema=False)

#: The most points of one series a chart gets (downsampled on the server beyond).
HISTORY_POINTS = 500
#: The key prefix of the system metrics the tracker samples (``tracking/system.py``).
SYSTEM_PREFIX = "system/"
#: Charts one page draws of each section (the other metrics are listed by name).
MAX_CHARTS = 40
#: Runs one chart may overlay, and runs one compare page takes.
MAX_OVERLAY = 8
#: The project's newest runs offered as overlay choices.
RECENT_RUNS = 50
MAX_COMPARE = 20
#: What an artifact preview reads: the head of a text, the rows of a Parquet table, the
#: largest Parquet file read for its head, and how many artifacts get a preview.
TEXT_HEAD_BYTES = 16 * 1024
PARQUET_ROWS = 20
PARQUET_MAX_BYTES = 32 * 1024 * 1024
MAX_PREVIEWS = 30
#: The head of the git diff shown on the run page.
DIFF_HEAD_BYTES = 64 * 1024

_IMAGE = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"})
_TEXT = frozenset(
    {".txt", ".log", ".csv", ".tsv", ".md", ".yaml", ".yml", ".diff", ".py", ".toml", ".ini"}
)
_HEX = re.compile(r"^[0-9a-fA-F]{6,32}$")


@dataclass(frozen=True)
class Preview:
    """How an artifact shows on the run page: ``kind`` is image, html, text, json, table
    or none; ``text`` the head of a text, ``columns``/``rows`` a table's head."""

    artifact: ArtifactInfo
    kind: str
    text: str = ""
    truncated: bool = False
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    note: str = ""


def run_details(
    request: Request, who: Viewer, found: Run, overlay: Sequence[str]
) -> dict[str, Any]:
    """What the run page shows beyond the run's attributes: charts of its metrics (with
    the overlaid runs' series), system metric charts, artifact previews, source, lineage."""
    services = get_services(request)
    tracking = services.tracking.acting_as(who.actor)
    overlaid, overlay_error = _overlaid(tracking, found, overlay)
    keys = sorted(found.metrics)
    metric_keys = [k for k in keys if not k.startswith(SYSTEM_PREFIX)]
    system_keys = [k for k in keys if k.startswith(SYSTEM_PREFIX)]
    shown = [found, *overlaid]
    charted = metric_keys[:MAX_CHARTS] + system_keys[:MAX_CHARTS]
    charts = {key: _series(tracking, shown, key) for key in charted}
    artifacts = tracking.list_artifacts(found.id)
    previews = [
        _preview(services, a) if i < MAX_PREVIEWS else Preview(a, "none")
        for i, a in enumerate(artifacts)
    ]
    diff = next((a for a in artifacts if a.path == DIFF_ARTIFACT and a.kind == "file"), None)
    return {
        "metric_keys": metric_keys[:MAX_CHARTS],
        "system_keys": system_keys[:MAX_CHARTS],
        "uncharted": metric_keys[MAX_CHARTS:] + system_keys[MAX_CHARTS:],
        "charts": charts,
        "overlaid": overlaid,
        "overlay": list(overlay),
        "overlay_error": overlay_error,
        "recent": [
            r
            for r in tracking.search_runs(found.project, max_results=RECENT_RUNS).runs
            if r.id != found.id
        ],
        "previews": previews,
        "git": {k: v for k, v in found.tags.items() if k.startswith("git.")},
        "source": {k: v for k, v in found.tags.items() if k.startswith("source.")},
        "diff": _text_head(services, diff, DIFF_HEAD_BYTES) if diff is not None else None,
        "lineage": _lineage(services, who, found),
    }


@router.get("/projects/{project}/compare", response_class=HTMLResponse)
@page
def compare(request: Request, project: str, runs: list[str] = Query(default=[])) -> Response:
    """Several runs of a project side by side: one chart per metric they share (a series
    per run), their params (those that differ highlighted) and parallel coordinates."""
    who = viewer(request)
    tracking = get_services(request).tracking.acting_as(who.actor)
    ids = list(dict.fromkeys(r for r in runs if r))
    if len(ids) > MAX_COMPARE:
        raise InvalidInput(f"compare at most {MAX_COMPARE} runs at a time", field="runs")
    found = []
    for run_id in ids:
        one = tracking.get_run(run_id)
        if one.project != project:
            raise NotFound(f"run {run_id!r} does not exist in project {project!r}", field="runs")
        found.append(one)
    shared = sorted(set.intersection(*(set(r.metrics) for r in found))) if found else []
    common = sorted(shared, key=lambda k: (k.startswith(SYSTEM_PREFIX), k))[:MAX_CHARTS]
    params = sorted({k for r in found for k in r.params})
    metrics = sorted({k for r in found for k in r.metrics})
    return render(
        request,
        "run_compare.html",
        who,
        project=project,
        runs=found,
        common=common,
        charts={key: _series(tracking, found, key) for key in common},
        params=params,
        differs={k for k in params if len({r.params.get(k) for r in found}) > 1},
        parallel=_parallel(found, params, metrics),
    )


def _label(run: Run) -> str:
    return run.name or run.id[:12]


def _overlaid(
    tracking: TrackingService, found: Run, overlay: Sequence[str]
) -> tuple[list[Run], str | None]:
    """The runs asked for by id, id prefix or name (of the same project), and the first
    error in the asking (shown beside the overlay box)."""
    chosen: list[Run] = []
    for ref in list(dict.fromkeys(r.strip() for r in overlay if r.strip()))[:MAX_OVERLAY]:
        try:
            other = _find_run(tracking, found.project, ref)
        except ModelyardError as exc:
            return chosen, exc.message
        if other.id != found.id and other.id not in {r.id for r in chosen}:
            chosen.append(other)
    return chosen, None


def _find_run(tracking: TrackingService, project: str, ref: str) -> Run:
    """A run of ``project`` by full id, unique id prefix, or name (the newest so named)."""
    if _HEX.match(ref):
        try:
            other = tracking.get_run(tracking.resolve_run_id(ref))
        except NotFound:
            other = None
        if other is not None and other.project == project:
            return other
    quoted = "'" + ref.replace("\\", "\\\\").replace("'", "\\'") + "'"
    named = tracking.search_runs(project, filter=f"attributes.name = {quoted}", max_results=1)
    if not named.runs:
        raise NotFound(f"no run {ref!r} in project {project!r}", field="overlay")
    return named.runs[0]


def _series(tracking: TrackingService, shown: Sequence[Run], key: str) -> list[dict[str, Any]]:
    """One series per run that has metric ``key``: its steps and values (NaN and
    infinities as null), downsampled to :data:`HISTORY_POINTS` keeping the extremes."""
    out = []
    for run in shown:
        if key not in run.metrics:
            continue
        history = tracking.metric_history(run.id, key, max_points=HISTORY_POINTS)
        out.append(
            {
                "run": run.id,
                "label": _label(run),
                "x": history.steps,
                "y": [v if math.isfinite(v) else None for v in history.values],
                "total": history.total_points,
            }
        )
    return out


def _preview(services: Services, artifact: ArtifactInfo) -> Preview:
    """The preview an artifact gets, by its name's suffix (none for a folder)."""
    suffix = PurePosixPath(artifact.path).suffix.lower()
    if artifact.kind != "file":
        return Preview(artifact, "none")
    if suffix in _IMAGE:
        return Preview(artifact, "image")
    if suffix in (".html", ".htm"):
        return Preview(artifact, "html")
    if suffix == ".parquet":
        return _parquet_head(services, artifact)
    if suffix == ".json":
        text, truncated = _text_head(services, artifact, TEXT_HEAD_BYTES)
        if not truncated:
            with contextlib.suppress(ValueError):  # not JSON after all: shown as it is
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        return Preview(artifact, "json", text=text, truncated=truncated)
    if suffix in _TEXT:
        text, truncated = _text_head(services, artifact, TEXT_HEAD_BYTES)
        return Preview(artifact, "text", text=text, truncated=truncated)
    return Preview(artifact, "none")


def _text_head(services: Services, artifact: ArtifactInfo, limit: int) -> tuple[str, bool]:
    """The first ``limit`` bytes of a file artifact as text, and whether there is more."""
    with services.blobs.open(artifact.digest) as reader:
        head = reader.read(limit)
    return head.decode("utf-8", errors="replace"), artifact.size > limit


def _parquet_head(services: Services, artifact: ArtifactInfo) -> Preview:
    """The first :data:`PARQUET_ROWS` rows of a Parquet file, as text cells."""
    if artifact.size > PARQUET_MAX_BYTES:
        return Preview(artifact, "none", note="too large to preview")
    import pyarrow.parquet as pq

    data = services.blobs.get_bytes(artifact.digest)
    try:
        table = pq.ParquetFile(io.BytesIO(data)).iter_batches(batch_size=PARQUET_ROWS)
        batch = next(table, None)
    except Exception as exc:  # a file named .parquet that is not one still lists
        return Preview(artifact, "none", note=f"not a readable Parquet file: {exc}")
    if batch is None:
        return Preview(artifact, "table", note="no rows")
    columns = tuple(batch.schema.names)
    rows = tuple(
        tuple("-" if v is None else str(v) for v in row.values())
        for row in batch.slice(0, PARQUET_ROWS).to_pylist()
    )
    return Preview(artifact, "table", columns=columns, rows=rows)


def _lineage(services: Services, who: Viewer, found: Run) -> dict[str, list[dict[str, str]]]:
    """One hop of lineage around the run: what it read (in) and what it made (out), each
    with a label and the page it links to."""
    edges = services.lineage.acting_as(who.actor).edges(RUN, found.id)
    inputs: list[dict[str, str]] = []
    outputs: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for edge in edges:
        incoming = (edge.target_kind, edge.target_id) == (RUN, found.id)
        kind, object_id = (
            (edge.source_kind, edge.source_id) if incoming else (edge.target_kind, edge.target_id)
        )
        if (kind, object_id) in seen:
            continue
        seen.add((kind, object_id))
        node = _node(services, who, found.project, kind, object_id)
        (inputs if incoming else outputs).append(node)
    return {"inputs": inputs, "outputs": outputs}


def _node(services: Services, who: Viewer, project: str, kind: str, object_id: str) -> dict:
    """A lineage node for people: a label and a link (none when it cannot be read)."""
    base = f"/projects/{_q(project)}"
    try:
        if kind == DATASET_VERSION:
            version = services.datasets.acting_as(who.actor).get_by_id(object_id)
            return {
                "kind": "dataset",
                "label": f"{version.dataset} v{version.version}",
                "href": f"/projects/{_q(version.project)}/datasets/{_q(version.dataset)}",
            }
        if kind == MODEL_VERSION:
            model = services.models.acting_as(who.actor).get_version_by_id(object_id)
            return {
                "kind": "model",
                "label": f"{model.name} v{model.version}",
                "href": f"/projects/{_q(model.project)}/models/{_q(model.name)}",
            }
        if kind == RUN:
            other = services.tracking.acting_as(who.actor).get_run(object_id)
            return {
                "kind": "run",
                "label": _label(other),
                "href": f"/projects/{_q(other.project)}/runs/{other.id}",
            }
    except ModelyardError:
        pass
    return {"kind": kind.replace("_", " "), "label": object_id[:12], "href": base}


def _q(part: str) -> str:
    """A path part, URL-quoted."""
    return quote(part, safe="")


def _parallel(found: Sequence[Run], params: list[str], metrics: list[str]) -> dict[str, Any]:
    """Parallel coordinates: an axis per param and metric, a line per run. A param whose
    values are all numbers is a numeric axis; others are categories in sorted order."""
    axes = []
    for key in params:
        values = [r.params.get(key) for r in found]
        numbers = [_number(v) for v in values]
        numeric = all(n is not None for n, v in zip(numbers, values, strict=True) if v is not None)
        axes.append(
            {
                "name": f"params.{key}",
                "numeric": numeric,
                "values": numbers if numeric else values,
            }
        )
    for key in metrics:
        values_m = [r.metrics.get(key) for r in found]
        axes.append(
            {
                "name": f"metrics.{key}",
                "numeric": True,
                "values": [v if v is not None and math.isfinite(v) else None for v in values_m],
            }
        )
    return {"runs": [{"id": r.id, "label": _label(r)} for r in found], "axes": axes}


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
