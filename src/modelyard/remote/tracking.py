"""The tracking service over HTTP: what ``Client.tracking`` is in remote mode.

``RemoteTracking`` has the methods of :class:`~modelyard.tracking.service.TrackingService`
that the SDK and the CLI use, with the same signatures, results and errors, so ``Client``
and ``ActiveRun`` run unchanged against a server. Left out, as server-side business:
``record_artifact`` and ``check_artifact`` (``store_artifact`` uploads an artifact with
its bytes, see ``remote/artifacts.py``, and the server checks it before it stages them),
``referenced_digests`` and ``tree_digests`` (garbage collection runs next to the blob
store), ``sweep_lost`` (every read does it on the server) and ``count_runs``. Projects
go through :class:`~modelyard.remote.projects.RemoteProjects` (``Client.projects``).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from modelyard.errors import ModelyardError
from modelyard.remote._http import HttpSession, dumps, entity, error_from_response
from modelyard.remote.artifacts import RemoteArtifacts
from modelyard.tracking._buffer import Batch
from modelyard.tracking.entities import (
    ArtifactInfo,
    ArtifactSource,
    MetricHistory,
    Run,
    RunPage,
)

__all__ = ["RemoteTracking"]

# A batch whose JSON is larger than this is sent in parts, each with its own id derived
# from the batch's (so a retried batch splits, and is recognized, the same way).
_MAX_REQUEST_BYTES = 16 * 1024 * 1024
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


class RemoteTracking:
    """Runs, metrics, search and artifact listings on a Modelyard server."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    # -- runs: writes ---------------------------------------------------------------

    def create_run(
        self,
        project: str,
        *,
        name: str | None = None,
        parent_id: str | None = None,
        user: str = "",
        host: str = "",
        entry_point: str = "",
        tags_: dict[str, str] | None = None,
    ) -> Run:
        body = {
            "project": project,
            "name": name,
            "parent_id": parent_id,
            "user": user,
            "host": host,
            "entry_point": entry_point,
            "tags": tags_ or {},
        }
        return _run(self.http.call("POST", "/runs", json_body=body, idempotent=False).json())

    def resume_run(self, run_id: str) -> Run:
        """Make a run ``running`` again (a resumed training job); returns it as stored."""
        return _run(self.http.call("POST", f"/runs/{_segment(run_id)}/resume").json())

    def last_steps(self, run_id: str) -> dict[str, int]:
        """The highest step logged so far for each metric of a run."""
        answer = self.http.call("GET", f"/runs/{_segment(run_id)}/last-steps").json()
        return {str(k): int(v) for k, v in answer["steps"].items()}

    def end_run(
        self,
        run_id: str,
        status: str,
        *,
        error: str | None = None,
        wall_time_s: float | None = None,
        cpu_time_s: float | None = None,
        peak_rss_bytes: int | None = None,
        gpu_time_s: float | None = None,
        cost: float | None = None,
    ) -> None:
        body = {
            "status": status,
            "error": error,
            "wall_time_s": _wire(wall_time_s),
            "cpu_time_s": _wire(cpu_time_s),
            "peak_rss_bytes": peak_rss_bytes,
            "gpu_time_s": _wire(gpu_time_s),
            "cost": _wire(cost),
        }
        self.http.call("POST", f"/runs/{_segment(run_id)}/end", json_body=body)

    def delete_run(self, run_id: str, *, permanent: bool = False) -> None:
        """Hide a run (and its children) from lists, or remove it and its rows for good."""
        params = {"permanent": "true" if permanent else "false"}
        self.http.call("DELETE", f"/runs/{_segment(run_id)}", params=params)

    def restore_run(self, run_id: str) -> int:
        """Show a deleted run again, with its child runs deleted with it; how many."""
        answer = self.http.call("POST", f"/runs/{_segment(run_id)}/restore")
        return int(answer.json()["restored"])

    def write_batch(self, batch: Batch, batch_id: str | None = None) -> ModelyardError | None:
        """Store one batch of buffered values in one attempt (the log buffer retries a
        failed batch itself, under the same id, so it is stored once).

        Returns the deferred error of a param clash after the rest was stored; raises
        StorageError when the server could not be reached or failed.
        """
        deferred: ModelyardError | None = None
        for body in _batch_bodies(batch, batch_id or secrets.token_hex(12)):
            answer = self.http.call(
                "POST", "/batches", content=body, headers=_JSON, retry=False, accept=_CONFLICT
            )
            if answer.status_code in _CONFLICT:
                error = error_from_response(answer)
                if not (answer.json().get("batch") or {}).get("stored"):
                    raise error
                deferred = deferred or error
        return deferred

    # -- runs: reads ------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        return _run(self.http.call("GET", f"/runs/{_segment(run_id)}").json())

    def resolve_run_id(self, ref: str) -> str:
        """A full run id from a full id or a unique prefix of at least 6 hex digits."""
        return str(self.http.call("GET", "/runs/resolve", params={"ref": ref}).json()["id"])

    def search_runs(
        self,
        project: str,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        body = {
            "project": project,
            "filter": filter,
            "order_by": [order_by] if isinstance(order_by, str) else order_by,
            "max_results": max_results,
            "page_token": page_token,
            "include_deleted": include_deleted,
        }
        answer = self.http.call("POST", "/runs/search", json_body=body).json()
        return RunPage(
            runs=[_run(r) for r in answer["runs"]], next_page_token=answer["next_page_token"]
        )

    def metric_history(
        self, run_id: str, key: str, *, max_points: int | None = None
    ) -> MetricHistory:
        params: dict[str, Any] = {"key": key}
        if max_points is not None:
            params["max_points"] = max_points
        answer = self.http.call(
            "GET", f"/runs/{_segment(run_id)}/metrics/history", params=params
        ).json()
        return MetricHistory(
            run_id=answer["run_id"],
            key=answer["key"],
            steps=answer["steps"],
            values=[float(v) for v in answer["values"]],
            timestamps=answer["timestamps"],
            total_points=answer["total_points"],
        )

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[ArtifactInfo]:
        params = {"prefix": prefix} if prefix else {}
        path = f"/runs/{_segment(run_id)}/artifacts"
        return [_artifact(item) for item in self.http.all_pages(path, params)]

    def store_artifact(self, run_id: str, path: str, source: ArtifactSource) -> ArtifactInfo:
        """Upload ``source`` as artifact ``path`` of a run (the server stores it)."""
        return RemoteArtifacts(self.http).upload(run_id, path, source)

    def get_artifact(self, run_id: str, path: str) -> ArtifactInfo:
        answer = self.http.call(
            "GET", f"/runs/{_segment(run_id)}/artifacts/info", params={"path": path}
        )
        return _artifact(answer.json())


_JSON = {"Content-Type": "application/json"}
_CONFLICT = frozenset({409})


def _segment(value: str) -> str:
    """``value`` as one URL path segment."""
    return quote(value, safe="")


def _wire(value: float | None) -> float | str | None:
    """A float as JSON can carry it: NaN and infinities as strings."""
    if value is None or math.isfinite(value):
        return value
    return "NaN" if value != value else _NON_FINITE[value]


def _batch_bodies(batch: Batch, batch_id: str, part: str = "") -> list[bytes]:
    """The request bodies of a batch: one, or (over ``_MAX_REQUEST_BYTES``) halves with
    ids derived from ``batch_id`` and their place, the same on every retry."""
    wire_id = batch_id
    if part:
        wire_id = hashlib.blake2b(f"{batch_id}/{part}".encode(), digest_size=12).hexdigest()
    content: dict[str, Any] = {
        "batch_id": wire_id,
        "metrics": _series(batch.metrics),
        "params": batch.params,
        "tags": batch.tags,
        "heartbeats": batch.heartbeats,
    }
    try:
        body = dumps(content)
    except ValueError:  # a NaN or an infinity: JSON carries them as strings
        for series in content["metrics"]:
            series["values"] = [_wire(v) for v in series["values"]]
        body = dumps(content)
    if len(body) <= _MAX_REQUEST_BYTES:
        return [body]
    rows = [
        *((0, r) for r in batch.metrics),
        *((1, r) for r in batch.params),
        *((2, r) for r in batch.tags),
        *((3, r) for r in batch.heartbeats),
    ]
    if len(rows) < 2:
        return [body]
    half = len(rows) // 2
    return _batch_bodies(_batch_of(rows[:half]), batch_id, part + "0") + _batch_bodies(
        _batch_of(rows[half:]), batch_id, part + "1"
    )


def _series(rows: list[tuple[str, str, float, int, int]]) -> list[dict[str, Any]]:
    """Metric rows as the wire's columns, one entry per (run, key) in order of first
    appearance."""
    columns: dict[tuple[str, str], tuple[list[int], list[float], list[int]]] = {}
    for run_id, key, value, step, stamp in rows:
        found = columns.get((run_id, key))
        if found is None:
            found = columns[(run_id, key)] = ([], [], [])
        found[0].append(step)
        found[1].append(value)
        found[2].append(stamp)
    return [
        {"run_id": r, "key": k, "steps": steps, "values": values, "timestamps": stamps}
        for (r, k), (steps, values, stamps) in columns.items()
    ]


def _batch_of(rows: list[tuple[int, Any]]) -> Batch:
    lists: tuple[list[Any], ...] = ([], [], [], [])
    for kind, row in rows:
        lists[kind].append(row)
    return Batch(metrics=lists[0], params=lists[1], tags=lists[2], heartbeats=lists[3])


def _artifact(data: dict[str, Any]) -> ArtifactInfo:
    return entity(ArtifactInfo, data)


def _run(data: dict[str, Any]) -> Run:
    return entity(
        Run,
        data,
        wall_time_s=_float(data["wall_time_s"]),
        cpu_time_s=_float(data["cpu_time_s"]),
        gpu_time_s=_float(data["gpu_time_s"]),
        cost=_float(data["cost"]),
        metrics={key: float(value) for key, value in data["metrics"].items()},
        deleted_at=data.get("deleted_at"),
    )


def _float(value: float | str | None) -> float | None:
    return None if value is None else float(value)
