"""The deployment service: plans by number or alias resolved when read, each refusal by its
field, the status gate (the policy's ``serving``) on every plan change and in the
registry afterwards, revisions and optimistic concurrency, promotion in one transaction,
rollback, rights (predictor, viewer, contributor), audit and outbox events. Embedded, on
SQLite and (when its URL is set) PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from modelyard.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PolicyViolation,
)
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.registry import _retirement
from modelyard.registry.service import ModelService
from modelyard.sdk.client import Client
from modelyard.serving import service as serving_service
from modelyard.serving.entities import Route, TrafficPlan
from modelyard.serving.service import DeploymentService
from modelyard.store.tables import audit_events, events


@pytest.fixture
def lab(client: Client, tmp_path: Path) -> Iterator[tuple[DeploymentService, ModelService]]:
    """Project ``lab`` with model ``churn`` versions 1 (production, champion), 2 and 3
    (staging) and 4 (registered)."""
    models = client.services.models
    client.services.projects.create("lab")
    for number in range(1, 5):
        folder = tmp_path / f"v{number}"
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "model.skops").write_bytes(f"model {number}".encode())
        models.register("churn", folder, project="lab", flavor="sklearn")
    models.request_transition("churn", project="lab", to="production", version=1)
    for number in (2, 3):
        models.request_transition("churn", project="lab", to="staging", version=number)
    models.set_alias("churn", "champion", 1, project="lab")
    yield client.services.deployments, models


def _plan(*routes: tuple[str, int], shadows: tuple[tuple[str, int], ...] = (), sticky=None):
    def route(text: str, weight: int) -> Route:
        model, _, ref = text.partition("@") if "@" in text else text.partition("/")
        return Route(model, ref, weight)

    return TrafficPlan(
        tuple(route(t, w) for t, w in routes), tuple(route(t, w) for t, w in shadows), sticky
    )


def _events(client: Client, prefix: str = "deployment.") -> list[tuple[str, dict]]:
    with client.services.store.read() as conn:
        rows = conn.execute(select(events).order_by(events.c.created_at, events.c.id)).all()
    return [(r.kind, json.loads(r.payload)) for r in rows if r.kind.startswith(prefix)]


def test_create_resolves_routes_when_read_and_an_alias_takes_its_route_along(lab) -> None:
    deployments, models = lab
    found = deployments.create("churn-api", "churn@champion", project="lab", description="api")
    assert (found.name, found.revision, found.sample_rate, found.description) == (
        "churn-api",
        1,
        1.0,
        "api",
    )
    route = found.plan.champion
    assert (route.model, route.ref, route.weight, route.version) == ("churn", "champion", 100, 1)
    assert found.plan.strategy == "single"
    models.set_alias("churn", "champion", 2, project="lab")
    again = deployments.get("churn-api", project="lab")
    assert again.plan.champion.version == 2
    assert (
        again.plan.champion.version_id == models.get_version("churn", project="lab", version=2).id
    )
    assert again.revision == 1
    assert [d.name for d in deployments.list_deployments("lab")] == ["churn-api"]


def test_a_canary_an_ab_test_and_a_shadow(lab) -> None:
    deployments, _ = lab
    deployments.create("api", "churn/1", project="lab")
    canary = deployments.set_traffic(
        "api", _plan(("churn@champion", 90), ("churn/2", 10)), project="lab"
    )
    assert canary.plan.strategy == "canary"
    assert [(r.ref, r.weight, r.version) for r in canary.plan.routes] == [
        ("champion", 90, 1),
        ("2", 10, 2),
    ]
    ab = deployments.set_traffic(
        "api",
        _plan(
            ("churn/1", 50), ("churn/2", 50), shadows=(("churn/3", 100),), sticky="X-Customer-Id"
        ),
        project="lab",
        reason="a/b",
    )
    assert ab.plan.strategy == "ab"
    assert ab.plan.sticky_key == "X-Customer-Id"
    assert [(r.version, r.weight) for r in ab.plan.shadows] == [(3, 100)]
    assert ab.revision == 3
    history = deployments.history("api", project="lab")
    assert [(h.revision, h.action, h.reason) for h in history] == [
        (1, "create", ""),
        (2, "set_traffic", ""),
        (3, "set_traffic", "a/b"),
    ]
    assert history[1].plan.routes[0] == Route("churn", "champion", 90)  # as written


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        (_plan(("churn/1", 90)), "plan.routes"),  # weights add up to 90
        (_plan(("churn/1", 60), ("churn/2", 60)), "plan.routes"),
        (_plan(("churn/1", 101), ("churn/2", -1)), "plan.routes[0].weight"),
        (TrafficPlan((Route("churn", "1", True),)), "plan.routes[0].weight"),  # type: ignore[arg-type]
        (TrafficPlan((Route("churn", "1", 99.5),)), "plan.routes[0].weight"),  # type: ignore[arg-type]
        (_plan(("churn/1", 50), ("churn/1", 50)), "plan.routes[1]"),
        (_plan(("churn/1", 100), shadows=(("churn/1", 10),)), "plan.shadows[0]"),
        (_plan(("churn/1", 100), shadows=(("churn/2", 101),)), "plan.shadows[0].weight"),
        (_plan(("churn/1", 100), sticky="X Customer"), "plan.sticky_key"),
        (_plan(("churn/1", 100), sticky="X-Id\r\n"), "plan.sticky_key"),
        (_plan(("churn/1", 100), sticky="X-Id\n"), "plan.sticky_key"),
        (TrafficPlan(()), "plan.routes"),
        (_plan(*[(f"churn/{n}", 5) for n in range(1, 22)]), "plan.routes"),  # over PLAN_ROUTES
        (_plan(("bad name/1", 100)), "plan.routes[0].model"),
        (_plan(("churn/0", 100)), "plan.routes[0].ref"),
        (_plan(("churn/²", 100)), "plan.routes[0].ref"),  # a digit, not a version number
        (_plan(("nope/1", 100)), "plan.routes[0].model"),
        (_plan(("churn/9", 100)), "plan.routes[0].ref"),
        (_plan(("churn@nobody", 100)), "plan.routes[0].ref"),
        (_plan(("churn/1", 100), shadows=(("churn@ghost", 100),)), "plan.shadows[0].ref"),
    ],
)
def test_a_bad_plan_is_refused_naming_its_field(lab, plan: TrafficPlan, field: str) -> None:
    deployments, _ = lab
    deployments.create("api", "churn/1", project="lab")
    with pytest.raises(InvalidInput) as info:
        deployments.set_traffic("api", plan, project="lab")
    assert info.value.field == field
    assert deployments.get("api", project="lab").revision == 1


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda d: d.create("bad name", "churn/1", project="lab"), "name"),
        (lambda d: d.create("api", "churn", project="lab"), "plan"),
        (lambda d: d.create("api", "churn/x", project="lab"), "plan"),
        (lambda d: d.create("api", "churn/1", project="lab", sample_rate=1.5), "sample_rate"),
        (
            lambda d: d.create("api", "churn/1", project="lab", sample_rate=float("nan")),
            "sample_rate",
        ),
        (
            lambda d: d.create("api", "churn/1", project="lab", description="x" * 10_001),
            "description",
        ),
        (lambda d: d.create("api", "churn/1", project="bad project"), "project"),
    ],
)
def test_create_refuses_naming_the_field(lab, call, field: str) -> None:
    deployments, _ = lab
    with pytest.raises(InvalidInput) as info:
        call(deployments)
    assert info.value.field == field
    assert deployments.list_deployments("lab") == []


def test_names_are_unique_per_project_and_missing_ones_are_not_found(lab) -> None:
    deployments, _ = lab
    deployments.create("api", "churn/1", project="lab")
    with pytest.raises(AlreadyExists):
        deployments.create("api", "churn/2", project="lab")
    with pytest.raises(NotFound, match="deployment 'nope'"):
        deployments.get("nope", project="lab")
    with pytest.raises(NotFound, match="project 'elsewhere'"):
        deployments.list_deployments("elsewhere")


def test_only_versions_the_policy_lets_serve_take_traffic(lab) -> None:
    deployments, models = lab
    with pytest.raises(PolicyViolation) as info:  # version 4 is registered
        deployments.create("api", "churn/4", project="lab")
    with pytest.raises(PolicyViolation, match=r"lab/churn/4 \(churn@other\) is registered"):
        models.set_alias("churn", "other", 4, project="lab")
        deployments.create("api", "churn@other", project="lab")
    assert "churn/4" in info.value.message and "registered" in info.value.message
    assert "staging or production" in info.value.message
    deployments.create("api", "churn/1", project="lab")
    with pytest.raises(PolicyViolation):  # a shadow too
        deployments.set_traffic(
            "api", _plan(("churn/1", 100), shadows=(("churn/4", 5),)), project="lab"
        )
    models.set_policy({"serving": ["production"]}, project="lab", name="churn")
    with pytest.raises(PolicyViolation, match="only versions that are production"):
        deployments.set_traffic("api", _plan(("churn/1", 90), ("churn/2", 10)), project="lab")
    models.set_policy({"serving": ["registered", "staging", "production"]}, project="lab")
    with pytest.raises(PolicyViolation):  # the model's own policy is in force
        deployments.set_traffic("api", _plan(("churn/1", 90), ("churn/4", 10)), project="lab")
    assert deployments.get("api", project="lab").revision == 1


def test_the_registry_keeps_routed_versions_servable(lab) -> None:
    deployments, models = lab
    deployments.create("api", _plan(("churn@champion", 90), ("churn/2", 10)), project="lab")
    with pytest.raises(Conflict, match=r"takes traffic in deployment\(s\) api"):
        models.archive("churn", project="lab", version=2)
    with pytest.raises(Conflict, match=r"deployment\(s\) api"):  # the champion, through its alias
        models.archive("churn", project="lab", version=1)
    assert models.get_version("churn", project="lab", version=2).status == "staging"
    models.request_transition("churn", project="lab", to="production", version=2)  # still serves
    with pytest.raises(PolicyViolation, match=r"churn@champion.*registered"):
        models.set_alias("churn", "champion", 4, project="lab")
    with pytest.raises(Conflict, match="route traffic through churn@champion"):
        models.delete_alias("churn", "champion", project="lab")
    with pytest.raises(Conflict, match="deployment api routes traffic"):
        models.set_policy({"serving": ["staging"]}, project="lab")
    models.set_alias("churn", "other", 4, project="lab")  # an alias no plan routes through


def test_versions_in_a_plan_are_held_from_retirement_and_collection(lab, client: Client) -> None:
    deployments, models = lab
    models.request_transition("churn", project="lab", to="archived", version=3)
    models.request_transition("churn", project="lab", to="staging", version=3)
    deployments.create("api", _plan(("churn@champion", 50), ("churn/3", 50)), project="lab")
    with client.services.store.read() as conn:
        held = _retirement.held_by_deployments(conn)
    ids = {models.get_version("churn", project="lab", version=n).id for n in (1, 3)}
    assert held == ids
    models.set_retirement_policy({"keep_last": 1}, project="lab")
    moves = models.run_retirement(project="lab")
    assert {m.version for m in moves} == {2}  # 4 is the newest; 1 and 3 are deployed
    deployments.delete("api", project="lab")
    with client.services.store.read() as conn:
        assert _retirement.held_by_deployments(conn) == set()


def test_expected_revision_gives_optimistic_concurrency(lab) -> None:
    deployments, _ = lab
    deployments.create("api", "churn/1", project="lab")
    plan = _plan(("churn/1", 90), ("churn/2", 10))
    assert deployments.set_traffic("api", plan, project="lab", expected_revision=1).revision == 2
    with pytest.raises(Conflict) as info:
        deployments.set_traffic("api", plan, project="lab", expected_revision=1)
    assert info.value.field == "expected_revision"
    with pytest.raises(InvalidInput):
        deployments.set_traffic("api", plan, project="lab", expected_revision=0)


def test_promote_moves_the_alias_and_the_plan_in_one_step(lab, client: Client) -> None:
    deployments, models = lab
    deployments.create("api", _plan(("churn@champion", 90), ("churn/2", 10)), project="lab")
    promoted = deployments.promote("api", project="lab", reason="canary held")
    assert promoted.plan.routes == (
        Route("churn", "champion", 100, 2, promoted.plan.champion.version_id),
    )
    assert models.get_version("churn", project="lab", alias="champion").version == 2
    assert deployments.history("api", project="lab")[-1].action == "promote"
    kinds = [k for k, _ in _events(client, "")]
    assert kinds[-2:] == ["model.alias_moved", "deployment.promoted"]
    payload = _events(client)[-1][1]
    assert (payload["model"], payload["alias"], payload["from_version"], payload["to_version"]) == (
        "churn",
        "champion",
        1,
        2,
    )
    # by name, to another alias, from a shadow
    deployments.set_traffic(
        "api", _plan(("churn@champion", 100), shadows=(("churn/3", 100),)), project="lab"
    )
    again = deployments.promote("api", project="lab", model="churn", ref="3", alias="best")
    assert again.plan.routes[0].ref == "best" and again.plan.routes[0].version == 3
    with pytest.raises(InvalidInput, match="besides the champion"):
        deployments.promote("api", project="lab")


def test_a_failure_between_alias_and_plan_leaves_neither(
    lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployments, models = lab
    deployments.create("api", _plan(("churn@champion", 90), ("churn/2", 10)), project="lab")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the plan's write failed")

    monkeypatch.setattr(DeploymentService, "_revise", broken)
    with pytest.raises(RuntimeError):
        deployments.promote("api", project="lab")
    monkeypatch.undo()
    assert models.get_version("churn", project="lab", alias="champion").version == 1
    found = deployments.get("api", project="lab")
    assert (found.revision, len(found.plan.routes)) == (1, 2)
    assert [m.to_version for m in models.history("churn", project="lab", alias="champion")] == [1]


def test_a_policy_cannot_narrow_serving_under_a_plan(lab) -> None:
    deployments, models = lab
    models.set_policy({"serving": ["registered", "staging", "production"]}, project="lab")
    deployments.create("api", _plan(("churn@champion", 90), ("churn/4", 10)), project="lab")
    with pytest.raises(Conflict, match="churn/4, which is registered") as info:
        models.set_policy({"serving": ["production"]}, project="lab")
    assert info.value.field == "serving"
    models.set_policy({"serving": ["registered", "production"]}, project="lab", name="churn")
    models.set_policy({"serving": ["production"]}, project="lab")  # churn has its own now
    with pytest.raises(Conflict):
        models.set_policy({"serving": ["production"]}, project="lab", name="churn")


def test_rollback_to_the_champion_or_to_a_revision(lab, client: Client) -> None:
    deployments, _ = lab
    deployments.create("api", _plan(("churn@champion", 90), ("churn/2", 10)), project="lab")
    deployments.set_traffic("api", _plan(("churn@champion", 50), ("churn/2", 50)), project="lab")
    back = deployments.rollback("api", project="lab", reason="errors")
    assert back.plan.routes == (Route("churn", "champion", 100, 1, back.plan.champion.version_id),)
    assert back.revision == 3
    again = deployments.rollback("api", project="lab", to_revision=1)
    assert [(r.ref, r.weight) for r in again.plan.routes] == [("champion", 90), ("2", 10)]
    history = deployments.history("api", project="lab")
    assert [h.action for h in history] == ["create", "set_traffic", "rollback", "rollback"]
    with pytest.raises(NotFound) as info:
        deployments.rollback("api", project="lab", to_revision=99)
    assert info.value.field == "to_revision"
    with pytest.raises(InvalidInput, match="from 1 to 2147483647"):  # past the column
        deployments.rollback("api", project="lab", to_revision=2**63 - 1)
    payloads = [p for k, p in _events(client) if k == "deployment.rolled_back"]
    assert [p["to_revision"] for p in payloads] == [None, 1]
    assert payloads[0]["reason"] == "errors"


def test_every_change_is_audited_and_emits_its_event(lab, client: Client) -> None:
    deployments, _ = lab
    deployments.create("api", _plan(("churn@champion", 90), ("churn/2", 10)), project="lab")
    deployments.set_traffic("api", _plan(("churn/1", 100)), project="lab", reason="r")
    deployments.promote("api", project="lab", model="churn", ref="1")
    deployments.rollback("api", project="lab", to_revision=1)
    deployments.delete("api", project="lab")
    assert [k for k, _ in _events(client)] == [
        "deployment.created",
        "deployment.plan_changed",
        "deployment.promoted",
        "deployment.rolled_back",
        "deployment.deleted",
    ]
    created = _events(client)[0][1]
    assert created["plan"]["routes"] == [
        {"model": "churn", "ref": "champion", "weight": 90},
        {"model": "churn", "ref": "2", "weight": 10},
    ]
    assert created["plan"]["strategy"] == "canary"
    with client.services.store.read() as conn:
        actions = (
            conn.execute(
                select(audit_events.c.action).where(audit_events.c.object_type == "deployment")
            )
            .scalars()
            .all()
        )
    assert actions == [
        "deployment.created",
        "deployment.set_traffic",
        "deployment.promote",
        "deployment.rollback",
        "deployment.deleted",
    ]
    with pytest.raises(NotFound):
        deployments.get("api", project="lab")


def test_rights_predictor_viewer_contributor(lab, client: Client) -> None:
    deployments, models = lab
    deployments.create("api", _plan(("churn@champion", 90), ("churn/2", 10)), project="lab")
    governance = Governance(client.services.store)
    as_role = {}
    for role in ("predictor", "viewer", "contributor"):
        account = governance.users.create_service_account(f"u-{role}", actor=SYSTEM)
        governance.roles.grant("lab", account.username, role, actor=SYSTEM)
        as_role[role] = deployments.acting_as(Actor.of(account.principal()))
    stranger = governance.users.create_service_account("stranger", actor=SYSTEM)
    outsider = deployments.acting_as(Actor.of(stranger.principal()))
    for service in as_role.values():
        assert service.get("api", project="lab").plan.champion.version == 1
        assert [d.name for d in service.list_deployments("lab")] == ["api"]
    with pytest.raises(NotFound):  # no role: the project is missing
        outsider.get("api", project="lab")
    with pytest.raises(NotFound):  # a predictor cannot tell history from missing
        as_role["predictor"].history("api", project="lab")
    assert len(as_role["viewer"].history("api", project="lab")) == 1
    plan = _plan(("churn/1", 100))
    changes = {
        "create": lambda s: s.create("other", "churn/1", project="lab"),
        "set_traffic": lambda s: s.set_traffic("api", plan, project="lab"),
        "promote": lambda s: s.promote("api", project="lab"),
        "rollback": lambda s: s.rollback("api", project="lab"),
        "delete": lambda s: s.delete("api", project="lab"),
    }
    for role in ("predictor", "viewer"):
        for change in changes.values():
            with pytest.raises((PermissionDenied, NotFound)):
                change(as_role[role])
    assert deployments.get("api", project="lab").revision == 1
    contributor = as_role["contributor"]
    assert contributor.promote("api", project="lab").updated_by == "u-contributor"
    assert models.get_version("churn", project="lab", alias="champion").version == 2


def test_a_predictor_reads_deployments_and_nothing_else(lab, client: Client) -> None:
    _, models = lab
    governance = Governance(client.services.store)
    account = governance.users.create_service_account("inference", actor=SYSTEM)
    governance.roles.grant("lab", "inference", "predictor", actor=SYSTEM)
    actor = Actor.of(account.principal())
    with pytest.raises(NotFound):
        models.acting_as(actor).list_models("lab")
    with pytest.raises(NotFound):
        models.acting_as(actor).get_version("churn", project="lab", version=1)
    with client.start_run(project="lab"):
        pass
    with pytest.raises(NotFound):
        client.services.tracking.acting_as(actor).search_runs("lab")
    assert client.services.projects.acting_as(actor).list_projects() == []
    with pytest.raises(NotFound):
        client.services.datasets.acting_as(actor).list_datasets("lab")
    with pytest.raises((NotFound, PermissionDenied)):
        models.acting_as(actor).set_alias("churn", "champion", 2, project="lab")


def test_parse_route() -> None:
    assert serving_service.parse_route("churn@champion") == Route("churn", "champion", 100)
    assert serving_service.parse_route("churn/03", 10) == Route("churn", "3", 10)
    for bad in ("churn", "churn/0", "churn/x", "", "churn@", "churn/²"):
        with pytest.raises(InvalidInput):
            serving_service.check_plan(TrafficPlan((serving_service.parse_route(bad),)))


def test_the_policy_names_the_statuses_that_serve() -> None:
    from modelyard.registry.policy import Policy

    assert Policy().serving == ("staging", "production")
    policy = Policy.from_yaml("serving: [production, registered]\n")
    assert policy.serving == ("registered", "production")
    assert Policy.from_yaml(policy.to_yaml()) == policy
    assert "serving" not in Policy().to_dict()
    for bad in ("serving: production\n", "serving: [retired]\n", "serving: [live]\n"):
        with pytest.raises(InvalidInput) as info:
            Policy.from_yaml(bad)
        assert info.value.field == "serving"


def test_a_routed_version_is_not_retired(lab) -> None:
    deployments, models = lab
    models.set_policy({"serving": ["registered", "staging", "production"]}, project="lab")
    deployments.create("api", _plan(("churn/1", 90), ("churn/4", 10)), project="lab")
    with pytest.raises(Conflict, match=r"churn/4 takes traffic in deployment\(s\) api"):
        models.retire("churn", project="lab", version=4)
    assert models.get_version("churn", project="lab", version=4).status == "registered"
    assert models.list_requests("churn", project="lab", version=4) == []  # nothing recorded


def test_a_slack_webhook_reads_deployment_events_in_one_line(lab, client: Client) -> None:
    from modelyard.events.delivery import summary

    deployments, _ = lab
    deployments.create("api", "churn/1", project="lab")
    plan = _plan(("churn@champion", 90), ("churn/2", 10), shadows=(("churn/3", 50),))
    deployments.set_traffic("api", plan, project="lab", reason="canary")
    deployments.promote("api", project="lab", reason="held")
    deployments.rollback("api", project="lab", to_revision=2)
    deployments.rollback("api", project="lab")
    deployments.delete("api", project="lab")
    with client.services.store.read() as conn:
        rows = conn.execute(select(events).order_by(events.c.created_at, events.c.id)).all()
    who = client.services.deployments._who()
    texts = [
        summary({"kind": r.kind, "project": "lab", "payload": json.loads(r.payload)})
        for r in rows
        if r.kind.startswith("deployment.")
    ]
    assert texts == [
        f"[lab] deployment api created (single: churn/1) by {who}",
        f"[lab] deployment api plan changed, revision 2 (canary: churn@champion=90, churn/2=10; "
        f"1 shadow(s)) by {who}: canary",
        f"[lab] deployment api promoted churn@champion from 1 to 2, revision 3 by {who}: held",
        f"[lab] deployment api rolled back to revision 2, revision 4 (canary: churn@champion=90, "
        f"churn/2=10; 1 shadow(s)) by {who}",
        f"[lab] deployment api rolled back to the champion, revision 5 (single: churn@champion) "
        f"by {who}",
        f"[lab] deployment api deleted by {who}",
    ]


def test_rollback_holds_the_status_gate(lab) -> None:
    deployments, models = lab
    deployments.create("api", _plan(("churn@champion", 90), ("churn/2", 10)), project="lab")
    deployments.set_traffic("api", _plan(("churn@champion", 100)), project="lab")
    models.archive("churn", project="lab", version=2)  # no plan routes to it now
    refusal = r"lab/churn/2 is archived: only versions that are staging or production"
    with pytest.raises(PolicyViolation, match=refusal) as info:
        deployments.rollback("api", project="lab", to_revision=1)
    assert info.value.field == "plan.routes[1].ref"
    assert deployments.get("api", project="lab").revision == 2
