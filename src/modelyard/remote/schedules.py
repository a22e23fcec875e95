"""The schedule service over HTTP: what ``client.schedules`` is in remote mode.

``RemoteSchedules`` has the user-facing methods of
:class:`~modelyard.schedules.service.ScheduleService` (create, read, enable, disable,
run now, delete, fires) with the same signatures, results and errors. The worker's methods (due,
claim, take_over, renew, record_run, finish) are not here: a worker runs where the store
is. A pipeline reference is sent as given and checked by the server against what its
administrator allows, without importing it (a relative ``FILE.py`` path is taken from
the server's ``worker.pipeline_dir``); a worker loads it when it fires.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from modelyard._util import validate_name
from modelyard.remote._http import HttpSession, entity
from modelyard.schedules.entities import Fire, Schedule
from modelyard.schedules.service import check_limit, check_params

__all__ = ["RemoteSchedules"]


class RemoteSchedules:
    """Schedules and their fires on a Modelyard server."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    # -- changing -------------------------------------------------------------------------

    def create(
        self,
        name: str,
        *,
        project: str,
        pipeline: str,
        params: Mapping[str, Any] | str | None = None,
        cron: str | None = None,
        timezone: str | None = None,
        dataset: str | None = None,
        enabled: bool = True,
    ) -> Schedule:
        """A schedule that runs ``pipeline`` with ``params`` on the cron expression
        ``cron`` (in ``timezone``, default UTC) or on each new version of ``dataset`` in
        ``project``. The server checks the reference against what its administrator
        allows and the parameters as JSON values; a worker loads the pipeline."""
        validate_name(name, "schedule")
        body = {
            "name": name,
            "pipeline": pipeline,
            "params": check_params(params),  # JSON values only, as embedded
            "cron": cron,
            "timezone": timezone,
            "dataset": dataset,
            "enabled": enabled,
        }
        # A create that may have reached the server is not sent again (it would be 409).
        answer = self.http.call("POST", _path(project), json_body=body, idempotent=False)
        return _schedule(answer.json())

    def set_enabled(self, name: str, enabled: bool, *, project: str) -> Schedule:
        """Enable or disable a schedule. Enabling starts from now: cron occurrences and
        dataset versions that came while it was disabled do not fire."""
        action = "enable" if enabled else "disable"
        return _schedule(self.http.call("POST", f"{_path(project, name)}/{action}").json())

    def enable(self, name: str, *, project: str) -> Schedule:
        return self.set_enabled(name, True, project=project)

    def disable(self, name: str, *, project: str) -> Schedule:
        return self.set_enabled(name, False, project=project)

    def run_now(self, name: str, *, project: str) -> Schedule:
        """Ask for a run of the schedule now: the next worker to poll runs its pipeline
        once with its params (trigger ``manual:USER@TIME``), whatever its trigger and
        even when it is disabled. A request still waiting for a worker is kept, not
        doubled."""
        return _schedule(self.http.call("POST", f"{_path(project, name)}/run").json())

    def delete(self, name: str, *, project: str) -> None:
        """Delete a schedule and the record of its fires (the runs stay)."""
        self.http.call("DELETE", _path(project, name))

    # -- reading ----------------------------------------------------------------------------

    def get(self, name: str, *, project: str) -> Schedule:
        """One schedule by name."""
        return _schedule(self.http.call("GET", _path(project, name)).json())

    def list_schedules(self, project: str | None = None) -> list[Schedule]:
        """The schedules of a project, or of every project the caller may read."""
        path = _path(project) if project is not None else "/schedules"
        return [_schedule(item) for item in self.http.all_pages(path)]

    def fires(self, name: str, *, project: str, limit: int = 50) -> list[Fire]:
        """The fires of a schedule, newest first: at most ``limit`` (1 to 500)."""
        check_limit(limit)
        answer = self.http.call("GET", f"{_path(project, name)}/fires", params={"limit": limit})
        return [entity(Fire, item) for item in answer.json()["items"]]


def _path(project: str, name: str | None = None) -> str:
    validate_name(project, "project")
    path = f"/projects/{quote(project, safe='')}/schedules"
    if name is None:
        return path
    return f"{path}/{quote(validate_name(name, 'schedule'), safe='')}"


def _schedule(data: dict[str, Any]) -> Schedule:
    return entity(Schedule, data)
