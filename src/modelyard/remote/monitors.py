"""The monitors of a server: what ``client.monitors`` is in remote mode.
``RemoteMonitors`` has the methods of
:class:`~modelyard.monitoring.contract.MonitorContract`, with the same signatures, results
and errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from modelyard._util import validate_name
from modelyard.monitoring.entities import Monitor, PassReport, WindowValue
from modelyard.remote._http import HttpSession

__all__ = ["RemoteMonitors"]


class RemoteMonitors:
    """Monitors on the deployments of a Modelyard server."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    def create(
        self,
        deployment: str,
        name: str,
        kind: str,
        *,
        project: str,
        config: Mapping[str, Any] | None = None,
        window: str = "hour",
        slide: str | None = None,
        severity: str = "warning",
    ) -> Monitor:
        """A new monitor on ``deployment``."""
        body = {
            "name": name,
            "kind": kind,
            "config": dict(config) if config is not None else None,
            "window": window,
            "slide": slide,
            "severity": severity,
        }
        answer = self.http.call(
            "POST", _path(project, deployment), json_body=body, idempotent=False
        )
        return _monitor(answer.json())

    def apply(self, spec: str | Mapping[str, Any], *, project: str) -> list[Monitor]:
        """Create or update the monitors a YAML document (or its mapping) declares."""
        validate_name(project, "project")
        body = {"spec": spec if isinstance(spec, str) else dict(spec)}
        answer = self.http.call(
            "POST", f"/projects/{quote(project, safe='')}/monitors/apply", json_body=body
        )
        return [_monitor(item) for item in answer.json()]

    def get(self, deployment: str, name: str, *, project: str) -> Monitor:
        return _monitor(self.http.call("GET", _path(project, deployment, name)).json())

    def list_monitors(self, deployment: str, *, project: str) -> list[Monitor]:
        return [_monitor(item) for item in self.http.all_pages(_path(project, deployment), {})]

    def delete(self, deployment: str, name: str, *, project: str) -> None:
        self.http.call("DELETE", _path(project, deployment, name))

    def run_pass(
        self,
        deployment: str,
        *,
        project: str,
        on_segment: Callable[[int, int], None] | None = None,
    ) -> PassReport:
        """A pass run by the server now; ``on_segment`` is told once, when it is done."""
        path = _path(project, deployment).rsplit("/", 1)[0] + "/passes"
        data = self.http.call("POST", path, idempotent=False).json()
        report = PassReport(
            **{
                **data,
                "opened": tuple(data["opened"]),
                "resolved": tuple(data["resolved"]),
                "errors": tuple(data["errors"]),
            }
        )
        if on_segment is not None:
            on_segment(report.segments, report.segments)
        return report

    def values(
        self,
        deployment: str,
        name: str,
        *,
        project: str,
        since: int | None = None,
        until: int | None = None,
        version: str | None = None,
        newest: int | None = None,
    ) -> list[WindowValue]:
        """A monitor's values per window from ``since`` to ``until`` (ms), oldest first
        (only the ``newest`` of them when given)."""
        pairs = (("since", since), ("until", until), ("version", version), ("newest", newest))
        params = {k: v for k, v in pairs if v is not None}
        found = self.http.all_pages(f"{_path(project, deployment, name)}/values", params)
        return [WindowValue(**item) for item in found]


def _path(project: str, deployment: str, name: str | None = None) -> str:
    validate_name(project, "project")
    validate_name(deployment, "deployment")
    path = f"/projects/{quote(project, safe='')}/deployments/{quote(deployment, safe='')}/monitors"
    if name is None:
        return path
    validate_name(name, "name")
    return f"{path}/{quote(name, safe='')}"


def _monitor(data: dict[str, Any]) -> Monitor:
    return Monitor(**data)
