"""What the routes call: the project, tracking, dataset and schedule services, governance
and the blob store of one installation."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request

from modelyard import services

if TYPE_CHECKING:
    from modelyard.artifacts import BlobStore
    from modelyard.config import Settings
    from modelyard.datasets.service import DatasetService
    from modelyard.events.service import WebhookService
    from modelyard.governance import Governance
    from modelyard.lineage.service import LineageService
    from modelyard.monitoring.alerts import AlertService
    from modelyard.monitoring.costs import CostService
    from modelyard.monitoring.loop import LoopService
    from modelyard.monitoring.service import MonitorService
    from modelyard.predictions.service import PredictionService
    from modelyard.projects import ProjectService
    from modelyard.registry.service import ModelService
    from modelyard.schedules import ScheduleService
    from modelyard.serving.service import DeploymentService
    from modelyard.tracking.service import TrackingService

__all__ = [
    "Services",
    "get_alerts",
    "get_blobs",
    "get_costs",
    "get_datasets",
    "get_deployments",
    "get_governance",
    "get_lineage",
    "get_loops",
    "get_models",
    "get_monitors",
    "get_predictions",
    "get_projects",
    "get_schedules",
    "get_services",
    "get_tracking",
    "get_webhooks",
]

#: Staging files of uploads untouched for this long are left over from a dead server.
STALE_UPLOAD_S = 6 * 3600.0


class Services(services.Services):
    """The server's services (:class:`modelyard.services.Services`): a request's pipeline
    reference is judged, never imported (only a worker imports code).

    The app opens them at start-up (so a bad store URL or a stale schema stops the server
    at once); anything asked for before that opens on first use.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, load_pipelines=False)

    def open(self) -> None:
        """Open the metadata store (its schema must be current) and the blob store, and
        tidy what a dead server left behind."""
        self.store  # noqa: B018 (opened now: a bad URL or a stale schema stops the start)
        try:
            self.blobs  # noqa: B018
        except BaseException:
            self.close()
            raise
        self.tracking.prune_write_batches()
        _remove_stale_uploads(self.upload_dir)

    @property
    def upload_dir(self) -> Path:
        """Where request bodies of uploads are staged before they are hashed and stored."""
        folder = Path(self.settings.home) / "tmp" / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _remove_stale_uploads(folder: Path, older_than_s: float = STALE_UPLOAD_S) -> None:
    """Delete staging files that an upload left behind when its server died mid-request
    (old enough that no live request of another worker can still be writing them)."""
    cutoff = time.time() - older_than_s
    for staged in folder.glob("upload-*.tmp"):
        with contextlib.suppress(OSError):
            if staged.stat().st_mtime < cutoff:
                staged.unlink()


def get_services(request: Request) -> Services:
    """FastAPI dependency: the app's services."""
    services: Services = request.app.state.services
    return services


def get_projects(request: Request) -> ProjectService:
    """FastAPI dependency: the project service, acting for the request's actor."""
    from modelyard.api.auth import get_actor

    return get_services(request).projects.acting_as(get_actor(request))


def get_tracking(request: Request) -> TrackingService:
    """FastAPI dependency: the tracking service (every rule lives there), acting for the
    request's actor."""
    from modelyard.api.auth import get_actor

    return get_services(request).tracking.acting_as(get_actor(request))


def get_datasets(request: Request) -> DatasetService:
    """FastAPI dependency: the dataset service (every rule lives there), acting for the
    request's actor."""
    from modelyard.api.auth import get_actor

    return get_services(request).datasets.acting_as(get_actor(request))


def get_lineage(request: Request) -> LineageService:
    """FastAPI dependency: the lineage service, acting for the request's actor."""
    from modelyard.api.auth import get_actor

    return get_services(request).lineage.acting_as(get_actor(request))


def get_models(request: Request) -> ModelService:
    """FastAPI dependency: the model registry service, acting for the request's actor."""
    from modelyard.api.auth import get_actor

    return get_services(request).models.acting_as(get_actor(request))


def get_deployments(request: Request) -> DeploymentService:
    """FastAPI dependency: the deployment service, acting for the request's actor."""
    from modelyard.api.auth import get_actor

    return get_services(request).deployments.acting_as(get_actor(request))


def get_costs(request: Request) -> CostService:
    """FastAPI dependency: the cost service, acting for the request's actor."""
    from modelyard.api.auth import get_actor

    return get_services(request).costs.acting_as(get_actor(request))


def get_monitors(request: Request) -> MonitorService:
    """FastAPI dependency: the monitor service, acting for the request's actor."""
    from modelyard.api.auth import get_actor

    return get_services(request).monitors.acting_as(get_actor(request))


def get_predictions(request: Request) -> PredictionService:
    """FastAPI dependency: the prediction log service, acting for the request's actor."""
    from modelyard.api.auth import get_actor

    return get_services(request).predictions.acting_as(get_actor(request))


def get_alerts(request: Request) -> AlertService:
    """FastAPI dependency: the alert service (alerts and health), acting for the request's
    actor."""
    from modelyard.api.auth import get_actor

    return get_services(request).alerts.acting_as(get_actor(request))


def get_schedules(request: Request) -> ScheduleService:
    """FastAPI dependency: the schedule service (every rule lives there), acting for the
    request's actor."""
    from modelyard.api.auth import get_actor

    return get_services(request).schedules.acting_as(get_actor(request))


def get_loops(request: Request) -> LoopService:
    """FastAPI dependency: the closed loop's service, acting for the request's actor."""
    from modelyard.api.auth import get_actor

    return get_services(request).loops.acting_as(get_actor(request))


def get_webhooks(request: Request) -> WebhookService:
    """FastAPI dependency: the webhook service, acting for the request's actor."""
    from modelyard.api.auth import get_actor

    return get_services(request).webhooks.acting_as(get_actor(request))


def get_governance(request: Request) -> Governance:
    """FastAPI dependency: the governance services."""
    return get_services(request).governance


def get_blobs(request: Request) -> BlobStore:
    """FastAPI dependency: the blob store."""
    return get_services(request).blobs
