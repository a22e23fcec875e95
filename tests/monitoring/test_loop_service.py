"""The closed loop end to end, embedded: an alert starts it, the worker retrains with a
real pipeline, registers, evaluates the candidate against the champion on the newest
labelled predictions, passes staging, canaries, compares and promotes, or rolls back; a
worker killed between (and in) steps leaves the next one to resume; two drivers never run
the same step; bad policies name their field."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loop_support import (
    DEPLOYMENT,
    MODEL,
    PIPES,
    PROJECT,
    champion,
    log_new_behaviour,
    open_alert,
    window_values,
)
from modelyard import Client
from modelyard._util import now_ms
from modelyard.config import Settings
from modelyard.errors import Conflict, InvalidInput, NotFound
from modelyard.governance.identity import Actor
from modelyard.monitoring.loop import LOOP_TAG, STEPS, LoopService
from modelyard.registry.entities import ModelVersion
from modelyard.store.tables import events
from modelyard.worker.worker import Pass, Worker
from pipeline_files import pipeline_file


@pytest.fixture
def pipes(tmp_path: Path) -> Iterator[Path]:
    with pipeline_file(tmp_path, "loop_pipes", PIPES) as path:
        yield path


@pytest.fixture
def v1(client: Client) -> ModelVersion:
    found = champion(client)
    log_new_behaviour(client, found)
    return found


def policy(pipes: Path, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "triggers": {"monitors": ["accuracy"], "severities": ["critical"]},
        "pipeline": f"{pipes}:retrain",
        "params": {"shift": 1.0},
        "model": MODEL,
        "evaluate": {"metric": "accuracy", "min_improvement": 0.05, "window_s": 3600},
        "auto_approve_staging": True,
        "production": "auto",
        "canary": {"weight": 20, "rollout": {"max_error_rate": 0.5, "window_s": 60}},
        "compare_s": 0,
        "promote_if": {"monitor": "accuracy", "tolerance": 0.02, "min_health": 50},
    }
    return base | changes


@pytest.fixture
def loops(client: Client) -> LoopService:
    return client.services.loops


def drive(settings: Settings, until: str, lines: list[str]) -> Pass:
    """Worker passes (inline) until a loop ran step ``until``."""
    done = Pass()
    with Worker(settings, log=lines.append, isolation="inline") as worker:
        for _ in range(len(STEPS) + 2):
            worker.loop_pass(done)
            if any(step == until for _, step in done.loops):
                break
    return done


def kinds(client: Client) -> list[str]:
    with client.store.read() as conn:
        rows = conn.execute(events.select().order_by(events.c.created_at)).all()
    return [r.kind for r in rows if r.kind.startswith("loop.")]


def test_an_alert_starts_a_loop_that_retrains_canaries_and_promotes(
    client: Client, settings: Settings, loops: LoopService, pipes: Path, v1: ModelVersion
) -> None:
    loops.set_policy(DEPLOYMENT, policy(pipes), project=PROJECT)
    alert_id = open_alert(client)
    lines: list[str] = []
    done = drive(settings, "canary", lines)
    assert [step for _, step in done.loops] == [
        "retrain",
        "register",
        "evaluate",
        "approve",
        "canary",
    ]
    (run,) = loops.list_runs(DEPLOYMENT, project=PROJECT)
    assert run.trigger["kind"] == "alert" and run.trigger["alert_id"] == alert_id
    assert run.trigger["monitor"] == "accuracy" and run.trigger["finding"]["details"]
    assert run.champion == f"{MODEL}/1" and run.candidate == f"{MODEL}/2"
    steps = {s.name: s for s in run.steps}
    pipeline_run = client.get_run(steps["retrain"].detail["pipeline_run_id"])
    assert pipeline_run.status == "finished" and pipeline_run.tags[LOOP_TAG] == run.id
    assert steps["register"].detail["candidate"] == f"{MODEL}/2"
    evaluated = steps["evaluate"].detail
    assert evaluated["rows"] == 300 and evaluated["improvement"] >= 0.05
    assert evaluated["candidate"] > evaluated["champion"]
    assert client.models.get_version(MODEL, version=2, project=PROJECT).status == "staging"
    deployed = client.deployments.get(DEPLOYMENT, project=PROJECT)
    assert [(r.version, r.weight) for r in deployed.plan.routes] == [(1, 80), (2, 20)]
    assert deployed.rollout is not None and deployed.rollout.max_error_rate == 0.5

    since = steps["canary"].detail["canary_at"]
    window_values(client, {v1.id: 0.6, run_candidate_id(client): 0.9}, since)
    drive(settings, "promote", lines)
    run = loops.get_run(run.id, project=PROJECT)
    assert run.state == "promoted" and run.decision == f"promoted {MODEL}/2"
    steps = {s.name: s for s in run.steps}
    assert steps["compare"].detail["decision"] == "promote"
    assert steps["compare"].detail["candidate"]["value"] == 0.9
    assert steps["rollback"].status == "skipped"
    assert all(s.attempts == 1 for s in run.steps if s.status == "done")
    deployed = client.deployments.get(DEPLOYMENT, project=PROJECT)
    assert [(r.ref, r.version) for r in deployed.plan.routes] == [("champion", 2)]
    assert client.models.get_version(MODEL, version=2, project=PROJECT).status == "production"
    assert kinds(client) == ["loop.started"] + ["loop.step_completed"] * 7 + ["loop.finished"]
    drive(settings, "none", lines)  # the alert that started it starts no second loop
    assert len(loops.list_runs(DEPLOYMENT, project=PROJECT)) == 1


def run_candidate_id(client: Client) -> str:
    return client.models.get_version(MODEL, version=2, project=PROJECT).id


def test_a_candidate_worse_live_is_rolled_back(
    client: Client, settings: Settings, loops: LoopService, pipes: Path, v1: ModelVersion
) -> None:
    loops.set_policy(DEPLOYMENT, policy(pipes), project=PROJECT)
    run = loops.start(DEPLOYMENT, project=PROJECT, reason="weekly check")
    assert run.trigger == {"kind": "manual", "by": run.created_by, "reason": "weekly check"}
    lines: list[str] = []
    drive(settings, "canary", lines)
    since = {s.name: s for s in loops.get_run(run.id, project=PROJECT).steps}["canary"]
    window_values(client, {v1.id: 0.9, run_candidate_id(client): 0.7}, since.detail["canary_at"])
    drive(settings, "rollback", lines)
    run = loops.get_run(run.id, project=PROJECT)
    assert run.state == "rolled_back"
    steps = {s.name: s for s in run.steps}
    assert steps["compare"].detail["decision"] == "rollback"
    assert "live accuracy 0.7" in steps["compare"].detail["reason"]
    assert steps["promote"].status == "skipped" and steps["rollback"].status == "done"
    deployed = client.deployments.get(DEPLOYMENT, project=PROJECT)
    assert [(r.ref, r.version) for r in deployed.plan.routes] == [("champion", 1)]


def test_a_candidate_no_better_on_the_labelled_window_is_rejected(
    client: Client, settings: Settings, loops: LoopService, pipes: Path, v1: ModelVersion
) -> None:
    loops.set_policy(
        DEPLOYMENT, policy(pipes, params={"shift": 1.0, "flip": True}), project=PROJECT
    )
    run = loops.start(DEPLOYMENT, project=PROJECT)
    drive(settings, "evaluate", [])
    run = loops.get_run(run.id, project=PROJECT)
    assert run.state == "rejected" and "improved by" in (run.decision or "")
    assert [s.status for s in run.steps][3:] == ["skipped"] * 5
    deployed = client.deployments.get(DEPLOYMENT, project=PROJECT)
    assert [r.version for r in deployed.plan.routes] == [1]


def test_a_person_approves_production_and_staging_waits_for_the_registry_gate(
    client: Client, settings: Settings, loops: LoopService, pipes: Path, v1: ModelVersion
) -> None:
    client.models.set_policy({"staging": {"approvals": 1}}, project=PROJECT)
    loops.set_policy(DEPLOYMENT, policy(pipes, production="require_person"), project=PROJECT)
    run = loops.start(DEPLOYMENT, project=PROJECT)
    with pytest.raises(Conflict, match="not waiting"):
        loops.decide(run.id, project=PROJECT, approve=True)
    drive(settings, "approve", [])
    run = loops.get_run(run.id, project=PROJECT)
    assert run.state == "waiting" and run.steps[3].status == "waiting"
    assert "staging request" in run.steps[3].detail["waiting_for"]
    person = loops.acting_as(Actor("ana"))
    run = person.decide(run.id, project=PROJECT, approve=True, comment="looks right")
    assert run.state == "running"
    drive(settings, "canary", [])
    since = loops.get_run(run.id, project=PROJECT).steps[4].detail["canary_at"]
    window_values(client, {v1.id: 0.8, run_candidate_id(client): 0.8}, since)
    drive(settings, "promote", [])
    run = loops.get_run(run.id, project=PROJECT)
    assert run.state == "waiting" and run.steps[6].status == "waiting"
    assert run.steps[5].detail["decision"] == "promote"
    run = person.decide(run.id, project=PROJECT, approve=False, comment="not today")
    drive(settings, "rollback", [])
    run = loops.get_run(run.id, project=PROJECT)
    assert run.state == "rolled_back" and run.steps[6].status == "skipped"


def test_one_loop_per_deployment_and_cancel(
    client: Client, loops: LoopService, pipes: Path, v1: ModelVersion
) -> None:
    with pytest.raises(InvalidInput, match="no loop policy"):
        loops.start(DEPLOYMENT, project=PROJECT)
    loops.set_policy(DEPLOYMENT, policy(pipes), project=PROJECT)
    run = loops.start(DEPLOYMENT, project=PROJECT)
    with pytest.raises(Conflict, match="one at a time"):
        loops.start(DEPLOYMENT, project=PROJECT)
    cancelled = loops.cancel(run.id, project=PROJECT, reason="wrong data")
    assert cancelled.state == "cancelled" and cancelled.decision is not None
    assert all(s.status == "skipped" for s in cancelled.steps)
    with pytest.raises(Conflict, match="ended"):
        loops.cancel(run.id, project=PROJECT)
    assert loops.start(DEPLOYMENT, project=PROJECT).state == "running"
    with pytest.raises(NotFound):
        loops.get_run("0" * 32, project=PROJECT)


class Counting:
    """A pipeline runner that counts its calls and runs the pipeline inline."""

    def __init__(self, client: Client, pause_s: float = 0.0) -> None:
        self.client = client
        self.calls = 0
        self.pause_s = pause_s

    def __call__(
        self,
        pipeline: str,
        *,
        project: str,
        params: dict[str, Any],
        tags: dict[str, str],
        on_start: Any,
    ) -> tuple[str, str | None]:
        from modelyard.schedules.service import resolve

        self.calls += 1
        time.sleep(self.pause_s)
        resolve(pipeline).run(
            client=self.client, project=project, tags=tags, on_start=on_start, **params
        )
        return "finished", None


class Killed(BaseException):
    """The worker's process dying mid-step."""


