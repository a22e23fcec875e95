"""The monitor service: monitors on deployments, their passes and their values per window.

A monitor is a check (``checks.py``, by kind) on a deployment with its configuration,
window (``hour`` or ``day``; a day window tumbles, or slides by an hour with
``slide="hour"``) and severity. Monitors are declared one at a time (:meth:`create`) or as
a YAML document (:meth:`apply`: created or updated, all or none). A monitor is checked
when it is declared: its kind, window and severity, and its configuration through the
check's ``configure`` against the reference of the deployment's champion; a kind that
needs a training profile (drift, quality) is refused on a version without one.

:meth:`run_pass` runs the incremental pass (``passes.py``) over one deployment: what the
log and the labels added since the last pass, judged by every enabled monitor. Rights:
``viewer`` reads monitors and values, ``contributor`` declares, deletes and runs passes;
every change is an audit event.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Column, Connection, delete, func, select

from modelyard import limits
from modelyard._util import new_id, now_ms, validate_name
from modelyard.errors import AlreadyExists, InvalidInput, NotFound
from modelyard.governance.roles import Role, missing_project
from modelyard.monitoring._parts import Reference
from modelyard.monitoring.checks import check_for
from modelyard.monitoring.entities import (
    SEVERITIES,
    WINDOW_UNITS,
    Monitor,
    PassReport,
    WindowValue,
)
from modelyard.monitoring.passes import (
    ALL_VERSIONS,
    LABEL_SETTLE_MS,
    RETRY_WAITS_S,
    MonitorPass,
)
from modelyard.store.tables import (
    deployments,
    monitor_values,
    monitor_windows,
    monitors,
    prediction_segments,
    projects,
)

if TYPE_CHECKING:
    from modelyard.artifacts import BlobStore
    from modelyard.config import Settings
    from modelyard.datasets.service import DatasetService
    from modelyard.governance.access import Access
    from modelyard.governance.identity import Actor
    from modelyard.monitoring._parts import PerformanceSummarizer, Summarizer
    from modelyard.predictions.service import PredictionService
    from modelyard.registry.entities import ModelVersion
    from modelyard.registry.service import ModelService
    from modelyard.serving.entities import Deployment
    from modelyard.serving.service import DeploymentService
    from modelyard.store import Store

__all__ = ["MONITOR", "MonitorService", "reference_of"]

#: Object type of monitors in the audit log.
MONITOR = "monitor"
#: The keys of a monitor in a YAML document that are not its kind's configuration.
_FIELDS = ("name", "kind", "window", "slide", "severity", "enabled")


def reference_of(
    version: ModelVersion, models: ModelService, datasets: DatasetService
) -> Reference:
    """What ``version``'s monitors compare against: its signature's inputs, the profile of
    the first of its training dataset versions that has one, its latest evaluation (and
    the task, target and classes that evaluation names)."""
    signature = version.signature
    columns = signature.inputs.columns if signature is not None else None
    features = tuple(c.name for c in columns or ())
    profile = None
    for dataset_version_id in version.dataset_versions:
        try:
            found = datasets.get_by_id(dataset_version_id)
        except NotFound:
            continue
        profile = datasets.get_profile(found)
        if profile is not None:
            break
    evaluations = models.evaluations(version.name, project=version.project, version=version.version)
    evaluation = evaluations[0] if evaluations else None
    report = evaluation.report if evaluation is not None else None
    return Reference(
        version_id=version.id,
        version=version.ref,
        features=features,
        profile=profile,
        evaluation=report,
        task=evaluation.task if evaluation is not None else None,
        classes=tuple(str(c) for c in (report or {}).get("classes") or ()),
        target=evaluation.target if evaluation is not None else None,
    )


class MonitorService:
    """Monitors, passes and window values over one metadata store and blob store."""

    #: Window outputs are blobs, for garbage collection.
    blob_columns: ClassVar[tuple[Column[Any], ...]] = (monitor_windows.c.outputs_digest,)

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        access: Access,
        deployments: DeploymentService,
        models: ModelService,
        datasets: DatasetService,
        predictions: PredictionService,
        settings: Settings,
        *,
        summarizer: Summarizer,
        performance: PerformanceSummarizer,
        clock: Callable[[], int] = now_ms,
        label_settle_ms: int = LABEL_SETTLE_MS,
        retry_waits_s: tuple[float, ...] = RETRY_WAITS_S,
    ) -> None:
        """``summarizer`` and ``performance``: what builds the windows' summaries (the
        pass's parts: ``monitoring/summary.py`` and ``monitoring/performance.py``);
        ``clock``: the time now in ms (what is complete, what is partial);
        ``label_settle_ms``: how old a label must be for a pass to take it in;
        ``retry_waits_s``: the waits before each new try when the store fails."""
        self.store = store
        self.blobs = blobs
        self.access = access
        self.deployments = deployments
        self.models = models
        self.datasets = datasets
        self.predictions = predictions
        self.settings = settings
        self.summarizer = summarizer
        self.performance = performance
        self.clock = clock
        self.label_settle_ms = label_settle_ms
        self.retry_waits_s = retry_waits_s

    def acting_as(self, actor: Actor) -> MonitorService:
        """This service acting for ``actor`` (a server makes one per request)."""
        view = copy.copy(self)
        view.access = self.access.acting_as(actor)
        view.deployments = self.deployments.acting_as(actor)
        view.models = self.models.acting_as(actor)
        view.datasets = self.datasets.acting_as(actor)
        view.predictions = self.predictions.acting_as(actor)
        return view

    def with_clock(
        self, clock: Callable[[], int], *, label_settle_ms: int | None = None
    ) -> MonitorService:
        """This service telling the time (ms) by ``clock`` -- what is complete, what is
        partial, how far back labels are joined: a replay's event time (the quickstart's
        story), or a test's -- taking labels ``label_settle_ms`` old (default: as now)."""
        view = copy.copy(self)
        view.clock = clock
        if label_settle_ms is not None:
            view.label_settle_ms = label_settle_ms
        return view

    # -- rows -----------------------------------------------------------------------------

    def _deployment(self, conn: Connection, project: str, name: str, needed: Role) -> Any:
        validate_name(project, "project")
        project_id = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
        if project_id is None:
            raise missing_project(project)
        self.access.require(conn, project, needed, hidden=missing_project(project))
        validate_name(name, "deployment")
        row = conn.execute(
            select(deployments.c.id, deployments.c.name, deployments.c.project_id).where(
                deployments.c.project_id == project_id, deployments.c.name == name
            )
        ).first()
        if row is None:
            raise NotFound(
                f"deployment {name!r} does not exist in project {project!r}", field="deployment"
            )
        return row

    def _monitor_row(self, conn: Connection, deployment_id: str, project: str, name: str) -> Any:
        validate_name(name, "name")
        row = conn.execute(
            select(monitors).where(
                monitors.c.deployment_id == deployment_id, monitors.c.name == name
            )
        ).first()
        if row is None:
            raise NotFound(f"monitor {name!r} does not exist in project {project!r}", field="name")
        return row

    # -- declaring ------------------------------------------------------------------------

    def _checked(
        self, deployment: Deployment, spec: Mapping[str, Any], reference: Reference | None
    ) -> dict[str, Any]:
        """One monitor's fields checked: name, kind, window, slide, severity, enabled and
        its configuration (completed with the kind's defaults)."""
        name = validate_name(spec.get("name"), "name")
        check = check_for(spec.get("kind"))
        window = spec.get("window", "hour")
        if window not in WINDOW_UNITS:
            raise InvalidInput(
                f"window must be one of {list(WINDOW_UNITS)}; got {window!r}", field="window"
            )
        slide = spec.get("slide")
        if slide is not None and (slide != "hour" or window != "day"):
            raise InvalidInput(
                "slide must be 'hour' (a day window sliding by an hour) or left out (windows "
                f"that tumble); got {slide!r} for a {window!r} window",
                field="slide",
            )
        severity = spec.get("severity", "warning")
        if severity not in SEVERITIES:
            raise InvalidInput(
                f"severity must be one of {list(SEVERITIES)}; got {severity!r}", field="severity"
            )
        enabled = spec.get("enabled", True)
        if not isinstance(enabled, bool):
            raise InvalidInput("enabled must be true or false", field="enabled")
        config = spec.get("config") or {}
        if not isinstance(config, Mapping):
            raise InvalidInput("config must be a mapping", field="config")
        if check.needs_profile:
            if reference is None:
                raise InvalidInput(
                    f"deployment {deployment.name} serves no model version to compare with",
                    field="kind",
                )
            if reference.profile is None:
                raise InvalidInput(
                    f"a {spec['kind']} monitor needs the training profile of {reference.version}, "
                    "and it has none: register its training dataset (with a profile) and log it "
                    "as the input of the run that trained it, then register the version from "
                    "that run",
                    field="kind",
                )
        configured = check.configure(config, reference)
        text = json.dumps(configured, sort_keys=True, default=str)
        if len(text) > limits.MONITOR_CONFIG:
            raise InvalidInput(
                f"config is {len(text)} characters as JSON; the limit is {limits.MONITOR_CONFIG}",
                field="config",
            )
        return {
            "name": name,
            "kind": spec["kind"],
            "config": text,
            "window": window,
            "slide": slide,
            "severity": severity,
            "enabled": enabled,
        }

    def _champion_reference(self, deployment: Deployment) -> Reference | None:
        route = deployment.plan.champion
        if route is None or route.version_id is None:
            return None
        version = self.models.get_version_by_id(route.version_id)
        return reference_of(version, self.models, self.datasets)

    def _save(
        self, project: str, deployment: Deployment, specs: list[dict[str, Any]]
    ) -> list[Monitor]:
        """Create or update ``specs`` (checked) on ``deployment`` in one transaction."""
        at = now_ms()
        who = self.access.who()
        with self.store.write() as conn:
            row = self._deployment(conn, project, deployment.name, Role.CONTRIBUTOR)
            existing = {
                r.name: r
                for r in conn.execute(select(monitors).where(monitors.c.deployment_id == row.id))
            }
            new = [s for s in specs if s["name"] not in existing]
            if len(existing) + len(new) > limits.MONITORS:
                raise InvalidInput(
                    f"a deployment has at most {limits.MONITORS} monitors", field="monitors"
                )
            ids = []
            for spec in specs:
                found = existing.get(spec["name"])
                if found is None:
                    monitor_id = new_id()
                    conn.execute(
                        monitors.insert().values(
                            id=monitor_id,
                            project_id=row.project_id,
                            deployment_id=row.id,
                            created_by=who,
                            created_at=at,
                            updated_at=at,
                            **spec,
                        )
                    )
                    action = "monitor.create"
                else:
                    monitor_id = found.id
                    conn.execute(
                        monitors.update()
                        .where(monitors.c.id == monitor_id)
                        .values(updated_at=at, **spec)
                    )
                    action = "monitor.update"
                ids.append(monitor_id)
                self.access.record(
                    conn,
                    action,
                    MONITOR,
                    monitor_id,
                    f"{project}/{deployment.name}/{spec['name']}: {spec['kind']} per "
                    f"{spec['window']}{' sliding' if spec['slide'] else ''}, {spec['severity']}",
                )
            rows = {r.id: r for r in conn.execute(select(monitors).where(monitors.c.id.in_(ids)))}
        return [_monitor(project, deployment.name, rows[i]) for i in ids]

    def create(
        self,
        deployment: str,
        name: str,
        kind: str,
        *,
        project: str,
        config: Mapping[str, Any] | None = None,
        window: str = "hour",
        slide: str | None = None,
        severity: str = "warning",
    ) -> Monitor:
        """A new monitor on ``deployment`` (see the module); AlreadyExists when the
        deployment has a monitor of that name (:meth:`apply` changes one)."""
        with self.store.read() as conn:
            row = self._deployment(conn, project, deployment, Role.CONTRIBUTOR)
            taken = conn.execute(
                select(monitors.c.id).where(
                    monitors.c.deployment_id == row.id, monitors.c.name == name
                )
            ).first()
        if taken is not None:
            raise AlreadyExists(
                f"deployment {deployment} has a monitor {name!r} already: apply a document "
                "to change it",
                field="name",
            )
        found = self.deployments.get(deployment, project=project)
        spec = {
            "name": name,
            "kind": kind,
            "config": config,
            "window": window,
            "slide": slide,
            "severity": severity,
        }
        checked = self._checked(found, spec, self._champion_reference(found))
        return self._save(project, found, [checked])[0]

    def apply(self, spec: str | Mapping[str, Any], *, project: str) -> list[Monitor]:
        """Create or update the monitors ``spec`` declares (YAML text or its mapping):
        ``{deployment: NAME, monitors: [{name, kind, window, slide, severity, enabled,
        ...config}]}``; every monitor is checked before any is saved, and all are saved in
        one transaction. Monitors of the deployment the document leaves out are kept."""
        document = _document(spec)
        deployment = validate_name(document.get("deployment"), "deployment")
        listed = document.get("monitors")
        if not isinstance(listed, list) or not listed:
            raise InvalidInput("monitors must be a non-empty list", field="monitors")
        if len(listed) > limits.MONITORS:
            raise InvalidInput(
                f"{len(listed)} monitors in one document; the limit is {limits.MONITORS}",
                field="monitors",
            )
        found = self.deployments.get(deployment, project=project)
        with self.store.read() as conn:
            self._deployment(conn, project, deployment, Role.CONTRIBUTOR)
        reference = self._champion_reference(found)
        checked: list[dict[str, Any]] = []
        for index, item in enumerate(listed):
            if not isinstance(item, Mapping):
                raise InvalidInput(f"monitors[{index}] must be a mapping", field="monitors")
            fields = {k: v for k, v in item.items() if k in _FIELDS}
            fields["config"] = {k: v for k, v in item.items() if k not in _FIELDS}
            try:
                checked.append(self._checked(found, fields, reference))
            except InvalidInput as exc:
                raise InvalidInput(
                    f"monitors[{index}] ({item.get('name')!r}): {exc.message}",
                    field=f"monitors[{index}].{exc.field or ''}".rstrip("."),
                ) from None
        names = [c["name"] for c in checked]
        if len(set(names)) != len(names):
            raise InvalidInput("the document names a monitor twice", field="monitors")
        return self._save(project, found, checked)

    # -- reading --------------------------------------------------------------------------

    def get(self, deployment: str, name: str, *, project: str) -> Monitor:
        with self.store.read() as conn:
            row = self._deployment(conn, project, deployment, Role.VIEWER)
            return _monitor(project, deployment, self._monitor_row(conn, row.id, project, name))

    def list_monitors(self, deployment: str, *, project: str) -> list[Monitor]:
        """The deployment's monitors by name."""
        with self.store.read() as conn:
            row = self._deployment(conn, project, deployment, Role.VIEWER)
            rows = conn.execute(
                select(monitors).where(monitors.c.deployment_id == row.id).order_by(monitors.c.name)
            ).all()
        return [_monitor(project, deployment, r) for r in rows]

    def delete(self, deployment: str, name: str, *, project: str) -> None:
        """Delete a monitor and its values (its alerts stay, with their history)."""
        with self.store.write() as conn:
            row = self._deployment(conn, project, deployment, Role.CONTRIBUTOR)
            found = self._monitor_row(conn, row.id, project, name)
            conn.execute(delete(monitors).where(monitors.c.id == found.id))
            self.access.record(
                conn, "monitor.delete", MONITOR, found.id, f"{project}/{deployment}/{name}"
            )

    def values(
        self,
        deployment: str,
        name: str,
        *,
        project: str,
        since: int | None = None,
        until: int | None = None,
        version: str | None = None,
        newest: int | None = None,
    ) -> list[WindowValue]:
        """The monitor's values per window that start from ``since`` and end by ``until``
        (ms), oldest first, for ``version`` (``model/3``) or all versions together (None);
        only the ``newest`` windows of those when given (read alone, however long the
        history)."""
        for value, field in ((since, "since"), (until, "until")):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidInput(f"{field} must be integer milliseconds", field=field)
        if newest is not None and (
            isinstance(newest, bool)
            or not isinstance(newest, int)
            or not 1 <= newest <= limits.NUMBER
        ):
            raise InvalidInput(
                f"newest must be a whole number from 1 to {limits.NUMBER}; got "
                f"{limits.preview(newest)}",
                field="newest",
            )
        version_id = ALL_VERSIONS
        if version is not None:
            limits.check_text(version, "version", limits.NAME * 2)
            resolved = self.models.resolve(version, project=project)
            version_id, version = resolved.id, resolved.ref
        with self.store.read() as conn:
            row = self._deployment(conn, project, deployment, Role.VIEWER)
            found = self._monitor_row(conn, row.id, project, name)
            v = monitor_values.c
            stmt = select(monitor_values).where(
                v.monitor_id == found.id, v.version_id == version_id
            )
            if since is not None:
                stmt = stmt.where(v.window_start >= since)
            if until is not None:
                stmt = stmt.where(v.window_end <= until)
            if newest is None:
                rows = conn.execute(stmt.order_by(v.window_start, v.window_end)).all()
            else:
                last = stmt.order_by(v.window_start.desc(), v.window_end.desc()).limit(newest)
                rows = list(reversed(conn.execute(last).all()))
        return [
            WindowValue(
                monitor=name,
                deployment=deployment,
                version=version,
                window_start=r.window_start,
                window_end=r.window_end,
                value=r.value,
                threshold=r.threshold,
                status=r.status,
                rows=r.rows,
                details=json.loads(r.details),
                computed_at=r.computed_at,
            )
            for r in rows
        ]

    # -- passes ---------------------------------------------------------------------------

    def run_pass(
        self,
        deployment: str,
        *,
        project: str,
        on_segment: Callable[[int, int], None] | None = None,
    ) -> PassReport:
        """Run the incremental pass over ``deployment`` (``passes.py``); ``on_segment(done,
        total)`` is told as each new segment is merged (a progress bar)."""
        with self.store.read() as conn:
            self._deployment(conn, project, deployment, Role.CONTRIBUTOR)
        found = self.deployments.get(deployment, project=project)
        return MonitorPass(
            self, project, found, self.summarizer, self.performance, on_segment=on_segment
        ).run()

    def monitored(self, *, project: str | None = None) -> list[tuple[str, str]]:
        """``(project, deployment)`` of each deployment with an enabled monitor (of
        ``project`` when given), for the worker's passes."""
        with self.store.read() as conn:
            query = (
                select(projects.c.name, deployments.c.name)
                .join(deployments, deployments.c.project_id == projects.c.id)
                .where(
                    deployments.c.id.in_(select(monitors.c.deployment_id).where(monitors.c.enabled))
                )
            )
            if project is not None:
                query = query.where(projects.c.name == project)
            rows = conn.execute(query.order_by(projects.c.name, deployments.c.name)).all()
        return [(str(p), str(d)) for p, d in rows]

    def segments_logged(self, *, project: str | None = None) -> int:
        """How many log segments there are (of ``project`` when given): the worker's cheap
        look for new ones between passes."""
        with self.store.read() as conn:
            query = select(func.count()).select_from(prediction_segments)
            if project is not None:
                query = query.join(projects, projects.c.id == prediction_segments.c.project_id)
                query = query.where(projects.c.name == project)
            return int(conn.execute(query).scalar_one())

    def reference(self, version_id: str) -> Reference:
        """The reference of a model version by id (the pass reads one per version)."""
        return reference_of(self.models.get_version_by_id(version_id), self.models, self.datasets)

    # -- garbage collection ---------------------------------------------------------------

    def referenced_digests(self) -> set[str]:
        """The outputs blob of every window (joined with labels as they come)."""
        with self.store.read() as conn:
            found = conn.execute(
                select(monitor_windows.c.outputs_digest).where(
                    monitor_windows.c.outputs_digest.is_not(None)
                )
            ).scalars()
            return {str(d) for d in found}

    def tree_digests(self) -> set[str]:
        """None: window outputs are files."""
        return set()


def _document(spec: str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(spec, str):
        import yaml

        limits.check_text(spec, "spec", limits.SCHEDULE_PARAMS)
        try:
            spec = yaml.safe_load(spec)
        except yaml.YAMLError as exc:
            raise InvalidInput(f"the document is not YAML: {exc}", field="spec") from None
    if not isinstance(spec, Mapping):
        raise InvalidInput(
            "the document must be a mapping with deployment and monitors", field="spec"
        )
    return spec


def _monitor(project: str, deployment: str, row: Any) -> Monitor:
    return Monitor(
        id=row.id,
        project=project,
        deployment=deployment,
        name=row.name,
        kind=row.kind,
        config=json.loads(row.config),
        window=row.window,
        slide=row.slide,
        severity=row.severity,
        enabled=row.enabled,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_pass_at=row.last_pass_at,
    )
