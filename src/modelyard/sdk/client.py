"""The Client: one object that holds the settings, the stores and the services.

Everything in the SDK goes through a Client; the module-level functions in
``modelyard`` are thin sugar that make one for the call. A Client is embedded (the
tracking service in this process, over the store and blob store named by the settings)
or, when ``tracking.uri`` is an http(s) URL, remote: the same calls go to a Modelyard
server over HTTP.
"""

from __future__ import annotations

import atexit
import contextlib
import getpass
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from modelyard.config import Settings, load_settings
from modelyard.errors import InvalidInput, ModelyardError

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.artifacts import BlobStore
    from modelyard.datasets.contract import DatasetContract
    from modelyard.datasets.entities import DatasetVersion
    from modelyard.events.contract import WebhookContract
    from modelyard.lineage.contract import LineageContract
    from modelyard.lineage.graph import LineageGraph
    from modelyard.monitoring.contract import (
        AlertContract,
        CostContract,
        LoopContract,
        MonitorContract,
    )
    from modelyard.predictions.contract import PredictionContract
    from modelyard.projects import Project
    from modelyard.projects.contract import ProjectContract
    from modelyard.registry.contract import ModelContract
    from modelyard.remote import HttpSession, RemoteArtifacts
    from modelyard.schedules.contract import ScheduleContract
    from modelyard.sdk.datasets import Datasets
    from modelyard.sdk.models import Models
    from modelyard.sdk.run import ActiveRun
    from modelyard.services import Services
    from modelyard.serving.contract import DeploymentContract
    from modelyard.serving.scoring import Scored
    from modelyard.store import Store
    from modelyard.tracking._buffer import LogBuffer
    from modelyard.tracking.contract import TrackingContract
    from modelyard.tracking.entities import ArtifactInfo, MetricHistory, Run, RunPage
    from modelyard.tracking.system import SamplingThread

__all__ = ["DEFAULT_PROJECT", "Client", "client_for"]

DEFAULT_PROJECT = "default"

T = TypeVar("T")