def test_a_worker_killed_after_each_step_or_mid_retrain_is_resumed(
    client: Client, loops: LoopService, pipes: Path, v1: ModelVersion
) -> None:
    now = [now_ms()]
    svc = loops.with_clock(lambda: now[0])
    svc.set_policy(DEPLOYMENT, policy(pipes), project=PROJECT)
    run = svc.start(DEPLOYMENT, project=PROJECT)

    def dies(pipeline: str, *, project: str, params: Any, tags: Any, on_start: Any) -> Any:
        with client.start_run(PROJECT, tags=tags, capture=False) as started:
            on_start(started.id)
            raise Killed  # the pipeline run stays running: its process died

    assert svc.claim(worker="w0") == [run.id]
    with pytest.raises(Killed):
        svc.advance(run.id, worker="w0", runner=dies)
    assert svc.claim(worker="w1") == []  # w0's lease holds
    now[0] += int(svc.lease_s * 1000) + 1
    runner = Counting(client)
    names = []
    for i in range(5):  # a fresh worker per step: each resumes where the last one wrote
        assert svc.claim(worker=f"w{i + 2}") == [run.id]
        names.append(svc.advance(run.id, worker=f"w{i + 2}", runner=runner))
    assert names == ["retrain", "register", "evaluate", "approve", "canary"]
    assert runner.calls == 1
    found = svc.get_run(run.id, project=PROJECT)
    assert [s.attempts for s in found.steps[:5]] == [2, 1, 1, 1, 1]
    # every step began and ended on the loop's clock (a replay's, here a stopped one)
    assert {(s.started_at, s.ended_at) for s in found.steps[1:5]} == {(now[0], now[0])}
    tagged = client.search_runs(PROJECT, filter=f"tags.{LOOP_TAG} = '{run.id}'", output="list")
    assert sorted(r.status for r in tagged.runs if r.parent_id is None) == ["failed", "finished"]
    revisions = client.deployments.history(DEPLOYMENT, project=PROJECT)
    assert len(revisions) == 2  # created, canary: each step's work done once


