"""The closed loop's steps: what each step of a loop run does, given the run's row, its
steps, the policy and the worker's pipeline runner, and what it answers -- ``("done",
detail)``, ``("fail", detail)``, ``("reject", detail)`` (the run ends rejected), ``("wait",
detail)`` (for a person) or ``("later", detail)`` (not due yet). :class:`LoopSteps` is
the part of :class:`~modelyard.monitoring.loop.LoopService` that drives the other
services; the service writes each outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pyarrow as pa
from sqlalchemy import Connection, select

from modelyard._refs import PipelineSources
from modelyard.errors import InvalidInput, NotFound
from modelyard.monitoring._loop_policy import Policy
from modelyard.predictions.service import PredictionService
from modelyard.registry.service import ModelService
from modelyard.serving.entities import Route, TrafficPlan
from modelyard.serving.service import DeploymentService
from modelyard.store import Store
from modelyard.store.tables import model_versions, monitor_values, monitors, registered_models
from modelyard.tracking.service import TrackingService

__all__ = ["LOOP_TAG", "MAX_ATTEMPTS", "STEPS", "LoopSteps", "PipelineRunner", "version_name"]

#: The tag naming the loop run a retraining pipeline run belongs to.
LOOP_TAG = "modelyard.loop_run"
#: The steps of a run, in order; ``promote`` and ``rollback`` exclude each other.
STEPS = ("retrain", "register", "evaluate", "approve", "canary", "compare", "promote", "rollback")
#: Attempts at the retraining pipeline (a worker that died mid-run leaves it to another).
MAX_ATTEMPTS = 3

Outcome = tuple[str, dict[str, Any]]


class PipelineRunner(Protocol):
    """How the worker runs a pipeline: ``(status, error)``, status ``finished`` or
    ``failed``; ``on_start`` gets the pipeline run's id as soon as it exists."""

    def __call__(
        self,
        pipeline: str,
        *,
        project: str,
        params: dict[str, Any],
        tags: dict[str, str],
        on_start: Callable[[str], None],
    ) -> tuple[str, str | None]: ...