class Client:
    """Entry point to a Modelyard installation (embedded: SQLite + local files by default)."""

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = settings if settings is not None else load_settings(**overrides)
        self._services: Services | None = None
        self._http: HttpSession | None = None
        self._remotes: dict[object, Any] = {}  # the services' twins on the server, by class
        self._buffer: LogBuffer | None = None
        self._sampling: SamplingThread | None = None
        self._open_runs: set[ActiveRun] = set()
        self._lock = threading.Lock()
        self._opening = threading.Lock()  # not _lock: the log buffer holds that one
        self._datasets: Datasets | None = None
        self._models: Models | None = None

    # -- lazily opened parts ------------------------------------------------------------

    @property
    def is_remote(self) -> bool:
        """Whether this client works through a tracking server (``tracking.uri``)."""
        return self.settings.tracking.uri is not None

    def _not_remote(self, what: str) -> None:
        if self.is_remote:
            raise InvalidInput(
                f"{what} is not available through the tracking server at "
                f"{self.settings.tracking.uri}; it works where the stores are (on the server)",
                field="tracking.uri",
            )

    @property
    def services(self) -> Services:
        """Every service of the installation in this process (embedded mode only)."""
        self._not_remote("the services")
        with self._opening:
            if self._services is None:
                from modelyard.services import Services

                self._services = Services(self.settings)
            return self._services

    @property
    def store(self) -> Store:
        """The metadata store (embedded mode only)."""
        self._not_remote("the metadata store")
        return self.services.store

    @property
    def blobs(self) -> BlobStore:
        """The blob store (embedded mode only)."""
        self._not_remote("the blob store")
        return self.services.blobs

    @property
    def projects(self) -> ProjectContract:
        """The project service: in this process, or on the server in remote mode (the
        same methods either way)."""
        if self.is_remote:
            from modelyard.remote.projects import RemoteProjects

            return self._remote(RemoteProjects)
        return self.services.projects

    @property
    def tracking(self) -> TrackingContract:
        """The tracking service: in this process, or on the server in remote mode (the
        same methods either way)."""
        if self.is_remote:
            from modelyard.remote import RemoteTracking

            return self._remote(RemoteTracking)
        return self.services.tracking

    @property
    def dataset_service(self) -> DatasetContract:
        """The dataset service: in this process, or on the server in remote mode (the
        same methods either way); ``client.datasets`` is the SDK's side of it."""
        if self.is_remote:
            from modelyard.remote.datasets import RemoteDatasets

            return self._remote(RemoteDatasets)
        return self.services.datasets

    @property
    def lineage_service(self) -> LineageContract:
        """The lineage service (one hop of edges with the caller's rights): in this
        process, or on the server in remote mode; :meth:`lineage` walks it."""
        if self.is_remote:
            from modelyard.remote.lineage import RemoteLineage

            return self._remote(RemoteLineage)
        return self.services.lineage

    @property
    def datasets(self) -> Datasets:
        """Versioned datasets: ``client.datasets.register(name, data)``, ``.load(name)``..."""
        if self._datasets is None:
            from modelyard.sdk.datasets import Datasets

            self._datasets = Datasets(self)
        return self._datasets

    @property
    def model_service(self) -> ModelContract:
        """The model registry service: in this process, or on the server in remote mode
        (the same methods either way); ``client.models`` is the SDK's side of it."""
        if self.is_remote:
            from modelyard.remote.models import RemoteModels

            return self._remote(RemoteModels)
        return self.services.models

    @property
    def models(self) -> Models:
        """The model registry: ``client.models.log(model, name, input_example=...)``,
        ``.load("name@alias")``, ``.set_alias(...)``, ``.history(...)``..."""
        if self._models is None:
            from modelyard.sdk.models import Models

            self._models = Models(self)
        return self._models

    @property
    def deployments(self) -> DeploymentContract:
        """Deployments and their traffic plans: ``client.deployments.create(name,
        "model@champion", project=...)``, ``.set_traffic``, ``.promote``, ``.rollback``...;
        the service in this process, or on the server in remote mode (the same methods)."""
        if self.is_remote:
            from modelyard.remote.deployments import RemoteDeployments

            return self._remote(RemoteDeployments)
        return self.services.deployments

    @property
    def monitors(self) -> MonitorContract:
        """Monitors on deployments: ``client.monitors.create(deployment, name, kind,
        project=...)``, ``.apply(yaml)``, ``.run_pass``, ``.values``...; the service in
        this process, or on the server in remote mode (the same methods)."""
        if self.is_remote:
            from modelyard.remote.monitors import RemoteMonitors

            return self._remote(RemoteMonitors)
        return self.services.monitors

    @property
    def schedules(self) -> ScheduleContract:
        """Schedules of pipelines: ``client.schedules.create(...)``; the service in this
        process, or on the server in remote mode (the same methods, but a worker's)."""
        if self.is_remote:
            from modelyard.remote.schedules import RemoteSchedules

            return self._remote(RemoteSchedules)
        return self.services.schedules

    @property
    def webhooks(self) -> WebhookContract:
        """Webhooks of projects: ``client.webhooks.create(project, url, events=[...])``,
        ``.list_webhooks``, ``.delete``, ``.deliveries``, ``.redeliver``; the service in
        this process, or on the server in remote mode (a worker delivers)."""
        if self.is_remote:
            from modelyard.remote.webhooks import RemoteWebhooks

            return self._remote(RemoteWebhooks)
        return self.services.webhooks

    @property
    def predictions(self) -> PredictionContract:
        """Deployments' prediction logs: ``client.predictions.load(project, deployment,
        since=...)`` (a DataFrame joined with the labels), ``.add_labels(project,
        deployment, {prediction_id: label})``, ``.write_segment`` (the inference
        server's); the service in this process, or on the server in remote mode."""
        if self.is_remote:
            from modelyard.remote.predictions import RemotePredictions

            return self._remote(RemotePredictions)
        return self.services.predictions

    @property
    def costs(self) -> CostContract:
        """What serving and training cost, and budgets: ``client.costs.serving_cost(
        deployment, project=..., by_version=True)``, ``.training_cost(model, 3,
        project=...)``, ``.set_budget(project, 100.0)``; the service in this process, or
        on the server in remote mode (budgets are checked by a worker)."""
        if self.is_remote:
            from modelyard.remote.costs import RemoteCosts

            return self._remote(RemoteCosts)
        return self.services.costs

    @property
    def alerts(self) -> AlertContract:
        """Alerts and health scores: ``client.alerts.list_alerts(project, status="open")``,
        ``.get``, ``.acknowledge``, ``.resolve``, ``.comment``, ``.health(deployment,
        project=...)``, ``.health_history``; the service in this process, or on the server
        in remote mode."""
        if self.is_remote:
            from modelyard.remote.alerts import RemoteAlerts

            return self._remote(RemoteAlerts)
        return self.services.alerts

    @property
    def loops(self) -> LoopContract:
        """The closed loop: ``client.loops.set_policy(deployment, policy, project=...)``,
        ``.start``, ``.list_runs``, ``.get_run``, ``.decide``, ``.cancel``; the service in
        this process, or on the server in remote mode (a worker advances the loops)."""
        if self.is_remote:
            from modelyard.remote.loops import RemoteLoops

            return self._remote(RemoteLoops)
        return self.services.loops

    def _session(self) -> HttpSession:
        if self._http is None:
            from modelyard.remote import HttpSession

            t = self.settings.tracking
            assert t.uri is not None
            self._http = HttpSession(t.uri, token=t.token, retry_timeout_s=t.retry_timeout_s)
        return self._http

    def _remote(self, cls: Callable[[HttpSession], T]) -> T:
        """The twin of a service on the server (one per client, over its one session)."""
        if cls not in self._remotes:
            self._remotes[cls] = cls(self._session())
        found: T = self._remotes[cls]
        return found

    def _artifacts(self) -> RemoteArtifacts:
        from modelyard.remote import RemoteArtifacts

        return self._remote(RemoteArtifacts)

    def _log_buffer(self) -> LogBuffer:
        with self._lock:
            if self._buffer is None:
                from modelyard.tracking._buffer import LogBuffer

                t = self.settings.tracking
                self._buffer = LogBuffer(
                    self.tracking.write_batch,
                    flush_interval_s=t.flush_interval_s,
                    max_size=t.buffer_size,
                    heartbeat_interval_s=t.heartbeat_interval_s,
                    exit_flush_timeout_s=t.exit_flush_timeout_s,
                )
                # Registered after the buffer's own handler, so it runs first (LIFO).
                atexit.register(self._end_open_runs)
            return self._buffer

    def _end_open_runs(self) -> None:
        """At interpreter exit, end runs the program left open: ``failed`` with the
        traceback after an uncaught exception, ``finished`` otherwise."""
        from modelyard.sdk.run import uncaught_exception

        error = uncaught_exception()
        for run in list(self._open_runs):
            with contextlib.suppress(ModelyardError):
                run.end("failed" if error else "finished", error=error)

    # -- projects -------------------------------------------------------------------------

    def create_project(self, name: str, description: str = "") -> Project:
        return self.projects.create(name, description)

    def get_project(self, name: str) -> Project:
        return self.projects.get(name)

    def list_projects(self) -> list[Project]:
        return self.projects.list_projects()

    # -- runs -------------------------------------------------------------------------------

    def start_run(
        self,
        project: str | None = None,
        *,
        name: str | None = None,
        parent: ActiveRun | str | None = None,
        tags: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        capture: bool | Literal["usage"] = True,
        run_id: str | None = None,
        _owns_client: bool = False,
    ) -> ActiveRun:
        """Start a run; use it as a context manager so it ends (and flushes) for sure.

        ``capture`` records where the run came from (host, git state, packages) and its
        system metrics and resource usage; ``"usage"`` records only the latter (a pipeline
        step, whose pipeline run has the rest); False records neither.

        ``run_id`` resumes an existing run instead (it becomes ``running`` again; its
        params stay write-once and its metrics continue from their last step). Resuming
        is the run's owner's act, or an admin's; its source (git state, packages) was
        captured when it started and is not captured again (artifact names are
        write-once).
        """
        from modelyard.sdk.run import ActiveRun, active_run
        from modelyard.tracking.capture import capture_fast

        if run_id is not None:
            resumed = self.tracking.resume_run(self.tracking.resolve_run_id(run_id))
            active = ActiveRun(self, resumed, owns_client=_owns_client)
            if tags:
                active.set_tags(tags)
            if params:
                active.log_params(params)
            if capture:
                active._start_capture(source=False)
            return active
        if parent is None and (outer := active_run()) is not None and outer.client is self:
            parent = outer
        parent_id = parent.id if isinstance(parent, ActiveRun) else parent
        if project is None:
            if isinstance(parent, ActiveRun):
                project = parent.project
            elif parent_id is not None:
                project = self.get_run(parent_id).project
            else:
                project = DEFAULT_PROJECT
        facts = capture_fast() if capture is True else {}
        user_tags = {k: v if isinstance(v, str) else str(v) for k, v in (tags or {}).items()}
        run = self.tracking.create_run(
            project,
            name=name,
            parent_id=parent_id,
            user=_user(),
            host=socket.gethostname(),
            entry_point=_entry_point(),
            tags_={**facts, **user_tags},
        )
        active = ActiveRun(self, run, owns_client=_owns_client)
        if params:
            active.log_params(params)
        if capture:
            active._start_capture(source=capture is True)
        return active

    def get_run(self, run: str | Run | ActiveRun) -> Run:
        """A run (by id, or the id of a Run or ActiveRun) with params, metrics and tags."""
        return self.tracking.get_run(_run_id(run))

    @overload
    def search_runs(
        self,
        project: str,
        filter: str | None = ...,
        order_by: Sequence[str] | str | None = ...,
        max_results: int = ...,
        page_token: str | None = ...,
        output: Literal["pandas"] = ...,
        include_deleted: bool = ...,
    ) -> pd.DataFrame: ...

    @overload
    def search_runs(
        self,
        project: str,
        filter: str | None = ...,
        order_by: Sequence[str] | str | None = ...,
        max_results: int = ...,
        page_token: str | None = ...,
        *,
        output: Literal["list"],
        include_deleted: bool = ...,
    ) -> RunPage: ...

    def search_runs(
        self,
        project: str,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        output: Literal["pandas", "list"] = "pandas",
        include_deleted: bool = False,
    ) -> pd.DataFrame | RunPage:
        """Find runs of a project; a DataFrame by default, or a RunPage with ``output='list'``."""
        if output not in {"pandas", "list"}:
            raise InvalidInput("output must be 'pandas' or 'list'", field="output")
        page = self.tracking.search_runs(
            project,
            filter=filter,
            order_by=[order_by] if isinstance(order_by, str) else order_by,
            max_results=max_results,
            page_token=page_token,
            include_deleted=include_deleted,
        )
        if output == "list":
            return page
        from modelyard.tracking.frames import runs_to_frame

        frame = runs_to_frame(page.runs)
        frame.attrs["next_page_token"] = page.next_page_token
        return frame

    def get_metric_history(
        self, run: str | Run | ActiveRun, key: str, max_points: int | None = None
    ) -> MetricHistory:
        """Every point of one metric in step order (at most ``max_points``, downsampled)."""
        return self.tracking.metric_history(_run_id(run), key, max_points=max_points)

    def lineage(
        self,
        obj: object,
        *,
        direction: Literal["up", "down", "both"] = "up",
        depth: int = 3,
    ) -> LineageGraph:
        """What produced ``obj`` (``up``), what depends on it (``down``), or both, to
        ``depth`` hops: ``obj`` is a run, a dataset version or a ``(kind, id)`` pair."""
        from modelyard.sdk.lineage import lineage

        return lineage(self, obj, direction=direction, depth=depth)

    def predict(
        self,
        target: str,
        input: DatasetVersion | str,
        *,
        output: str,
        project: str = DEFAULT_PROJECT,
        batch_rows: int | None = None,
        columns: Sequence[str] = (),
        ray: bool = False,
        progress: Callable[[int, int], None] | None = None,
        description: str = "",
    ) -> Scored:
        """Batch scoring: predict every row of a stored dataset version and register the
        predictions as a new version of dataset ``output``, with lineage from the input
        and the model version (see :mod:`modelyard.serving.scoring`).

        ``target``: a deployment's name (the version its champion route resolves to) or
        ``model@alias`` / ``model/3``; ``input``: a dataset version or
        ``dataset:NAME@VERSION`` (``@ALIAS``, ``/VERSION``, or the newest without);
        ``columns``: input columns copied beside the predictions (ids, keys);
        ``batch_rows``: rows scored at a time (memory grows with it, not with the
        input); ``ray``: score the batches on Ray (``ray.address``, else a local Ray);
        ``progress(rows done, total)`` after each batch."""
        from modelyard.serving.scoring import DEFAULT_BATCH_ROWS, BatchScorer

        trusted = self.settings.registry.trusted_types
        scorer = BatchScorer(
            self.dataset_service,
            self.model_service,
            self.deployments,
            lambda version: self.models._load(version, trusted),
        )
        arguments: dict[str, Any] = {
            "output": output,
            "project": project,
            "batch_rows": batch_rows or DEFAULT_BATCH_ROWS,
            "columns": [columns] if isinstance(columns, str) else list(columns),
            "progress": progress,
            "description": description,
        }
        if not ray:
            return scorer.score(target, input, **arguments)
        from modelyard._ray import ray_session
        from modelyard.registry.flavors import CODE_FORMATS_SETTING
        from modelyard.serving._ray_scoring import RayRunner

        with ray_session(self.settings, None) as ray_module:
            runner = RayRunner(
                ray_module,
                self.model_service,
                self.settings,
                lambda name: bool(self.projects.settings(name)[CODE_FORMATS_SETTING]),
            )
            return scorer.score(target, input, runner=runner, **arguments)

    def delete_run(self, run_id: str, permanent: bool = False) -> None:
        self.tracking.delete_run(run_id, permanent=permanent)

    def restore_run(self, run_id: str) -> int:
        """Show a deleted run (not one deleted ``permanent``) again, with the child runs
        deleted with it; returns how many runs were restored (0: it was not deleted)."""
        return self.tracking.restore_run(run_id)

    # -- artifacts --------------------------------------------------------------------------

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[ArtifactInfo]:
        return self.tracking.list_artifacts(run_id, prefix)

    def store_artifact(self, run_id: str, name: str, source: Path | bytes) -> ArtifactInfo:
        """Store a local file, a local directory (as a tree) or bytes as artifact ``name``
        of a run (``name`` already normalized)."""
        return self.tracking.store_artifact(run_id, name, source)

    def download_artifact(self, run_id: str, path: str, dest: str | os.PathLike[str]) -> Path:
        """Copy an artifact (file or tree) into the folder ``dest``; returns the written path."""
        from modelyard.artifacts import normalize_artifact_path, safe_join

        if self.is_remote:
            return self._artifacts().download(run_id, normalize_artifact_path(path), Path(dest))
        info = self.tracking.get_artifact(run_id, normalize_artifact_path(path))
        target = safe_join(Path(dest), info.path)
        if info.kind == "tree":
            self.blobs.get_tree(info.digest, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.blobs.get_file(info.digest, target)
        return target

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """The bytes of a file artifact (verified against its digest)."""
        from modelyard.artifacts import normalize_artifact_path

        if self.is_remote:
            return self._artifacts().read(run_id, normalize_artifact_path(path))
        info = self.tracking.get_artifact(run_id, normalize_artifact_path(path))
        if info.kind == "tree":
            raise InvalidInput(f"{path!r} is a directory; use download_artifact", field="path")
        return self.blobs.get_bytes(info.digest)

    def gc(self, dry_run: bool = False, min_age_s: float = 3600.0) -> list[str]:
        """Remove blobs no artifact refers to and older than ``min_age_s``; returns the
        digests removed (or, with ``dry_run``, that would be)."""
        from modelyard.gc import collect_garbage

        self._not_remote("garbage collection")
        return collect_garbage(
            self.services.blob_references(), self.blobs, dry_run=dry_run, min_age_s=min_age_s
        )

    # -- lifecycle --------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        if self._buffer is not None:
            self._buffer.flush(timeout)

    def _sampling_thread(self) -> SamplingThread:
        """The thread that takes the system metrics of this client's runs."""
        with self._lock:
            if self._sampling is None:
                from modelyard.tracking.system import SamplingThread

                self._sampling = SamplingThread()
            return self._sampling

    def close(self) -> None:
        """Flush pending values and release connections (also when the flush raises: a
        value refused for good, such as one logged into a run that has ended)."""
        try:
            if self._sampling is not None:
                self._sampling.close()
                self._sampling = None
            if self._buffer is not None:
                atexit.unregister(self._end_open_runs)
                buffer, self._buffer = self._buffer, None
                buffer.close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._services is not None:
            self._services.close()
            self._services = None
        if self._http is not None:
            self._http.close()
            self._http = None
            self._remotes.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def client_for(settings: Settings | None) -> Iterator[Client]:
    """The client a module-level call (``my.datasets.load``, ``my.models.log``...) uses:
    the active run's when no settings are given, else one of its own for the call."""
    from modelyard.sdk.run import active_run

    outer = active_run()
    if outer is not None and settings is None:
        yield outer.client
        return
    with Client(settings) as client:
        yield client


def _run_id(run: str | Run | ActiveRun) -> str:
    if isinstance(run, str):
        return run
    return str(run.id)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _entry_point() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return str(path) if path else "<interactive>"
