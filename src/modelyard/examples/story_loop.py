"""The story's monitors and closed loop (issue 14, item 8): what watches ``bikeshare-api``
while ``quickstart_monitoring.run_story`` replays the second half of 2011 through it, and
what acts when v1 goes wrong. ``modelyard quickstart`` tells it (after its tour) with
:func:`tell_story`.

**After v1 is deployed** (before the first replayed week is looked at) the deployment gets
:data:`MONITORS` -- input drift and prediction drift by day against v1's training profile
and evaluation, live accuracy by day from the delayed labels (judged on its
confidence-based estimate while fewer than ``min_labelled`` hours are labelled), volume
-- and :data:`LOOP_POLICY`: an open critical alert of ``accuracy`` starts a loop that
retrains with ``story_retrain.py`` on the newest labelled week, evaluates the candidate
against the champion on that week, asks for staging itself (the model's policy has no
staging rule), sends :data:`CANARY_WEIGHT` per cent of traffic to it for a replayed week,
compares the two versions' live accuracy, and waits for a person before production: the
story is that person (:meth:`LoopService.decide`), and says so.

**After each replayed week** (:class:`Watch`, the story's ``on_step``): a monitoring pass,
the alerts it opened and resolved put on the timeline with their numbers (drift
detected, performance fell), the loop driven by an in-process worker
(``Worker(isolation="inline").loop_pass``) as far as it goes (to the canary, which then
waits for the next replayed week's traffic; to the decision), and the health score
before the loop and once its alert cleared.

**Event time, not the wall clock.** The replay logs at the data's time (2011). The pass
judges which windows are complete, and how far back labels are joined, on its service's
clock; the loop times its evaluation window and its canary's compare window on its own.
The story gives both, and the health score, one clock: the end of the newest replayed
week (:class:`ReplayClock`, through each service's ``with_clock``), so a label given now
for a 2011 prediction is joined and the canary's week is a replayed week. The services
keep the wall clock for live traffic; nothing else is changed for the story but where
it takes its labels from: it gives labels synchronously, so the pass takes them at once
(``label_settle_ms=0``) rather than the next time. The canary's rollout guard rails
(judged by ``modelyard worker`` on the servers' wall-clock reports) are not set: the
story's loop compares the versions by their monitors only.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import AlreadyExists
from modelyard.examples.quickstart_monitoring import (
    DEPLOYMENT,
    FEATURES,
    MODEL,
    TRUSTED,
    Change,
    Story,
    run_story,
)

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.config import Settings
    from modelyard.examples._replay import ReplayStep
    from modelyard.examples._timeline import Timeline
    from modelyard.monitoring.alerts import AlertService
    from modelyard.monitoring.entities import Alert, LoopRun
    from modelyard.monitoring.service import MonitorService
    from modelyard.sdk.client import Client
    from modelyard.worker.worker import Worker

DAY_S = 86_400
#: The package the loop's pipeline is imported from (``worker.pipeline_packages``).
PIPELINE = "modelyard.examples.story_retrain:retrain"
CANARY_WEIGHT = 40
DRIFT_MONITORS = ("input-drift", "prediction-drift")
PERFORMANCE_MONITOR = "accuracy"
#: How far the live accuracy of a day may fall from the champion's evaluation.
MAX_DROP = 0.12
MONITORS: dict[str, Any] = {
    "deployment": DEPLOYMENT,
    "monitors": [
        {"name": "input-drift", "kind": "drift", "window": "day"},
        {"name": "prediction-drift", "kind": "prediction_drift", "window": "day"},
        {
            "name": PERFORMANCE_MONITOR,
            "kind": "performance",
            "window": "day",
            "severity": "critical",
            "metric": "accuracy",
            "max_drop": MAX_DROP,
            "min_labelled": 8,
        },
        {"name": "rows", "kind": "volume", "window": "day"},
    ],
}
LOOP_POLICY: dict[str, Any] = {
    "triggers": {"monitors": [PERFORMANCE_MONITOR], "severities": ["critical"]},
    "pipeline": PIPELINE,
    "params": {"days": 7},
    "model": MODEL,
    "evaluate": {
        "metric": "accuracy",
        "min_improvement": 0.02,
        "higher_is_better": True,
        "window_s": 7 * DAY_S,
    },
    "auto_approve_staging": True,
    "production": "require_person",
    "canary": {"weight": CANARY_WEIGHT},
    "compare_s": 7 * DAY_S,
    "promote_if": {"monitor": PERFORMANCE_MONITOR, "tolerance": 0.02},
}
#: How often the story's server reads the deployment's plan (s): the replay waits for a
#: changed plan (a canary, a promotion) to be served before it sends the next week.
PLAN_POLL_S = 0.2
#: How long the story's server holds logged rows before writing them (s), and how long
#: the story waits at most for a week's rows to be written before its pass.
LOG_FLUSH_S = 0.1
LOG_WAIT_S = 30.0


def story_settings(settings: Settings) -> Settings:
    """``settings`` as the story needs them: the model's types trusted, the loop's
    pipeline importable from this package, the served plan read often."""
    registry = settings.registry
    worker = settings.worker
    serving = settings.serving
    return settings.model_copy(
        update={
            "registry": registry.model_copy(
                update={"trusted_types": sorted({*registry.trusted_types, *TRUSTED})}
            ),
            "worker": worker.model_copy(
                update={"pipeline_packages": sorted({*worker.pipeline_packages, "modelyard"})}
            ),
            "serving": serving.model_copy(
                update={
                    "plan_poll_s": min(serving.plan_poll_s, PLAN_POLL_S),
                    "log_flush_s": min(serving.log_flush_s, LOG_FLUSH_S),
                }
            ),
        }
    )


class ReplayClock:
    """The story's clock (ms): the end of the newest replayed week."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


