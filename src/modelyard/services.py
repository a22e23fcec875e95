"""The composition root: every service of one installation, built from its settings.

The embedded SDK (:class:`~modelyard.sdk.client.Client`), the server
(:mod:`modelyard.api`) and the worker get their services here, and only here; no service
builds another (each is handed what it depends on). Parts open on first use, once, and
:meth:`Services.close` releases them. To add a service: build it in one property below
from the parts it needs -- :attr:`Services.access` for role checks and audit, the other
services it asks -- and name it in :meth:`Services.blob_references` when its tables
point at blobs. Every service acts for the local operator here; ``acting_as(actor)``
gives one acting for another (the server: per request).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from modelyard._refs import PipelineSources
from modelyard.artifacts import open_blob_store
from modelyard.datasets.service import DatasetService
from modelyard.events.service import WebhookService
from modelyard.governance import Governance, SecretBox
from modelyard.governance.access import Access
from modelyard.lineage.service import LineageService
from modelyard.monitoring.alerts import AlertService
from modelyard.monitoring.costs import CostService
from modelyard.monitoring.loop import LoopService
from modelyard.monitoring.service import MonitorService
from modelyard.predictions.service import PredictionService
from modelyard.projects.service import ProjectService
from modelyard.registry.service import ModelService
from modelyard.schedules.service import ScheduleService
from modelyard.serving.service import DeploymentService
from modelyard.steps.service import StepIndex
from modelyard.store import open_store
from modelyard.tracking.service import TrackingService

if TYPE_CHECKING:
    from modelyard.artifacts import BlobStore
    from modelyard.config import Settings
    from modelyard.gc import BlobReferences
    from modelyard.store import Store

__all__ = ["Services"]


class Services:
    """The store, the blob store and every service over them, for one installation.

    ``load_pipelines``: whether the schedule service imports a pipeline to check it
    (embedded) or judges the reference without importing anything (a server: only a
    worker imports code).
    """

    def __init__(self, settings: Settings, *, load_pipelines: bool = True) -> None:
        self.settings = settings
        self.load_pipelines = load_pipelines
        self._lock = threading.RLock()
        self._store: Store | None = None
        self._blobs: BlobStore | None = None
        self._access: Access | None = None
        self._projects: ProjectService | None = None
        self._tracking: TrackingService | None = None
        self._datasets: DatasetService | None = None
        self._lineage: LineageService | None = None
        self._steps: StepIndex | None = None
        self._schedules: ScheduleService | None = None
        self._governance: Governance | None = None
        self._models: ModelService | None = None
        self._webhooks: WebhookService | None = None
        self._deployments: DeploymentService | None = None
        self._predictions: PredictionService | None = None
        self._costs: CostService | None = None
        self._alerts: AlertService | None = None
        self._monitors: MonitorService | None = None
        self._loops: LoopService | None = None

    @property
    def store(self) -> Store:
        """The metadata store (its schema must be current, or upgraded when the settings
        allow)."""
        with self._lock:
            if self._store is None:
                conf = self.settings.store
                self._store = open_store(
                    self.settings.store_url,
                    busy_timeout_s=conf.busy_timeout_s,
                    auto_upgrade=conf.auto_upgrade,
                )
            return self._store

    @property
    def blobs(self) -> BlobStore:
        with self._lock:
            if self._blobs is None:
                self._blobs = open_blob_store(self.settings)
            return self._blobs

    @property
    def access(self) -> Access:
        """Who the services act for (the local operator), their role checks and audit log:
        one helper, handed to every service."""
        with self._lock:
            if self._access is None:
                self._access = Access(self.store)
            return self._access

    @property
    def projects(self) -> ProjectService:
        with self._lock:
            if self._projects is None:
                self._projects = ProjectService(
                    self.store,
                    self.access,
                    installation={
                        "registry.allow_code_formats": self.settings.registry.allow_code_formats
                    },
                )
            return self._projects

    @property
    def tracking(self) -> TrackingService:
        with self._lock:
            if self._tracking is None:
                self._tracking = TrackingService(
                    self.store,
                    self.access,
                    self.projects,
                    blobs=self.blobs,
                    heartbeat_timeout_s=self.settings.tracking.heartbeat_timeout_s,
                )
            return self._tracking

    @property
    def datasets(self) -> DatasetService:
        with self._lock:
            if self._datasets is None:
                self._datasets = DatasetService(
                    self.store, self.blobs, self.access, self.projects, self.tracking
                )
            return self._datasets

    @property
    def lineage(self) -> LineageService:
        with self._lock:
            if self._lineage is None:
                self._lineage = LineageService(
                    self.store,
                    self.access,
                    tracking=self.tracking,
                    datasets=self.datasets,
                    models=self.models,
                )
            return self._lineage

    @property
    def models(self) -> ModelService:
        """The model registry."""
        with self._lock:
            if self._models is None:
                self._models = ModelService(
                    self.store,
                    self.blobs,
                    self.access,
                    self.projects,
                    tracking=self.tracking,
                    allow_code_formats=self.settings.registry.allow_code_formats,
                    retired_retention_days=self.settings.registry.retired_retention_days,
                    datasets=self.datasets,
                    trusted_types=self.settings.registry.trusted_types,
                )
            return self._models

    @property
    def deployments(self) -> DeploymentService:
        """Deployments and their traffic plans (the serving control plane)."""
        with self._lock:
            if self._deployments is None:
                self._deployments = DeploymentService(self.store, self.access, self.models)
            return self._deployments

    @property
    def steps(self) -> StepIndex:
        """The pipelines' step index."""
        with self._lock:
            if self._steps is None:
                self._steps = StepIndex(self.store, self.access)
            return self._steps

    @property
    def schedules(self) -> ScheduleService:
        with self._lock:
            if self._schedules is None:
                self._schedules = ScheduleService(
                    self.store,
                    self.access,
                    self.projects,
                    sources=PipelineSources.from_settings(self.settings),
                    load_pipelines=self.load_pipelines,
                )
            return self._schedules

    @property
    def governance(self) -> Governance:
        with self._lock:
            if self._governance is None:
                self._governance = Governance(
                    self.store,
                    secret_box=SecretBox.from_settings(self.settings),
                    reauth_window_s=self.settings.server.reauth_window_s,
                )
            return self._governance

    @property
    def webhooks(self) -> WebhookService:
        """Webhooks and their deliveries (the events come from the other services' outbox
        writes)."""
        with self._lock:
            if self._webhooks is None:
                conf = self.settings.webhooks
                self._webhooks = WebhookService(
                    self.store,
                    self.access,
                    SecretBox.from_settings(self.settings),
                    allowed_hosts=conf.allowed_hosts,
                    max_attempts=conf.max_attempts,
                    backoff_s=conf.backoff_s,
                    max_backoff_s=conf.max_backoff_s,
                )
            return self._webhooks

    @property
    def predictions(self) -> PredictionService:
        """The prediction log: its segments (blobs) and labels."""
        with self._lock:
            if self._predictions is None:
                self._predictions = PredictionService(
                    self.store, self.blobs, self.access, self.models
                )
            return self._predictions

    @property
    def costs(self) -> CostService:
        """Serving and training costs, and the projects' budgets."""
        with self._lock:
            if self._costs is None:
                self._costs = CostService(self.store, self.access, prices=self.settings.cost)
            return self._costs

    @property
    def alerts(self) -> AlertService:
        """Alerts (opened by monitors, budgets and the loop) and health scores."""
        with self._lock:
            if self._alerts is None:
                conf = self.settings.monitoring
                self._alerts = AlertService(
                    self.store,
                    self.access,
                    label_delay_hours=conf.label_delay_hours,
                    label_horizon_days=conf.label_horizon_days,
                    label_coverage=conf.label_coverage,
                )
            return self._alerts

    @property
    def monitors(self) -> MonitorService:
        """Monitors on deployments, their passes and window values."""
        with self._lock:
            if self._monitors is None:
                from modelyard.monitoring.performance import PerformanceSummarizer
                from modelyard.monitoring.summary import Summarizer

                self._monitors = MonitorService(
                    self.store,
                    self.blobs,
                    self.access,
                    self.deployments,
                    self.models,
                    self.datasets,
                    self.predictions,
                    self.settings,
                    summarizer=Summarizer(),
                    performance=PerformanceSummarizer(),
                )
            return self._monitors

    @property
    def loops(self) -> LoopService:
        """The closed loop: loop policies and runs (the worker advances them)."""
        with self._lock:
            if self._loops is None:
                self._loops = LoopService(
                    self.store,
                    self.access,
                    models=self.models,
                    deployments=self.deployments,
                    predictions=self.predictions,
                    tracking=self.tracking,
                    sources=PipelineSources.from_settings(self.settings),
                    lease_s=self.settings.worker.lease_s,
                )
            return self._loops

    def blob_references(self) -> list[BlobReferences]:
        """Every service whose tables point at blobs: what garbage collection asks."""
        return [
            self.tracking,
            self.datasets,
            self.steps,
            self.models,
            self.predictions,
            self.monitors,
        ]

    def close(self) -> None:
        """Release the stores; the services open again on next use."""
        with self._lock:
            if self._blobs is not None:
                self._blobs.close()
            if self._store is not None:
                self._store.dispose()
            self._store = self._blobs = self._access = self._projects = None
            self._tracking = self._datasets = self._lineage = None
            self._steps = self._schedules = self._governance = self._models = None
            self._webhooks = self._deployments = self._predictions = None
            self._costs = self._alerts = self._monitors = self._loops = None
