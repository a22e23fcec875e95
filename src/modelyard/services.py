"""The composition root: every service of one installation, built from its settings.

The embedded SDK (:class:`~modelyard.sdk.client.Client`), the server
(:mod:`modelyard.api`) and the worker get their services here, and only here; no service
builds another (each is handed what it depends on). Parts open on first use, once, and
:meth:`Services.close` releases them. To add a service: build it in one property below
from the parts it needs, and name it in :meth:`Services.blob_references` when its tables
point at blobs.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from modelyard._refs import PipelineSources
from modelyard.artifacts import open_blob_store
from modelyard.datasets.service import DatasetService
from modelyard.governance import Governance, SecretBox
from modelyard.lineage.service import LineageService
from modelyard.pipelines.index import StepIndex
from modelyard.registry.service import ModelService
from modelyard.schedules.service import ScheduleService
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
        self._tracking: TrackingService | None = None
        self._datasets: DatasetService | None = None
        self._lineage: LineageService | None = None
        self._steps: StepIndex | None = None
        self._schedules: ScheduleService | None = None
        self._governance: Governance | None = None
        self._models: ModelService | None = None

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
    def tracking(self) -> TrackingService:
        with self._lock:
            if self._tracking is None:
                self._tracking = TrackingService(
                    self.store, heartbeat_timeout_s=self.settings.tracking.heartbeat_timeout_s
                )
            return self._tracking

    @property
    def datasets(self) -> DatasetService:
        with self._lock:
            if self._datasets is None:
                self._datasets = DatasetService(self.store, self.blobs)
            return self._datasets

    @property
    def lineage(self) -> LineageService:
        with self._lock:
            if self._lineage is None:
                self._lineage = LineageService(
                    self.store, tracking=self.tracking, datasets=self.datasets
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
                    tracking=self.tracking,
                    allow_code_formats=self.settings.registry.allow_code_formats,
                )
            return self._models

    @property
    def steps(self) -> StepIndex:
        """The pipelines' step index."""
        with self._lock:
            if self._steps is None:
                self._steps = StepIndex(self.store)
            return self._steps

    @property
    def schedules(self) -> ScheduleService:
        with self._lock:
            if self._schedules is None:
                self._schedules = ScheduleService(
                    self.store,
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

    def blob_references(self) -> list[BlobReferences]:
        """Every service whose tables point at blobs: what garbage collection asks."""
        return [self.tracking, self.datasets, self.steps, self.models]

    def close(self) -> None:
        """Release the stores; the services open again on next use."""
        with self._lock:
            if self._blobs is not None:
                self._blobs.close()
            if self._store is not None:
                self._store.dispose()
            self._store = self._blobs = None
            self._tracking = self._datasets = self._lineage = None
            self._steps = self._schedules = self._governance = self._models = None