@dataclass(slots=True)
class Watch:
    """The story's ``on_step``: a pass, the alerts, the loop and the health after each
    replayed week, on the replay's clock; what it saw is kept for the end."""

    client: Client
    project: str
    worker: Worker
    clock: ReplayClock = field(default_factory=ReplayClock)
    monitors: MonitorService = field(init=False)
    alerts: AlertService = field(init=False)
    declared: bool = False
    passes: int = 0
    pass_seconds: float = 0.0
    loop_seconds: float = 0.0
    sent: int = 0
    opened: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    health_before: float | None = None
    health_after: float | None = None
    loop: LoopRun | None = None
    told: set[str] = field(default_factory=set)
    approved: bool = False

    def __post_init__(self) -> None:
        services = self.client.services
        self.monitors = services.monitors.with_clock(self.clock, label_settle_ms=0)
        self.alerts = services.alerts.with_clock(self.clock)
        self.worker.loops = self.worker.loops.with_clock(self.clock)

    def declare(self, timeline: Timeline) -> None:
        """The story's ``on_deployed``: the monitors and the loop policy on the deployment
        (v1 is its champion)."""
        self.monitors.apply(MONITORS, project=self.project)
        self.client.loops.set_policy(DEPLOYMENT, LOOP_POLICY, project=self.project)
        self.sent = self._logged()  # a story told before in this home logged these
        self.declared = True
        names = ", ".join(m["name"] for m in MONITORS["monitors"])
        timeline.add(
            "watched",
            f"monitors on {DEPLOYMENT}: {names}; a loop retrains when {PERFORMANCE_MONITOR}'s "
            "critical alert opens",
            timeline.events[-1].at_ms if timeline.events else None,
        )

    def __call__(self, step: ReplayStep, timeline: Timeline) -> None:
        if not self.declared:
            self.declare(timeline)
        self.clock.now = step.end
        self.sent += step.rows
        self._wait_for_log()
        report = self.monitors.run_pass(DEPLOYMENT, project=self.project)
        self.passes += 1
        self.pass_seconds += report.seconds
        for alert_id in report.opened:
            self._opened(self.alerts.get(alert_id, project=self.project), timeline, step)
        for alert_id in report.resolved:
            self._resolved(self.alerts.get(alert_id, project=self.project), timeline, step)
        started = time.monotonic()
        self._drive(timeline, step)
        self.loop_seconds += time.monotonic() - started

    def _wait_for_log(self) -> None:
        """Until the server wrote every row sent so far to the prediction log (it writes
        within ``serving.log_flush_s``), so the pass sees the whole week."""
        deadline = time.monotonic() + LOG_WAIT_S
        while self._logged() < self.sent and time.monotonic() < deadline:
            time.sleep(LOG_FLUSH_S / 2)

    def _logged(self) -> int:
        """The rows of the deployment's prediction log."""
        from sqlalchemy import func, select

        from modelyard.store.tables import prediction_segments as s
        from modelyard.store.tables import projects

        with self.client.services.store.read() as conn:
            return int(
                conn.execute(
                    select(func.coalesce(func.sum(s.c.rows), 0))
                    .join(projects, projects.c.id == s.c.project_id)
                    .where(projects.c.name == self.project, s.c.deployment == DEPLOYMENT)
                ).scalar_one()
            )

    # -- alerts ---------------------------------------------------------------------------

    def _opened(self, alert: Alert, timeline: Timeline, step: ReplayStep) -> None:
        self.opened.append(alert)
        if alert.subject_kind != "deployment":
            return
        at = int(alert.details.get("window_end") or step.end) - DAY_S * 1000
        day = _day(at)
        if alert.monitor in DRIFT_MONITORS and "drift" not in self.told:
            self.told.add("drift")
            timeline.fill("drift", f"{alert.monitor} on {day}: {_drift_words(alert)}", at)
        elif alert.monitor == PERFORMANCE_MONITOR:
            health = self._health()
            if self.health_before is None:  # before any loop
                self.health_before = health
            details = alert.details
            timeline.fill(
                "performance",
                f"live accuracy on {day} {details['value']:.2f} from "
                f"{details.get('labelled', details.get('rows'))} labelled hours, under "
                f"{details['threshold']:.2f} (the champion's evaluation "
                f"{details.get('baseline', 0):.2f} less {MAX_DROP}); the estimate said "
                f"{_number(details.get('estimated'))}; health {_number(health)}",
                at,
            )

    def _resolved(self, alert: Alert, timeline: Timeline, step: ReplayStep) -> None:
        self.resolved.append(alert)
        promoted = any(e.kind == "promoted" and not e.waiting for e in timeline.events)
        if (
            alert.subject_kind == "deployment"
            and alert.monitor == PERFORMANCE_MONITOR
            and promoted
            and "recovered" not in self.told
        ):
            self.told.add("recovered")
            self.health_after = self._health()
            timeline.fill(
                "recovered",
                f"the accuracy alert cleared; health of {DEPLOYMENT} "
                f"{_number(self.health_before)} → {_number(self.health_after)}",
                step.end,
            )

    def _health(self) -> float | None:
        return self.alerts.health(DEPLOYMENT, project=self.project).score

    # -- the loop -------------------------------------------------------------------------

    def _drive(self, timeline: Timeline, step: ReplayStep) -> None:
        """Loop passes until none advances a step; a run waiting for production is
        approved by the story, as the person its policy asks for."""
        from modelyard.worker.worker import Pass

        for _ in range(20):
            done = Pass()
            self.worker.loop_pass(done)
            run = self._newest_run()
            if run is not None and self._waits_for_production(run):
                self.client.loops.decide(
                    run.id,
                    project=self.project,
                    approve=True,
                    comment="the story's approver: the canary held its week",
                )
                self.approved = True
                continue
            if not done.loops:
                break
        runs = self.client.loops.list_runs(DEPLOYMENT, project=self.project, limit=5)
        for run in reversed(runs):
            self._tell_loop(run, timeline, step)
        self.loop = runs[0] if runs else None

    def _newest_run(self) -> LoopRun | None:
        runs = self.client.loops.list_runs(DEPLOYMENT, project=self.project, limit=1)
        return runs[0] if runs else None

    @staticmethod
    def _waits_for_production(run: LoopRun) -> bool:
        return run.state == "waiting" and any(
            s.name == "promote" and s.status == "waiting" for s in run.steps
        )

    def _tell_loop(self, run: LoopRun, timeline: Timeline, step: ReplayStep) -> None:
        steps = {s.name: s for s in run.steps if s.status in ("done", "failed", "skipped")}
        evaluate = steps.get("evaluate")
        if evaluate is not None and f"{run.id}:retrained" not in self.told:
            self.told.add(f"{run.id}:retrained")
            d = evaluate.detail
            if "improvement" in d:
                what = (
                    f"{run.candidate} on the newest labelled week (alert: "
                    f"{run.trigger.get('monitor', PERFORMANCE_MONITOR)}); accuracy on it "
                    f"{d['candidate']:.3f} against the champion's {d['champion']:.3f}"
                )
            else:
                what = f"the loop's evaluation failed: {d.get('error')}"
            timeline.fill("retrained", what, step.end)
        canary = steps.get("canary")
        if canary is not None and f"{run.id}:canary" not in self.told:
            self.told.add(f"{run.id}:canary")
            timeline.fill(
                "canary",
                f"{CANARY_WEIGHT}% of {DEPLOYMENT}'s traffic to {run.candidate} for a "
                f"replayed week ({run.champion} keeps the rest)",
                step.end,
            )
        if run.state in ("promoted", "rolled_back", "rejected", "failed", "cancelled"):
            if f"{run.id}:decided" in self.told:
                return
            self.told.add(f"{run.id}:decided")
            compare = steps.get("compare")
            live = _compare_words(compare.detail) if compare is not None else ""
            if run.state == "promoted":
                timeline.fill(
                    "promoted",
                    f"{run.candidate} is the champion{live}; production approved by the "
                    "story, as the person the loop's policy waits for",
                    step.end,
                )
            else:
                reason = next(
                    (
                        s.detail.get("reason") or s.detail.get("error")
                        for s in reversed(run.steps)
                        if s.detail.get("reason") or s.detail.get("error")
                    ),
                    None,
                )
                timeline.fill(
                    run.state.replace("_", " "),
                    f"{run.candidate or 'no candidate'} not promoted{live}: {reason}",
                    step.end,
                    replaces="promoted",
                )


