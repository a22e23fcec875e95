"""What serving and training cost, and the projects' monthly budgets (a service).

**Serving.** Each inference server reports, with its counts, the CPU-seconds and the
memory-time (its RSS integrated over time, byte-seconds) its process used
(``server_usage``). A report's usage is split between the deployments and versions the
server answered in that report by their share of its requests (``deployment_stats``),
and priced with the price table (``cost.*`` settings) by
:func:`~modelyard.tracking.cost.compute_cost`: CPU-seconds as CPU-hours, byte-seconds as
GiB-hours. A report counts in a period (and in an hour or day of a series) when it ends
in it (reports are seconds long).

**Training.** A model version's training cost is the cost recorded on its run, or, when
the run is a step of a pipeline run (or the pipeline run itself), the sum of the
pipeline's step runs (a cached step cost nothing there). A run that has child runs is
never added beside them: its sampler watched the process its children ran in, so its
cost is theirs again.

**Budgets.** A budget caps a project's spending per calendar month (UTC) on ``all``,
``serving`` or ``training``; as spending passes each of its thresholds (shares of the
amount) :meth:`CostService.check_budgets` (the worker, every :data:`BUDGET_CHECK_S`)
opens an alert on the project, monitor ``budget:<scope>``: a warning below 1.0, critical
from 1.0. Rights: reading needs ``viewer``, setting and deleting a budget ``admin`` of
the project (audited).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Float, and_, cast, delete, func, literal, select
from sqlalchemy.orm import aliased

from modelyard._util import new_id, now_ms, validate_name
from modelyard.errors import InvalidInput, NotFound
from modelyard.governance.roles import Role, missing_project
from modelyard.monitoring._raise import clear_alert, raise_alert
from modelyard.monitoring.entities import WINDOW_UNITS, Budget, CostFigure
from modelyard.store.tables import (
    alerts,
    budgets,
    deployment_stats,
    deployments,
    model_versions,
    projects,
    registered_models,
    runs,
    server_usage,
    step_runs,
)
from modelyard.tracking.cost import compute_cost
from modelyard.tracking.system import ResourceUsage

if TYPE_CHECKING:
    from modelyard.config import CostSettings
    from modelyard.governance.access import Access
    from modelyard.governance.identity import Actor
    from modelyard.store import Store

__all__ = [
    "BUDGET_CHECK_S",
    "BUDGET_SCOPES",
    "BudgetCheck",
    "CostService",
]

#: What a budget may cap.
BUDGET_SCOPES = ("all", "serving", "training")
#: How often the worker checks the budgets (seconds).
BUDGET_CHECK_S = 300.0
#: Thresholds of one budget: at most this many, each in (0, MAX_THRESHOLD].
MAX_THRESHOLDS = 10
MAX_THRESHOLD = 10.0
#: A serving cost's period when none is given: the last 30 days.
DEFAULT_PERIOD_MS = 30 * 86_400_000
#: The most hours or days one series answers.
MAX_BUCKETS = 2000
_UNIT_MS = {"hour": 3_600_000, "day": 86_400_000}
_BYTES_PER_GIB = 1024.0**3
_SECONDS_PER_HOUR = 3600.0
_BUDGET = "budget"


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """What checking one budget did: ``opened`` an alert for ``threshold`` (the highest
    passed), or ``cleared`` the open one (a new month, or spending back under)."""

    project: str
    scope: str
    action: str
    threshold: float | None
    spent: float
    amount: float
    alert_id: str


def _month_start(at_ms: int) -> int:
    day = datetime.fromtimestamp(at_ms / 1000, UTC)
    start = day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return int(start.timestamp() * 1000)


def _month(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m")


def _time(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{field} must be milliseconds since the epoch (>= 0)", field=field)
    return value


def _gib_hours(memory_byte_s: float) -> float:
    return memory_byte_s / _BYTES_PER_GIB / _SECONDS_PER_HOUR


def check_amount(amount: object) -> float:
    """A budget's amount: a finite number > 0 (InvalidInput naming ``amount``)."""
    if (
        isinstance(amount, bool)
        or not isinstance(amount, int | float)
        or not math.isfinite(amount)
        or amount <= 0
    ):
        raise InvalidInput(f"amount must be a number above 0; got {amount!r}", field="amount")
    return float(amount)


def check_scope(scope: object) -> str:
    if scope not in BUDGET_SCOPES:
        raise InvalidInput(
            f"scope must be one of {list(BUDGET_SCOPES)}; got {scope!r}", field="scope"
        )
    return str(scope)


