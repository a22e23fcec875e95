"""The contract of the schedules service: one typed surface with two implementations,
in this process and through a server (mypy checks both; ``tests/remote/test_contracts.py``
checks that their signatures are the contract's)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from modelyard.schedules.entities import Fire, Schedule

__all__ = ["ScheduleContract"]


class ScheduleContract(Protocol):
    """The schedule service's user-facing surface:
    :class:`~modelyard.schedules.service.ScheduleService` in this process and
    :class:`~modelyard.remote.schedules.RemoteSchedules` through a server both implement it
    (a worker's methods stay off it: it works where the store is)."""

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
        """A schedule that runs ``pipeline`` with ``params`` on the cron expression ``cron`` (in
        ``timezone``, default UTC) or on each new version of ``dataset`` in ``project``
        (versions registered after this call)."""

    def delete(self, name: str, *, project: str) -> None:
        """Delete a schedule and the record of its fires (the runs stay)."""

    def disable(self, name: str, *, project: str) -> Schedule: ...

    def enable(self, name: str, *, project: str) -> Schedule: ...

    def fires(self, name: str, *, project: str, limit: int = 50) -> list[Fire]:
        """The fires of a schedule, newest first: at most ``limit`` (1 to :data:`MAX_FIRES`)."""

    def get(self, name: str, *, project: str) -> Schedule:
        """One schedule by name."""

    def list_schedules(self, project: str | None = None) -> list[Schedule]:
        """The schedules of a project, or of every project the actor may read."""

    def run_now(self, name: str, *, project: str) -> Schedule:
        """Ask for a run of the schedule now: the next worker to poll runs its pipeline once with
        its params (trigger ``manual:USER@TIME``), whatever its trigger and even when it is
        disabled; its cron cursor and dataset versions are left as they are."""

    def set_enabled(self, name: str, enabled: bool, *, project: str) -> Schedule:
        """Enable or disable a schedule."""
