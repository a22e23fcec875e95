"""Services over one metadata store, for tests that use them without a Client: wired as
the Client and the server wire them (one access helper, the project service passed in)."""

from __future__ import annotations

from typing import Any

from modelyard.governance import Actor
from modelyard.governance.access import Access
from modelyard.projects import ProjectService
from modelyard.schedules import ScheduleService
from modelyard.store import Store
from modelyard.tracking.service import TrackingService


def project_service(store: Store, actor: Actor | None = None) -> ProjectService:
    return ProjectService(store, Access(store, actor))


def tracking_service(
    store: Store, actor: Actor | None = None, *, heartbeat_timeout_s: float = 60.0
) -> TrackingService:
    access = Access(store, actor)
    projects = ProjectService(store, access)
    return TrackingService(store, access, projects, heartbeat_timeout_s=heartbeat_timeout_s)


def schedule_service(store: Store, actor: Actor | None = None, **options: Any) -> ScheduleService:
    access = Access(store, actor)
    return ScheduleService(store, access, ProjectService(store, access), **options)