def test_two_drivers_never_run_the_same_step(
    client: Client, loops: LoopService, pipes: Path, v1: ModelVersion
) -> None:
    loops.set_policy(DEPLOYMENT, policy(pipes), project=PROJECT)
    loops.start(DEPLOYMENT, project=PROJECT)
    runner = Counting(client, pause_s=0.3)
    ran: list[str] = []

    def driver(name: str) -> None:
        for _ in range(6):
            for run_id in loops.claim(worker=name):
                step = loops.advance(run_id, worker=name, runner=runner)
                if step is not None:
                    ran.append(step)

    threads = [threading.Thread(target=driver, args=(f"d{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runner.calls == 1
    assert (
        ran
        == ["retrain", "register", "evaluate", "approve", "canary", "compare", "rollback"][
            : len(ran)
        ]
    )
    assert len(ran) == len(set(ran))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pipeline": "no reference"}, "pipeline"),
        ({"evaluate": {"min_improvement": 0.1}}, "evaluate.metric"),
        ({"evaluate": {"metric": "accuracy", "window_s": 0}}, "evaluate.window_s"),
        ({"production": "whenever"}, "production"),
        ({"canary": {"weight": 100}}, "canary.weight"),
        ({"canary": {"rollout": {"max_p99_ms": 50, "steps": [50, 100]}}}, "canary.rollout.steps"),
        ({"triggers": {"schedule": "every monday"}}, "triggers.schedule"),
        ({"triggers": {"severities": ["loud"]}}, "triggers.severities"),
        ({"promote_if": {"min_health": 140}}, "promote_if.min_health"),
        ({"compare_s": -1}, "compare_s"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_bad_policy_is_refused_naming_its_field(
    client: Client, loops: LoopService, pipes: Path, change: dict[str, Any], field: str
) -> None:
    champion(client)
    with pytest.raises(InvalidInput) as caught:
        loops.set_policy(DEPLOYMENT, policy(pipes, **change), project=PROJECT)
    assert caught.value.field == field


def test_a_policy_in_yaml_reads_back_whole(client: Client, loops: LoopService, pipes: Path) -> None:
    champion(client)
    text = f"""
triggers: {{schedule: "0 3 * * 1"}}
pipeline: {pipes}:retrain
model: churn
evaluate: {{metric: roc_auc}}
"""
    set_ = loops.set_policy(DEPLOYMENT, text, project=PROJECT)
    got = loops.get_policy(DEPLOYMENT, project=PROJECT)
    assert got.config == set_.config and got.config["production"] == "require_person"
    assert got.config["triggers"]["schedule"] == "0 3 * * 1"
    with pytest.raises(NotFound):
        loops.get_policy("other", project=PROJECT)


def test_a_due_schedule_starts_a_loop_once(client: Client, loops: LoopService, pipes: Path) -> None:
    champion(client)
    now = [1_800_000_000_000]
    svc = loops.with_clock(lambda: now[0])
    svc.set_policy(DEPLOYMENT, policy(pipes, triggers={"schedule": "0 * * * *"}), project=PROJECT)
    assert svc.trigger() == []
    now[0] += 3_600_000
    (run,) = svc.trigger()
    assert run.trigger["kind"] == "schedule"
    svc.cancel(run.id, project=PROJECT)
    assert svc.trigger() == []  # that occurrence started its loop already


def test_the_retraining_pipeline_runs_in_a_fresh_process_as_a_fire_does(
    client: Client, settings: Settings, loops: LoopService, pipes: Path, v1: ModelVersion
) -> None:
    loops.set_policy(DEPLOYMENT, policy(pipes), project=PROJECT)
    run = loops.start(DEPLOYMENT, project=PROJECT)
    lines: list[str] = []
    with Worker(settings, log=lines.append, isolation="process") as worker:
        done = Pass()
        worker.loop_pass(done)
        worker.loop_pass(done)
    assert [step for _, step in done.loops] == ["retrain", "register"]
    found = loops.get_run(run.id, project=PROJECT)
    pipeline_run = client.get_run(found.steps[0].detail["pipeline_run_id"])
    assert pipeline_run.tags[LOOP_TAG] == run.id and pipeline_run.status == "finished"
    assert found.candidate == f"{MODEL}/2"
    assert any("retrain" in line for line in lines)


def test_an_interrupted_worker_leaves_the_step_to_the_next(
    client: Client, settings: Settings, loops: LoopService, pipes: Path, v1: ModelVersion
) -> None:
    loops.set_policy(DEPLOYMENT, policy(pipes), project=PROJECT)
    run = loops.start(DEPLOYMENT, project=PROJECT)
    with Worker(settings, isolation="process") as worker:
        worker.interrupt()
        (claimed,) = worker.loops.claim(worker=worker.name)
        assert worker.loops.advance(claimed, worker=worker.name, runner=worker.run_pipeline) is None
    found = loops.get_run(run.id, project=PROJECT)
    assert found.state == "running" and found.steps[0].status == "running"
    assert found.steps[0].attempts == 1


def test_only_an_open_alert_of_a_trigger_monitor_and_severity_starts_a_loop(
    client: Client, loops: LoopService, pipes: Path, v1: ModelVersion
) -> None:
    triggers = {"monitors": ["accuracy", "drift"], "severities": ["critical"]}
    loops.set_policy(DEPLOYMENT, policy(pipes, triggers=triggers), project=PROJECT)
    open_alert(client, monitor="latency", severity="critical")  # not a trigger monitor
    open_alert(client, monitor="accuracy", severity="warning")  # not a trigger severity
    assert loops.trigger() == []
    alert_id = open_alert(client, monitor="drift", severity="critical")
    (run,) = loops.trigger(project=PROJECT)
    assert run.trigger["alert_id"] == alert_id and run.trigger["severity"] == "critical"
    assert loops.trigger() == []  # one loop at a time
    loops.cancel(run.id, project=PROJECT)
    assert loops.trigger() == []  # that alert started its loop already


def test_cancelling_a_loop_during_its_canary_sends_traffic_back_to_the_champion(
    client: Client, settings: Settings, loops: LoopService, pipes: Path, v1: ModelVersion
) -> None:
    loops.set_policy(DEPLOYMENT, policy(pipes, compare_s=3600), project=PROJECT)
    run = loops.start(DEPLOYMENT, project=PROJECT)
    drive(settings, "canary", [])
    assert len(client.deployments.get(DEPLOYMENT, project=PROJECT).plan.routes) == 2
    drive(settings, "compare", [])  # not due for an hour: nothing runs
    found = loops.get_run(run.id, project=PROJECT)
    assert found.steps[5].status == "pending" and found.steps[5].attempts == 0
    assert found.steps[5].detail["due_at"] > found.steps[4].detail["canary_at"]
    ended = loops.cancel(run.id, project=PROJECT, reason="bad week")
    assert ended.state == "cancelled" and ended.decision is not None
    deployed = client.deployments.get(DEPLOYMENT, project=PROJECT)
    assert [(r.ref, r.version) for r in deployed.plan.routes] == [("champion", 1)]
    assert drive(settings, "compare", []).loops == []  # the worker leaves it be