def check_thresholds(thresholds: object) -> tuple[float, ...]:
    """Shares of the amount, ascending, each above 0 and at most 10 (InvalidInput naming
    ``thresholds``)."""
    if (
        isinstance(thresholds, str | bytes)
        or not isinstance(thresholds, Sequence)
        or not 1 <= len(thresholds) <= MAX_THRESHOLDS
    ):
        raise InvalidInput(
            f"thresholds must be a list of 1 to {MAX_THRESHOLDS} shares of the amount",
            field="thresholds",
        )
    out: list[float] = []
    for t in thresholds:
        if (
            isinstance(t, bool)
            or not isinstance(t, int | float)
            or not math.isfinite(t)
            or not 0 < t <= MAX_THRESHOLD
        ):
            raise InvalidInput(
                f"thresholds must be shares above 0 and at most {MAX_THRESHOLD:g}; got {t!r}",
                field="thresholds",
            )
        if out and t <= out[-1]:
            raise InvalidInput("thresholds must be ascending", field="thresholds")
        out.append(float(t))
    return tuple(out)


class CostService:
    """Serving and training costs and budgets over one metadata store (see the module)."""

    def __init__(
        self,
        store: Store,
        access: Access,
        *,
        prices: CostSettings,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        """``prices``: the price table (``settings.cost``); ``clock``: now, in ms."""
        self.store = store
        self.access = access
        self.prices = prices
        self.clock = clock

    def acting_as(self, actor: Actor) -> CostService:
        """This service acting for ``actor`` (a server makes one per request)."""
        view = copy.copy(self)
        view.access = self.access.acting_as(actor)
        return view

    def _project(self, conn: Connection, project: str, needed: Role) -> str:
        validate_name(project, "project")
        found = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
        if found is None:
            raise missing_project(project)
        self.access.require(conn, project, needed, hidden=missing_project(project))
        return str(found)

    def _price(self, cpu_s: float, memory_byte_s: float) -> float:
        """The price of CPU-seconds and byte-seconds (memory held ``memory_byte_s`` bytes
        for one second), by the one formula of :func:`compute_cost`."""
        usage = ResourceUsage(
            wall_time_s=1.0, cpu_time_s=cpu_s, peak_rss_bytes=round(memory_byte_s)
        )
        return compute_cost(usage, self.prices)

    # -- serving --------------------------------------------------------------------------

    def _shares(
        self,
        conn: Connection,
        project_id: str,
        since: int,
        until: int,
        deployment_id: str | None,
        unit_ms: int | None = None,
    ) -> list[Any]:
        """Per deployment and version (and per ``unit_ms`` bucket of the reports' ends,
        when given): requests, and the CPU-seconds and byte-seconds of the reports ending
        in ``[since, until)`` split by their share of each report's requests."""
        s = deployment_stats.c
        u = server_usage.c
        ours = select(deployments.c.id).where(deployments.c.project_id == project_id)
        in_period = and_(s.window_end >= since, s.window_end < until, s.deployment_id.in_(ours))
        total = (
            select(s.server, s.window_end, func.sum(s.requests).label("total"))
            .where(in_period)
            .group_by(s.server, s.window_end)
            .subquery()
        )
        share = s.requests / cast(func.nullif(total.c.total, 0), Float)
        groups: list[Any] = [s.deployment_id, s.version_id]
        if unit_ms is not None:
            groups.append(((s.window_end // unit_ms) * unit_ms).label("bucket"))
        query = (
            select(
                *groups,
                func.sum(s.requests).label("requests"),
                func.coalesce(func.sum(u.cpu_s * share), 0.0).label("cpu_s"),
                func.coalesce(func.sum(u.memory_byte_s * share), 0.0).label("memory_byte_s"),
            )
            .join(total, and_(total.c.server == s.server, total.c.window_end == s.window_end))
            .join(
                server_usage,
                and_(
                    u.project_id == project_id,
                    u.server == s.server,
                    u.window_end == s.window_end,
                ),
                isouter=True,
            )
            .where(in_period)
            .group_by(*groups)
        )
        if deployment_id is not None:
            query = query.where(s.deployment_id == deployment_id)
        return list(conn.execute(query))

    def _figure(
        self,
        kind: str,
        subject: str,
        start: int,
        end: int,
        rows: list[Any],
        details: dict[str, Any],
    ) -> CostFigure:
        requests = sum(int(r.requests) for r in rows)
        cpu_s = sum(float(r.cpu_s) for r in rows)
        memory_byte_s = sum(float(r.memory_byte_s) for r in rows)
        cost = self._price(cpu_s, memory_byte_s)
        return CostFigure(
            subject_kind=kind,
            subject=subject,
            start=start,
            end=end,
            cost=cost,
            currency=self.prices.currency,
            predictions=requests,
            per_1000=round(cost / requests * 1000, 6) if requests else None,
            cpu_s=round(cpu_s, 6),
            gib_hours=round(_gib_hours(memory_byte_s), 9),
            details=details,
        )

    def serving_cost(
        self,
        deployment: str,
        *,
        project: str,
        since: int | None = None,
        until: int | None = None,
        by_version: bool = False,
    ) -> list[CostFigure]:
        """What serving ``deployment`` cost from ``since`` to ``until`` (ms; by default
        the last 30 days): one figure, or one per version that answered (``model/3``),
        most expensive first. ``predictions`` counts the requests answered."""
        figures = self._serving(deployment, project, since, until, by_version, None)
        if not by_version:
            return figures
        return sorted(figures, key=lambda f: (-f.cost, f.subject))

    def serving_cost_series(
        self,
        deployment: str,
        *,
        project: str,
        since: int | None = None,
        until: int | None = None,
        unit: str = "day",
        by_version: bool = False,
    ) -> list[CostFigure]:
        """What serving ``deployment`` cost per hour or day (``unit``; UTC) from ``since``
        to ``until`` (by default the last 30 days), oldest first (per version too with
        ``by_version``); an hour or day with no reports is left out. At most
        :data:`MAX_BUCKETS` buckets."""
        if unit not in WINDOW_UNITS:
            raise InvalidInput(f"unit must be one of {list(WINDOW_UNITS)}", field="unit")
        figures = self._serving(deployment, project, since, until, by_version, _UNIT_MS[unit])
        return sorted(figures, key=lambda f: (f.start, f.subject))

    def _serving(
        self,
        deployment: str,
        project: str,
        since: int | None,
        until: int | None,
        by_version: bool,
        unit_ms: int | None,
    ) -> list[CostFigure]:
        end = self.clock() if until is None else _time(until, "until")
        start = end - DEFAULT_PERIOD_MS if since is None else _time(since, "since")
        if start >= end:
            raise InvalidInput("since must be before until", field="since")
        if unit_ms is not None and (end - 1) // unit_ms - start // unit_ms >= MAX_BUCKETS:
            raise InvalidInput(
                f"a series is at most {MAX_BUCKETS} hours or days: narrow since and until",
                field="since",
            )
        validate_name(deployment, "deployment")
        with self.store.read() as conn:
            project_id = self._project(conn, project, Role.VIEWER)
            deployment_id = conn.execute(
                select(deployments.c.id).where(
                    deployments.c.project_id == project_id, deployments.c.name == deployment
                )
            ).scalar()
            if deployment_id is None:
                raise NotFound(
                    f"deployment {deployment!r} does not exist in project {project!r}",
                    field="deployment",
                )
            rows = self._shares(conn, project_id, start, end, deployment_id, unit_ms)
            names = {
                v.id: f"{v.name}/{v.version}"
                for v in conn.execute(
                    select(model_versions.c.id, model_versions.c.version, registered_models.c.name)
                    .join(registered_models, registered_models.c.id == model_versions.c.model_id)
                    .where(model_versions.c.id.in_({r.version_id for r in rows}))
                )
            }
        groups: dict[tuple[int, int, str | None], list[Any]] = {}
        for r in rows:
            span = (start, end) if unit_ms is None else (r.bucket, r.bucket + unit_ms)
            groups.setdefault((*span, r.version_id if by_version else None), []).append(r)
        if unit_ms is None and not by_version:
            groups.setdefault((start, end, None), [])
        return [
            self._figure(
                "model_version", names.get(version_id, version_id), a, b, group,
                {"deployment": deployment, "version_id": version_id},
            )
            if version_id is not None
            else self._figure("deployment", deployment, a, b, group, {})
            for (a, b, version_id), group in groups.items()
        ]  # fmt: skip

    # -- training -------------------------------------------------------------------------

    def training_cost(self, model: str, version: int, *, project: str) -> CostFigure:
        """What training ``model`` version ``version`` cost: its run's cost, or the sum
        of its pipeline's step runs (see the module); ``details.runs`` lists each run."""
        validate_name(model, "model")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidInput("version must be a positive integer", field="version")
        with self.store.read() as conn:
            project_id = self._project(conn, project, Role.VIEWER)
            run_id = conn.execute(
                select(model_versions.c.run_id)
                .join(registered_models, registered_models.c.id == model_versions.c.model_id)
                .where(
                    registered_models.c.project_id == project_id,
                    registered_models.c.name == model,
                    model_versions.c.version == version,
                )
            ).first()
            if run_id is None:
                raise NotFound(
                    f"model {model!r} has no version {version} in project {project!r}",
                    field="version",
                )
            rows = self._training_runs(conn, run_id[0]) if run_id[0] else []
        subject = f"{model}/{version}"
        cpu_s = sum(r.cpu_time_s or 0.0 for r in rows)
        gib_hours = sum(
            (r.peak_rss_bytes or 0) / _BYTES_PER_GIB * (r.wall_time_s or 0.0) / _SECONDS_PER_HOUR
            for r in rows
        )
        return CostFigure(
            subject_kind="model_version",
            subject=subject,
            start=min((r.start_time for r in rows), default=0),
            end=max((r.end_time or r.start_time for r in rows), default=0),
            cost=round(sum(r.cost or 0.0 for r in rows), 6),
            currency=self.prices.currency,
            cpu_s=round(cpu_s, 6),
            gib_hours=round(gib_hours, 9),
            details={
                "run_id": run_id[0],
                "runs": [
                    {"run_id": r.id, "name": r.name, "cost": r.cost, "cached": bool(r.cached)}
                    for r in rows
                ],
            },
        )

    @staticmethod
    def _training_runs(conn: Connection, run_id: str) -> list[Any]:
        """The runs whose cost a version trained by ``run_id`` adds up (see the module)."""
        pipeline = conn.execute(
            select(step_runs.c.pipeline_run_id).where(step_runs.c.run_id == run_id)
        ).scalar()
        steps = conn.execute(
            select(step_runs.c.run_id).where(step_runs.c.pipeline_run_id == (pipeline or run_id))
        ).first()
        columns = (
            runs.c.id,
            runs.c.name,
            runs.c.start_time,
            runs.c.end_time,
            runs.c.wall_time_s,
            runs.c.cpu_time_s,
            runs.c.peak_rss_bytes,
            runs.c.cost,
        )
        if pipeline is None and steps is None:
            query = select(*columns, literal(False).label("cached")).where(runs.c.id == run_id)
        else:
            query = (
                select(*columns, step_runs.c.cached)
                .join(step_runs, step_runs.c.run_id == runs.c.id)
                .where(step_runs.c.pipeline_run_id == (pipeline or run_id))
                .order_by(runs.c.start_time, runs.c.id)
            )
        return list(conn.execute(query))

    # -- budgets --------------------------------------------------------------------------

    def _spent(
        self, conn: Connection, project_id: str, scope: str, since: int, until: int
    ) -> float:
        """What the project spent on ``scope`` from ``since`` to ``until`` (ms)."""
        spent = 0.0
        if scope in ("all", "serving"):
            rows = self._shares(conn, project_id, since, until, None)
            spent += self._price(
                sum(float(r.cpu_s) for r in rows), sum(float(r.memory_byte_s) for r in rows)
            )
        if scope in ("all", "training"):
            child = aliased(runs)
            leaf = ~select(child.c.id).where(child.c.parent_id == runs.c.id).exists()
            spent += float(
                conn.execute(
                    select(func.coalesce(func.sum(runs.c.cost), 0.0)).where(
                        runs.c.project_id == project_id,
                        runs.c.end_time >= since,
                        runs.c.end_time < until,
                        leaf,
                    )
                ).scalar_one()
            )
        return round(spent, 6)

    def _budget(self, conn: Connection, project: str, row: Any, now: int) -> Budget:
        return Budget(
            id=row.id,
            project=project,
            scope=row.scope,
            amount=row.amount,
            thresholds=tuple(json.loads(row.thresholds)),
            created_by=row.created_by,
            created_at=row.created_at,
            spent=self._spent(conn, row.project_id, row.scope, _month_start(now), now + 1),
        )

    def set_budget(
        self,
        project: str,
        amount: float,
        *,
        scope: str = "all",
        thresholds: tuple[float, ...] = (0.5, 0.8, 1.0),
    ) -> Budget:
        """Set the project's monthly budget for ``scope`` (replacing the one there was);
        needs ``admin`` of the project."""
        amount = check_amount(amount)
        scope = check_scope(scope)
        shares = check_thresholds(thresholds)
        now = self.clock()
        with self.store.write() as conn:
            project_id = self._project(conn, project, Role.ADMIN)
            key = (budgets.c.project_id == project_id, budgets.c.scope == scope)
            conn.execute(delete(budgets).where(*key))
            conn.execute(
                budgets.insert().values(
                    id=new_id(),
                    project_id=project_id,
                    scope=scope,
                    amount=amount,
                    thresholds=json.dumps(list(shares)),
                    created_by=self.access.who(),
                    created_at=now,
                )
            )
            row = conn.execute(select(budgets).where(*key)).one()
            self.access.record(
                conn,
                "budget.set",
                _BUDGET,
                row.id,
                f"{project} {scope}: {amount:g} {self.prices.currency} a month, "
                f"alerts at {', '.join(f'{t:g}' for t in shares)}",
            )
            return self._budget(conn, project, row, now)

    def list_budgets(self, project: str) -> list[Budget]:
        """A project's budgets by scope, with what was spent this calendar month (UTC)."""
        now = self.clock()
        with self.store.read() as conn:
            project_id = self._project(conn, project, Role.VIEWER)
            rows = conn.execute(
                select(budgets).where(budgets.c.project_id == project_id).order_by(budgets.c.scope)
            ).all()
            return [self._budget(conn, project, row, now) for row in rows]

    def delete_budget(self, project: str, *, scope: str = "all") -> None:
        """Delete the project's budget for ``scope`` and resolve its open alert; needs
        ``admin`` of the project."""
        scope = check_scope(scope)
        with self.store.write() as conn:
            project_id = self._project(conn, project, Role.ADMIN)
            key = (budgets.c.project_id == project_id, budgets.c.scope == scope)
            found = conn.execute(select(budgets.c.id).where(*key)).scalar()
            if found is None:
                raise NotFound(f"project {project!r} has no {scope} budget", field="scope")
            conn.execute(delete(budgets).where(*key))
            clear_alert(
                conn,
                project=project,
                subject_kind="project",
                subject_id=project_id,
                subject=f"project {project}",
                monitor=f"budget:{scope}",
                at=self.clock(),
                comment="the budget was deleted",
            )
            self.access.record(conn, "budget.deleted", _BUDGET, found, f"{project} {scope}")

    def check_budgets(self, *, project: str | None = None) -> list[BudgetCheck]:
        """Judge every budget (of ``project``, when given) on this month's spending (the
        worker's call): an alert opens for the highest threshold passed, unless one was
        opened for it (or a higher one) this month; the open one is resolved when a
        higher threshold opens its own, when spending is under every threshold (a new
        month) or when its budget is deleted. Opens nothing new when run twice."""
        now = self.clock()
        with self.store.read() as conn:
            query = select(budgets, projects.c.name.label("project")).join(
                projects, projects.c.id == budgets.c.project_id
            )
            if project is not None:
                query = query.where(projects.c.name == project)
            rows = conn.execute(query.order_by(projects.c.name, budgets.c.scope)).all()
        done: list[BudgetCheck] = []
        for row in rows:
            with self.store.write() as conn:
                found = self._check(conn, row, now)
            if found is not None:
                done.append(found)
        return done

    def _check(self, conn: Connection, row: Any, now: int) -> BudgetCheck | None:
        month_start = _month_start(now)
        spent = self._spent(conn, row.project_id, row.scope, month_start, now + 1)
        thresholds = json.loads(row.thresholds)
        passed = [t for t in thresholds if spent >= t * row.amount]
        monitor = f"budget:{row.scope}"
        subject = {
            "project": row.project,
            "subject_kind": "project",
            "subject_id": row.project_id,
            "subject": f"project {row.project}",
            "monitor": monitor,
            "at": now,
        }
        if not passed:
            cleared = clear_alert(
                conn, **subject, comment=f"{row.scope} spending is under every threshold"
            )
            if cleared is None:
                return None
            return BudgetCheck(row.project, row.scope, "cleared", None, spent, row.amount, cleared)
        top = passed[-1]
        announced = [
            json.loads(a.details).get("threshold", 0.0)
            for a in conn.execute(
                select(alerts.c.details).where(
                    alerts.c.subject_kind == "project",
                    alerts.c.subject_id == row.project_id,
                    alerts.c.monitor == monitor,
                    alerts.c.opened_at >= month_start,
                )
            )
        ]
        if any(a >= top for a in announced):
            return None
        currency = self.prices.currency
        clear_alert(conn, **subject, comment=f"{row.scope} spending passed {top:.0%}")
        raised = raise_alert(
            conn,
            **subject,
            severity="critical" if top >= 1.0 else "warning",
            title=(
                f"{row.scope} spending of project {row.project} passed {top:.0%} of its "
                f"monthly budget: {spent:.2f} of {row.amount:.2f} {currency}"
            ),
            details={
                "scope": row.scope,
                "month": _month(now),
                "threshold": top,
                "spent": spent,
                "amount": row.amount,
                "currency": currency,
            },
        )
        return BudgetCheck(
            row.project, row.scope, "opened", top, spent, row.amount, raised.alert_id
        )
