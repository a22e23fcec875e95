"""The contract of the tracking service: one typed surface with two implementations,
in this process and through a server (mypy checks both; ``tests/remote/test_contracts.py``
checks that their signatures are the contract's)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from modelyard.errors import ModelyardError
from modelyard.tracking._buffer import Batch
from modelyard.tracking.entities import ArtifactInfo, ArtifactSource, MetricHistory, Run, RunPage

__all__ = ["TrackingContract"]


class TrackingContract(Protocol):
    """The tracking service's surface the SDK uses:
    :class:`~modelyard.tracking.service.TrackingService` in this process and
    :class:`~modelyard.remote.tracking.RemoteTracking` through a server both implement it
    (the embedded-only checks and garbage collection's questions stay off it)."""

    def create_run(
        self,
        project: str,
        *,
        name: str | None = None,
        parent_id: str | None = None,
        user: str = "",
        host: str = "",
        entry_point: str = "",
        tags_: dict[str, str] | None = None,
    ) -> Run: ...

    def delete_run(self, run_id: str, *, permanent: bool = False) -> None:
        """Hide a run (and its children) from lists, or remove it and its rows for good."""

    def end_run(
        self,
        run_id: str,
        status: str,
        *,
        error: str | None = None,
        wall_time_s: float | None = None,
        cpu_time_s: float | None = None,
        peak_rss_bytes: int | None = None,
        gpu_time_s: float | None = None,
        cost: float | None = None,
    ) -> None:
        """End a running (or lost) run with its resource usage and cost (finite, >= 0)."""

    def get_artifact(self, run_id: str, path: str) -> ArtifactInfo: ...

    def get_run(self, run_id: str) -> Run: ...

    def last_steps(self, run_id: str) -> dict[str, int]:
        """The highest step logged so far for each metric of a run."""

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[ArtifactInfo]: ...

    def metric_history(
        self, run_id: str, key: str, *, max_points: int | None = None
    ) -> MetricHistory: ...

    def resolve_run_id(self, ref: str) -> str:
        """A full run id from a full id or a unique prefix of at least 6 hex digits."""

    def restore_run(self, run_id: str) -> int:
        """Show a deleted run again, with its child runs deleted with it (or after it); returns how
        many runs were restored (0: the run was not deleted)."""

    def resume_run(self, run_id: str) -> Run:
        """Make a run ``running`` again (a resumed training job); returns it as stored."""

    def search_runs(
        self,
        project: str,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage: ...

    def store_artifact(self, run_id: str, path: str, source: ArtifactSource) -> ArtifactInfo:
        """Store ``source`` as artifact ``path`` of a run: bytes or a local file as a file, a local
        folder or a :class:`~modelyard.tracking.entities.TarArchive` as a tree."""

    def write_batch(self, batch: Batch, batch_id: str | None = None) -> ModelyardError | None:
        """Store one batch of buffered values in one transaction."""