class LoopSteps:
    """The steps of a loop run, over the services a loop drives."""

    store: Store
    models: ModelService
    deployments: DeploymentService
    predictions: PredictionService
    tracking: TrackingService
    sources: PipelineSources
    clock: Callable[[], int]

    def _do_retrain(
        self, row: Any, steps: Any, step: Any, policy: Policy, worker: str, runner: PipelineRunner
    ) -> Outcome:
        mine = [
            run
            for run in self.tracking.search_runs(
                row.project, filter=f"tags.{LOOP_TAG} = '{row.id}'", max_results=100
            ).runs
            if run.parent_id is None
        ]
        for run in mine:
            if run.status == "finished":
                return "done", {"pipeline_run_id": run.id, "attempts": len(mine)}
        for run in mine:
            if run.status == "running":  # its worker stopped: we hold the lease now
                self.tracking.end_run(
                    run.id, "failed", error="abandoned: its loop worker stopped during the run"
                )
        if len(mine) >= MAX_ATTEMPTS:
            return "fail", {"error": f"the pipeline did not finish in {len(mine)} attempts"}
        started: list[str] = []

        def on_start(run_id: str) -> None:
            started.append(run_id)

        tags = {LOOP_TAG: row.id, "modelyard.trigger": f"loop:{row.deployment}"}
        status, error = runner(
            policy.pipeline,
            project=row.project,
            params=policy.params,
            tags=tags,
            on_start=on_start,
        )
        detail: dict[str, Any] = {"pipeline_run_id": started[0] if started else None}
        if status != "finished":
            return "fail", detail | {"error": error}
        return "done", detail

    def _do_register(
        self, row: Any, steps: Any, step: Any, policy: Policy, worker: str, runner: Any
    ) -> Outcome:
        pipeline_run = steps[0]["detail"]["pipeline_run_id"]
        for version in reversed(self.models.list_versions(policy.model, project=row.project)):
            if version.run_id is not None and self._belongs(version.run_id, pipeline_run):
                return "done", {
                    "candidate": f"{version.name}/{version.version}",
                    "candidate_version_id": version.id,
                    "run_id": version.run_id,
                }
        return "fail", {"error": f"the pipeline run registered no version of {policy.model}"}

    def _belongs(self, run_id: str, pipeline_run: str) -> bool:
        for _ in range(20):
            if run_id == pipeline_run:
                return True
            parent = self.tracking.get_run(run_id).parent_id
            if parent is None:
                return False
            run_id = parent
        return False

    def _do_evaluate(
        self, row: Any, steps: Any, step: Any, policy: Policy, worker: str, runner: Any
    ) -> Outcome:
        candidate = self._version_ref(row.candidate_version_id)
        if row.champion_version_id is None:
            return "fail", {"error": "the deployment's champion resolves to no version"}
        champion = self._version_ref(row.champion_version_id)
        since = self.clock() - policy.window_s * 1000
        frame = self.predictions.load(row.project, row.deployment, since=since, with_labels=True)
        frame = frame[frame["label"].notna()] if "label" in frame else frame.iloc[0:0]
        if frame.empty:
            return "fail", {"error": f"no labelled predictions in the last {policy.window_s} s"}
        inputs = [c for c in frame.columns if c.startswith("input.")]
        data = frame[inputs].rename(columns=lambda c: c.removeprefix("input."))
        data["label"] = frame["label"].to_list()
        table = pa.Table.from_pandas(data.reset_index(drop=True), preserve_index=False)
        found = self.models.evaluate(
            candidate,
            table.to_batches(),
            "label",
            project=row.project,
            baseline=champion,
            source=f"loop {row.id}: the newest {policy.window_s} s of labelled predictions",
        )
        mine = found.metrics.get(policy.metric)
        theirs = found.report.get("baseline_metrics", {}).get(policy.metric)
        if not isinstance(mine, int | float) or not isinstance(theirs, int | float):
            return "fail", {
                "error": f"the evaluation has no metric {policy.metric!r}",
                "evaluation_id": found.id,
            }
        gain = (mine - theirs) if policy.higher_is_better else (theirs - mine)
        detail = {
            "evaluation_id": found.id,
            "rows": found.rows,
            "metric": policy.metric,
            "candidate": mine,
            "champion": theirs,
            "improvement": gain,
        }
        if gain < policy.min_improvement:
            return "reject", detail | {
                "reason": f"{policy.metric} improved by {gain:.4g}, less than "
                f"{policy.min_improvement:g}"
            }
        return "done", detail

    def _do_approve(
        self, row: Any, steps: Any, step: Any, policy: Policy, worker: str, runner: Any
    ) -> Outcome:
        version = self.models.get_version_by_id(row.candidate_version_id)
        if version.status in ("staging", "production"):
            return "done", {"status": version.status}
        request_id = step["detail"].get("request_id")
        if request_id is None:
            if not policy.auto_approve_staging:
                return "wait", {"waiting_for": "a person's approval of staging"}
            asked = self.models.request_transition(
                version.name,
                project=row.project,
                to="staging",
                version=version.version,
                comment=f"loop {row.id}",
            )
            request_id = asked.id
        request = self.models.get_request(request_id)
        if request.state == "applied":
            return "done", {"request_id": request_id, "status": "staging"}
        if request.state == "open":
            return "wait", {
                "request_id": request_id,
                "waiting_for": "a person's approval of the staging request",
            }
        return "fail", {"request_id": request_id, "error": f"staging request {request.state}"}

    def _do_canary(
        self, row: Any, steps: Any, step: Any, policy: Policy, worker: str, runner: Any
    ) -> Outcome:
        found = self.deployments.get(row.deployment, project=row.project)
        candidate = self._version_ref(row.candidate_version_id)
        if any(r.version_id == row.candidate_version_id for r in found.plan.routes[1:]):
            return "done", {"revision": found.revision, "canary_at": found.updated_at}
        model, _, number = candidate.rpartition("/")
        champion = found.plan.champion
        plan = TrafficPlan(
            (
                Route(champion.model, champion.ref, 100 - policy.weight),
                Route(model, number, policy.weight),
            )
        )
        moved = self.deployments.set_traffic(
            row.deployment,
            plan,
            project=row.project,
            reason=f"loop {row.id}: canary of {candidate}",
            rollout=policy.rollout,
        )
        return "done", {"revision": moved.revision, "canary_at": self.clock()}

    def _do_compare(
        self, row: Any, steps: Any, step: Any, policy: Policy, worker: str, runner: Any
    ) -> Outcome:
        since = steps[STEPS.index("canary")]["detail"]["canary_at"]
        due = since + policy.compare_s * 1000
        if self.clock() < due:
            return "later", {"due_at": due}
        found = self.deployments.get(row.deployment, project=row.project)
        if not any(r.version_id == row.candidate_version_id for r in found.plan.routes[1:]):
            return "done", {
                "decision": "rollback",
                "reason": "the candidate no longer takes traffic (its guard rails rolled "
                "it back, or the plan changed)",
            }
        with self.store.read() as conn:
            mine = _live(conn, row.deployment_id, row.candidate_version_id, since, policy)
            theirs = _live(conn, row.deployment_id, row.champion_version_id, since, policy)
        detail: dict[str, Any] = {"candidate": mine, "champion": theirs}
        reasons = []
        if policy.compare_monitor is not None:
            if mine["value"] is None or theirs["value"] is None:
                reasons.append(f"no live {policy.compare_monitor} of both versions")
            else:
                sign = 1 if policy.higher_is_better else -1
                if sign * (mine["value"] - theirs["value"]) < -policy.tolerance:
                    reasons.append(
                        f"live {policy.compare_monitor} {mine['value']:.4g} against the "
                        f"champion's {theirs['value']:.4g} (tolerance {policy.tolerance:g})"
                    )
        health = mine["health"]
        if policy.min_health is not None and health is not None and health < policy.min_health:
            reasons.append(f"health {health:.0f} under {policy.min_health:g}")
        if reasons:
            return "done", detail | {"decision": "rollback", "reason": "; ".join(reasons)}
        return "done", detail | {"decision": "promote", "reason": "the candidate held"}

    def _do_promote(
        self, row: Any, steps: Any, step: Any, policy: Policy, worker: str, runner: Any
    ) -> Outcome:
        detail = step["detail"]
        if policy.production == "require_person" and "decision" not in detail:
            return "wait", {"waiting_for": "a person's approval of production"}
        version = self.models.get_version_by_id(row.candidate_version_id)
        if version.status != "production":
            request_id = detail.get("request_id")
            if request_id is None:
                by = detail.get("decision", {}).get("by", "the loop")
                request_id = self.models.request_transition(
                    version.name,
                    project=row.project,
                    to="production",
                    version=version.version,
                    comment=f"loop {row.id}, approved by {by}",
                ).id
            request = self.models.get_request(request_id)
            if request.state == "open":
                return "wait", {
                    "request_id": request_id,
                    "waiting_for": "approvals of the production request",
                }
            if request.state != "applied":
                return "fail", {"request_id": request_id, "error": f"production {request.state}"}
        found = self.deployments.get(row.deployment, project=row.project)
        if not any(r.version_id == version.id for r in found.plan.routes[1:]):
            if found.plan.champion.version_id == version.id:
                return "done", {"revision": found.revision, "champion": _ref(version)}
            return "fail", {"error": "the candidate no longer takes traffic"}
        moved = self.deployments.promote(
            row.deployment,
            project=row.project,
            model=version.name,
            ref=str(version.version),
            reason=f"loop {row.id}",
        )
        return "done", {"revision": moved.revision, "champion": _ref(version)}

    def _do_rollback(
        self, row: Any, steps: Any, step: Any, policy: Policy, worker: str, runner: Any
    ) -> Outcome:
        found = self.deployments.get(row.deployment, project=row.project)
        if len(found.plan.routes) == 1 and found.plan.champion.version_id != (
            row.candidate_version_id
        ):
            return "done", {"revision": found.revision}
        moved = self.deployments.rollback(
            row.deployment, project=row.project, reason=f"loop {row.id}: the candidate did worse"
        )
        return "done", {"revision": moved.revision}

    def _version_ref(self, version_id: str | None) -> str:
        if version_id is None:
            raise InvalidInput("the loop has no candidate yet", field="candidate")
        with self.store.read() as conn:
            found = version_name(conn, version_id)
        if found is None:
            raise NotFound(f"model version {version_id} does not exist")
        return found


