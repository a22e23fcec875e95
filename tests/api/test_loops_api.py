"""The closed loop over REST, through the remote SDK (``client.loops`` in remote mode):
a policy set and read back whole, a bad one refused naming its field, runs started (one
at a time), listed, read, decided and cancelled; and the roles each route needs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import modelyard as my
from loop_support import DEPLOYMENT, PIPES, PROJECT, champion
from modelyard import Client
from modelyard.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from modelyard.governance import SYSTEM, Governance
from pipeline_files import pipeline_file


@pytest.fixture
def pipes(tmp_path: Path) -> Iterator[Path]:
    with pipeline_file(tmp_path, "loop_api_pipes", PIPES) as path:
        yield path


@pytest.fixture
def remote(served: str, admin_token: str, client: Client, pipes: Path) -> Iterator[Client]:
    champion(client)
    with my.connect(served, token=admin_token) as found:
        yield found


def _policy(pipes: Path) -> str:
    return f"""
pipeline: {pipes}:retrain
model: churn
evaluate: {{metric: accuracy, window_s: 600}}
triggers: {{monitors: [accuracy]}}
production: auto
"""


def test_policy_and_runs_over_rest(remote: Client, pipes: Path) -> None:
    loops = remote.loops
    set_ = loops.set_policy(DEPLOYMENT, _policy(pipes), project=PROJECT)
    assert set_.config["evaluate"]["window_s"] == 600 and set_.config["production"] == "auto"
    assert loops.get_policy(DEPLOYMENT, project=PROJECT) == set_
    with pytest.raises(InvalidInput) as caught:
        loops.set_policy(DEPLOYMENT, {"pipeline": f"{pipes}:retrain"}, project=PROJECT)
    assert caught.value.field == "model"
    run = loops.start(DEPLOYMENT, project=PROJECT, reason="by hand")
    assert run.state == "running" and run.champion == "churn/1" and run.candidate is None
    assert [s.name for s in run.steps][:2] == ["retrain", "register"]
    with pytest.raises(Conflict):
        loops.start(DEPLOYMENT, project=PROJECT)
    assert loops.list_runs(DEPLOYMENT, project=PROJECT) == [run]
    assert loops.get_run(run.id, project=PROJECT) == run
    with pytest.raises(Conflict, match="not waiting"):
        loops.decide(run.id, project=PROJECT, approve=True)
    ended = loops.cancel(run.id, project=PROJECT, reason="test")
    assert ended.state == "cancelled" and "test" in (ended.decision or "")
    with pytest.raises(NotFound):
        loops.get_run("f" * 32, project=PROJECT)


def test_each_route_needs_its_role(
    served: str, remote: Client, pipes: Path, governance: Governance
) -> None:
    remote.loops.set_policy(DEPLOYMENT, _policy(pipes), project=PROJECT)
    governance.users.create_user("bob", "Quartz-Lantern-Orbit-7", actor=SYSTEM)
    token = governance.tokens.create("bob", "t", actor=SYSTEM).secret
    roles = governance.roles

    def as_bob(role: str) -> Client:
        roles.grant(PROJECT, "bob", role, actor=SYSTEM)
        return my.connect(served, token=token)

    with as_bob("viewer") as bob:
        assert bob.loops.get_policy(DEPLOYMENT, project=PROJECT).deployment == DEPLOYMENT
        with pytest.raises(PermissionDenied):
            bob.loops.start(DEPLOYMENT, project=PROJECT)
    with as_bob("contributor") as bob:
        run = bob.loops.start(DEPLOYMENT, project=PROJECT)
        assert run.created_by == "bob"
        with pytest.raises(PermissionDenied):
            bob.loops.set_policy(DEPLOYMENT, _policy(pipes), project=PROJECT)
        with pytest.raises(PermissionDenied):
            bob.loops.decide(run.id, project=PROJECT, approve=True)
    with as_bob("approver") as bob:
        with pytest.raises(Conflict):  # allowed, but the run waits for nobody
            bob.loops.decide(run.id, project=PROJECT, approve=True)
        assert bob.loops.cancel(run.id, project=PROJECT).state == "cancelled"
    with as_bob("admin") as bob:
        assert bob.loops.set_policy(DEPLOYMENT, _policy(pipes), project=PROJECT).updated_by == "bob"