# -- the story told -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Told:
    """The story with its watch and the HTML reports it left (paths)."""

    story: Story
    watch: Watch
    reports: list[Path]


def tell_story(
    settings: Settings,
    project: str,
    *,
    change: Change | None = None,
    hours: pd.DataFrame | None = None,
    reports: Path | None = None,
    on_week: Callable[[ReplayStep], None] | None = None,
) -> Told:
    """The whole story in ``project`` with its monitors and loop: ``run_story`` watched
    after each replayed week (then ``on_week(step)``: a progress bar), then the HTML
    reports written into ``reports`` (default: ``<home>/story``)."""
    from modelyard.sdk.client import Client
    from modelyard.worker.worker import Worker

    settings = story_settings(settings)
    with Client(settings) as client:
        with contextlib.suppress(AlreadyExists):
            client.create_project(project)
        with Worker(settings, project=project, isolation="inline", log=lambda _: None) as worker:
            watch = Watch(client, project, worker)

            def watched(step: ReplayStep, timeline: Timeline) -> None:
                watch(step, timeline)
                if on_week is not None:
                    on_week(step)

            story = run_story(
                client,
                project,
                change=change,
                hours=hours,
                on_deployed=watch.declare,
                on_step=watched,
            )
        if "recovered" not in watch.told and watch.health_before is not None:
            watch.health_after = watch._health()
            moved = f"{_number(watch.health_before)} → {_number(watch.health_after)}"
            better = (watch.health_after or 0) > watch.health_before
            story.timeline.fill(
                "recovered" if better else "health",
                f"health of {DEPLOYMENT} at the end of the replay: {moved}"
                + ("" if better else " (it did not recover)"),
                watch.clock.now,
                replaces="recovered",
            )
        written = write_reports(client, project, story, watch, reports or settings.home / "story")
    return Told(story, watch, written)