def version_name(conn: Connection, version_id: str | None) -> str | None:
    if version_id is None:
        return None
    found = conn.execute(
        select(registered_models.c.name, model_versions.c.version)
        .join(registered_models, registered_models.c.id == model_versions.c.model_id)
        .where(model_versions.c.id == version_id)
    ).first()
    return None if found is None else f"{found.name}/{found.version}"


def _ref(version: Any) -> str:
    return f"{version.name}/{version.version}"


def _live(
    conn: Connection, deployment_id: str, version_id: str | None, since: int, policy: Policy
) -> dict[str, Any]:
    """A version's live figures since ``since`` from the monitors' window values: the
    mean of ``promote_if.monitor``'s values, and health as the share of its windows of
    every monitor that did not breach (0-100; None without any)."""
    if version_id is None:
        return {"value": None, "health": None, "windows": 0}
    v = monitor_values.c
    rows = conn.execute(
        select(monitors.c.name, v.value, v.status)
        .join(monitors, monitors.c.id == v.monitor_id)
        .where(
            monitors.c.deployment_id == deployment_id,
            v.version_id == version_id,
            v.window_start >= since,
        )
    ).all()
    judged = [r for r in rows if r.status in ("ok", "breach")]
    values = [r.value for r in rows if r.name == policy.compare_monitor and r.value is not None]
    return {
        "value": sum(values) / len(values) if values else None,
        "health": 100.0 * sum(r.status == "ok" for r in judged) / len(judged) if judged else None,
        "windows": len(judged),
    }
