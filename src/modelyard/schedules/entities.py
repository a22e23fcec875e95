"""What the schedule service returns: schedules, due occurrences and fires."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Due", "Fire", "Schedule"]


@dataclass(frozen=True, slots=True)
class Schedule:
    """A pipeline run on a cron expression (``cron``, ``timezone``) or on each new
    version of a dataset of the project (``dataset``). ``next_fire_at`` (ms) is the next
    cron occurrence for an enabled cron schedule; ``seen_version`` the newest version of
    the dataset a dataset schedule has handled; ``requested_at`` (ms) and
    ``requested_by`` a run asked for now that no worker has claimed yet."""

    id: str
    project: str
    name: str
    pipeline: str
    params: dict[str, Any]
    cron: str | None
    timezone: str | None
    dataset: str | None
    enabled: bool
    created_by: str
    created_at: int
    updated_at: int
    next_fire_at: int | None
    seen_version: int | None
    requested_at: int | None = None
    requested_by: str | None = None

    @property
    def trigger(self) -> str:
        """The trigger in words: ``cron 0 3 * * * (Europe/Paris)`` or ``dataset sales``."""
        if self.cron is not None:
            return f"cron {self.cron} ({self.timezone})"
        return f"dataset {self.dataset}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "trigger": self.trigger}


@dataclass(frozen=True, slots=True)
class Due:
    """An occurrence that is due: a cron time (``due_at``, ms, with ``missed`` earlier
    occurrences skipped), a new dataset version (``dataset_version_id``, number
    ``version``) or a run asked for now (``requested_at``, ms). ``trigger`` is what the
    pipeline run records."""

    schedule: Schedule
    trigger: str
    due_at: int | None = None
    missed: int = 0
    dataset_version_id: str | None = None
    version: int | None = None
    requested_at: int | None = None


@dataclass(frozen=True, slots=True)
class Fire:
    """One claimed occurrence of a schedule and its outcome. ``status`` is ``running``
    (held by ``worker`` until ``lease_until``), ``finished`` or ``failed``."""

    id: str
    schedule_id: str
    schedule: str
    project: str
    trigger: str
    due_at: int | None
    dataset_version_id: str | None
    missed: int
    status: str
    worker: str
    attempts: int
    lease_until: int
    run_id: str | None
    error: str | None
    claimed_at: int
    finished_at: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
