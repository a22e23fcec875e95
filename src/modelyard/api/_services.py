"""What the routes call: the tracking, dataset and schedule services, governance and the
blob store of one installation."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request

if TYPE_CHECKING:
    from modelyard.artifacts import BlobStore
    from modelyard.config import Settings
    from modelyard.datasets.service import DatasetService
    from modelyard.governance import Governance
    from modelyard.schedules import ScheduleService
    from modelyard.store import Store
    from modelyard.tracking.service import TrackingService

__all__ = [
    "Services",
    "get_blobs",
    "get_datasets",
    "get_governance",
    "get_schedules",
    "get_services",
    "get_tracking",
]

#: Staging files of uploads untouched for this long are left over from a dead server.
STALE_UPLOAD_S = 6 * 3600.0


class Services:
    """The store, blob store, tracking, dataset, schedule and governance services of the
    server, opened once.

    The app opens them at start-up (so a bad store URL or a stale schema stops the server
    at once); anything asked for before that opens on first use.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._blobs: BlobStore | None = None
        self._tracking: TrackingService | None = None
        self._datasets: DatasetService | None = None
        self._schedules: ScheduleService | None = None
        self._governance: Governance | None = None

    def open(self) -> None:
        """Open the metadata store (its schema must be current) and the blob store."""
        with self._lock:
            if self._tracking is not None:
                return
            from modelyard.artifacts import open_blob_store
            from modelyard.datasets.service import DatasetService
            from modelyard.governance import Governance, SecretBox
            from modelyard.pipelines.refs import PipelineSources
            from modelyard.schedules import ScheduleService
            from modelyard.store import open_store
            from modelyard.tracking.service import TrackingService

            conf = self.settings.store
            store = open_store(
                self.settings.store_url,
                busy_timeout_s=conf.busy_timeout_s,
                auto_upgrade=conf.auto_upgrade,
            )
            try:
                self._blobs = open_blob_store(self.settings)
            except BaseException:
                store.dispose()
                raise
            self._store = store
            self._tracking = TrackingService(
                store,
                blobs=self._blobs,
                heartbeat_timeout_s=self.settings.tracking.heartbeat_timeout_s,
            )
            self._datasets = DatasetService(store, self._blobs)
            self._schedules = ScheduleService(  # a request names code; only a worker imports
                store, sources=PipelineSources.from_settings(self.settings), load_pipelines=False
            )
            self._governance = Governance(
                store,
                secret_box=SecretBox.from_settings(self.settings),
                reauth_window_s=self.settings.server.reauth_window_s,
            )
            self._tracking.prune_write_batches()
            _remove_stale_uploads(self.upload_dir)

    @property
    def tracking(self) -> TrackingService:
        if self._tracking is None:
            self.open()
        assert self._tracking is not None
        return self._tracking

    @property
    def datasets(self) -> DatasetService:
        if self._datasets is None:
            self.open()
        assert self._datasets is not None
        return self._datasets

    @property
    def schedules(self) -> ScheduleService:
        if self._schedules is None:
            self.open()
        assert self._schedules is not None
        return self._schedules

    @property
    def governance(self) -> Governance:
        if self._governance is None:
            self.open()
        assert self._governance is not None
        return self._governance

    @property
    def blobs(self) -> BlobStore:
        if self._blobs is None:
            self.open()
        assert self._blobs is not None
        return self._blobs

    @property
    def upload_dir(self) -> Path:
        """Where request bodies of uploads are staged before they are hashed and stored."""
        folder = Path(self.settings.home) / "tmp" / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def close(self) -> None:
        with self._lock:
            if self._blobs is not None:
                self._blobs.close()
            if self._store is not None:
                self._store.dispose()
            self._store = self._blobs = self._tracking = self._governance = None
            self._datasets = self._schedules = None


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


def get_schedules(request: Request) -> ScheduleService:
    """FastAPI dependency: the schedule service (every rule lives there), acting for the
    request's actor."""
    from modelyard.api.auth import get_actor

    return get_services(request).schedules.acting_as(get_actor(request))


def get_governance(request: Request) -> Governance:
    """FastAPI dependency: the governance services."""
    return get_services(request).governance


def get_blobs(request: Request) -> BlobStore:
    """FastAPI dependency: the blob store."""
    return get_services(request).blobs