def write_reports(
    client: Client, project: str, story: Story, watch: Watch, folder: Path
) -> list[Path]:
    """The drift report of the day the input drift monitor found worst (its hours against
    v1's training hours) and the evaluation pages of v1 and of the loop's candidate."""
    import pandas as pd

    from modelyard.data.drift import drift

    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    values = [
        v
        for v in watch.monitors.values(DEPLOYMENT, "input-drift", project=project)
        if v.value is not None and not v.details.get("partial")
    ]
    if values:
        worst = max(values, key=lambda v: v.value or 0.0)
        log = client.predictions.load(
            project, DEPLOYMENT, since=worst.window_start, until=worst.window_end
        )
        day = pd.DataFrame({name: log[f"input.{name}"] for name in FEATURES})
        report = drift(story.data.training[list(FEATURES)], day)
        path = folder / f"drift-{_day(worst.window_start)}.html"
        path.write_text(report.to_html(), encoding="utf-8")
        written.append(path)
    evaluations = [("v1", story.trained.evaluation.id)]
    loop = watch.loop
    if loop is not None:
        evaluate = next((s for s in loop.steps if s.name == "evaluate"), None)
        if evaluate is not None and evaluate.detail.get("evaluation_id"):
            candidate = (loop.candidate or "").rpartition("/")[2]
            champion = (loop.champion or "").rpartition("/")[2]
            name = f"v{candidate}-against-v{champion}"
            evaluations.append((name, evaluate.detail["evaluation_id"]))
    for name, evaluation_id in evaluations:
        path = folder / f"evaluation-{name}.html"
        path.write_text(client.models.evaluation_html(evaluation_id), encoding="utf-8")
        written.append(path)
    return written


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def _number(value: Any) -> str:
    return "none" if value is None else f"{value:.0f}" if value > 1 else f"{value:.2f}"


def _drift_words(alert: Alert) -> str:
    details = alert.details
    drifted = details.get("drifted")
    said = f"{details.get('value', 0):.2f} against {details.get('threshold', 0):.2f}"
    if drifted:
        said += f" ({', '.join(str(d) for d in drifted)} drifted)"
    return f"{said}; the season moves on since v1's January to June"


def _compare_words(detail: dict[str, Any]) -> str:
    mine, theirs = detail.get("candidate") or {}, detail.get("champion") or {}
    if mine.get("value") is None or theirs.get("value") is None:
        return ""
    return (
        f" (live accuracy in the canary's week {mine['value']:.3f} against {theirs['value']:.3f})"
    )
