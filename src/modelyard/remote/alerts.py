"""The alerts and health scores of a server: what ``client.alerts`` is in remote mode.
``RemoteAlerts`` has the methods of
:class:`~modelyard.monitoring.contract.AlertContract`, with the same signatures, results
and errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modelyard import limits
from modelyard._util import validate_name
from modelyard.monitoring.entities import Alert, AlertNote, Health, HealthComponent
from modelyard.remote._http import HttpSession

__all__ = ["RemoteAlerts"]


class RemoteAlerts:
    """Alerts of projects and health scores of deployments on a Modelyard server."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    def list_alerts(
        self,
        project: str,
        *,
        status: str | None = None,
        severity: str | None = None,
        deployment: str | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        """Alerts of a project, newest first."""
        params: dict[str, Any] = {"limit": limit}
        for name, value in (("status", status), ("severity", severity)):
            if value is not None:
                params[name] = value
        if deployment is not None:
            params["deployment"] = validate_name(deployment, "deployment")
        answer = self.http.call("GET", _alerts(project), params=params).json()
        return [_alert(item) for item in answer["items"]]

    def get(self, alert_id: str, *, project: str) -> Alert:
        """One alert with its history."""
        return _alert(self.http.call("GET", _alerts(project, alert_id)).json())

    def _note(self, alert_id: str, project: str, action: str, comment: str) -> Alert:
        path = f"{_alerts(project, alert_id)}/{action}"
        answer = self.http.call("POST", path, json_body={"comment": comment}, idempotent=False)
        return _alert(answer.json())

    def acknowledge(self, alert_id: str, *, project: str, comment: str = "") -> Alert:
        return self._note(alert_id, project, "acknowledge", comment)

    def resolve(self, alert_id: str, *, project: str, comment: str = "") -> Alert:
        return self._note(alert_id, project, "resolve", comment)

    def comment(self, alert_id: str, comment: str, *, project: str) -> Alert:
        return self._note(alert_id, project, "comments", comment)

    def health(self, deployment: str, *, project: str, version: str | None = None) -> Health:
        """The health of a deployment, or of one of its versions (``model/3``)."""
        params = {} if version is None else {"version": version}
        return _health(
            self.http.call("GET", _health_path(project, deployment), params=params).json()
        )

    def health_history(
        self,
        deployment: str,
        *,
        project: str,
        since: int | None = None,
        until: int | None = None,
    ) -> list[Health]:
        """The deployment's health per window, oldest first."""
        params = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
        path = f"{_health_path(project, deployment)}/history"
        return [
            _health(item) for item in self.http.call("GET", path, params=params).json()["items"]
        ]


def _alerts(project: str, alert_id: str | None = None) -> str:
    validate_name(project, "project")
    path = f"/projects/{quote(project, safe='')}/alerts"
    if alert_id is None:
        return path
    limits.check_text(alert_id, "alert_id", 64)
    return f"{path}/{quote(alert_id, safe='')}"


def _health_path(project: str, deployment: str) -> str:
    validate_name(project, "project")
    validate_name(deployment, "deployment")
    return f"/projects/{quote(project, safe='')}/deployments/{quote(deployment, safe='')}/health"


def _alert(data: dict[str, Any]) -> Alert:
    history = tuple(AlertNote(n["action"], n["by"], n["at"], n["comment"]) for n in data["history"])
    return Alert(**{**data, "history": history})


def _health(data: dict[str, Any]) -> Health:
    parts = tuple(HealthComponent(**c) for c in data["components"])
    return Health(**{**data, "components": parts})
