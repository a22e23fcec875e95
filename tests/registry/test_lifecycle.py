"""A version's status through policy gates: legal moves, requests judged by the model's
policy (every failed rule named with what was observed and the bound), approvals by
approvers other than the requester, the open-critical-alert gate (with an alert fixture),
and every request, decision and change in the audit chain. Both SDK modes unless marked."""

from __future__ import annotations

import pytest
from lifecycle_support import frame, open_alert, users_of
from sklearn.linear_model import LogisticRegression
from sqlalchemy import update

from modelyard.config import Settings
from modelyard.data import expect
from modelyard.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PolicyViolation
from modelyard.governance import SYSTEM, Governance
from modelyard.registry.policy import Gate, MetricRule, Policy
from modelyard.sdk.client import Client
from modelyard.store import open_store
from modelyard.store.tables import alerts

STRICT = """
production:
  approvals: 1
  metrics:
    accuracy: {min: 0.99}
  card_fields: [intended_use, license]
  data_validation: true
  no_critical_alerts: true
"""


def _log(client: Client, name: str = "churn", *, validated: bool = True, seed: int = 0) -> None:
    x, y = frame(seed)
    rules = [expect.not_null("age")] if validated else None
    client.datasets.register(f"train-{seed}", x.assign(y=y), project="lab", expectations=rules)
    with client.start_run(project="lab") as run:
        train = client.datasets.load(f"train-{seed}", project="lab")
        run.log_metric("accuracy", 0.8)
        model = LogisticRegression().fit(train[["age", "spend"]], train["y"])
        client.models.log(model, name, input_example=train[["age", "spend"]][:3])


def test_a_policy_reads_from_yaml_and_names_an_unknown_rule_or_a_bad_bound() -> None:
    policy = Policy.from_yaml(STRICT + "staging:\n  approvals: 0\nchampion: best\n")
    gate = policy.gate("production")
    assert gate == Gate(
        approvals=1,
        metrics=(MetricRule("accuracy", min=0.99),),
        card_fields=("intended_use", "license"),
        data_validation=True,
        no_critical_alerts=True,
    )
    assert policy.champion == "best" and policy.gate("archived") == Gate()
    assert Policy.from_yaml(policy.to_yaml()) == policy
    bad = {
        "production:\n  aprovals: 2\n": "production.aprovals",
        "prod:\n  approvals: 2\n": "prod",
        "production:\n  approvals: -1\n": "production.approvals",
        "production:\n  approvals: yes\n": "production.approvals",
        "production:\n  metrics: {auc: {min: high}}\n": "production.metrics.auc.min",
        "production:\n  metrics: {auc: {above: 0.5}}\n": "production.metrics.auc.above",
        "production:\n  metrics: {auc: {min: .nan}}\n": "production.metrics.auc.min",
        "production:\n  metrics: {auc: {min: 0.9, max: 0.8}}\n": "production.metrics.auc.min",
        "production:\n  card_fields: [Intended Use]\n": "production.card_fields",
        "production:\n  evaluation: maybe\n": "production.evaluation",
    }
    for text, field in bad.items():
        with pytest.raises(InvalidInput) as exc:
            Policy.from_yaml(text)
        assert exc.value.field == field, text
        assert field.split(".")[-1] in exc.value.message
    with pytest.raises(InvalidInput):
        Policy.from_yaml("production: [\n")


def test_statuses_move_along_the_legal_transitions_only(client: Client) -> None:
    _log(client)
    assert client.models.get_version("churn/1", project="lab").status == "registered"
    moved = client.models.request("churn", 1, to="staging", comment="try it", project="lab")
    assert (moved.state, moved.from_status, moved.to_status) == ("applied", "registered", "staging")
    assert client.models.get_version("churn/1", project="lab").status == "staging"
    with pytest.raises(InvalidInput) as illegal:
        client.models.request("churn/1", to="registered", project="lab")
    assert illegal.value.field == "to" and "production, archived" in illegal.value.message
    with pytest.raises(InvalidInput) as unknown:
        client.models.request("churn/1", to="prod", project="lab")
    assert unknown.value.field == "to"
    client.models.request("churn/1", to="archived", project="lab")
    client.models.request("churn/1", to="staging", project="lab")  # archived comes back
    client.models.request("churn/1", to="archived", project="lab")
    client.models.request("churn/1", to="retired", project="lab")
    with pytest.raises(Conflict) as retired:
        client.models.request("churn/1", to="staging", project="lab")
    assert retired.value.field == "version" and "retired is final" in retired.value.message
    history = client.models.requests("churn", 1, project="lab")
    moves = ["staging", "archived", "staging", "archived", "retired"]
    assert [r.to_status for r in history] == moves


def test_a_refused_request_names_every_failed_rule_with_observed_and_bound(
    client: Client, settings: Settings, embedded_settings: Settings
) -> None:
    _log(client, validated=False)
    client.models.set_policy(STRICT, project="lab")
    version = client.models.get_version("churn/1", project="lab")
    open_alert(embedded_settings.store_url, "lab", "model_version", version.id, "critical")
    with pytest.raises(PolicyViolation) as exc:
        client.models.request("churn/1", to="production", project="lab")
    message = exc.value.message
    for text in (
        "metrics.accuracy.min: observed 0.8, bound >= 0.99",
        "card_fields.intended_use: observed empty, bound filled",
        "card_fields.license: observed empty",
        "data_validation.train-0/1: observed not validated",
        "no_critical_alerts: observed 1 unresolved critical (drift-monitor)",
        "5 rule(s) failed",
    ):
        assert text in message, text
    assert exc.value.field == "metrics.accuracy.min"
    [refused] = client.models.requests("churn", project="lab", state="refused")
    assert {c.rule for c in refused.failures} == {
        "approvals",  # not the reason: approvals come after a request, once its rules pass
        "metrics.accuracy.min",
        "card_fields.intended_use",
        "card_fields.license",
        "data_validation.train-0/1",
        "no_critical_alerts",
    }
    assert client.models.get_version("churn/1", project="lab").status == "registered"


def test_an_open_critical_alert_blocks_until_it_is_resolved(
    client: Client, embedded_settings: Settings
) -> None:
    _log(client)
    client.models.set_policy({"staging": {"no_critical_alerts": True}}, project="lab")
    model = client.models.get_model("churn", project="lab")
    open_alert(embedded_settings.store_url, "lab", "model_version", "someone-else", "critical")
    open_alert(embedded_settings.store_url, "lab", "model", model.id, "warning")
    alert = open_alert(embedded_settings.store_url, "lab", "model", model.id, "critical")
    with pytest.raises(PolicyViolation) as exc:
        client.models.request("churn/1", to="staging", project="lab")
    assert "no_critical_alerts: observed 1 unresolved critical" in exc.value.message
    store = open_store(embedded_settings.store_url)
    try:
        with store.write() as conn:
            conn.execute(
                update(alerts).where(alerts.c.id == alert).values(status="resolved", resolved_at=1)
            )
    finally:
        store.dispose()
    assert client.models.request("churn/1", to="staging", project="lab").state == "applied"


def test_approvals_from_other_approvers_change_the_status(
    client: Client, settings: Settings, embedded_settings: Settings
) -> None:
    _log(client)
    client.models.set_policy(
        {"production": {"approvals": 2, "card_fields": ["intended_use"]}}, project="lab"
    )
    with users_of(client, settings, embedded_settings.store_url) as users:
        carol = users("carol", "contributor")
        alice = users("alice", "approver")
        bob = users("bob", "approver")
        vera = users("vera", "viewer")
        carol.set_card_fields("churn", {"intended_use": "churn"}, project="lab", version=1)
        asked = carol.request_transition(
            "churn", project="lab", to="production", version=1, comment="beats the champion"
        )
        assert (asked.state, asked.approvals_needed) == ("open", 2)
        assert [c.rule for c in asked.failures] == ["approvals"]
        with pytest.raises(Conflict):
            carol.request_transition("churn", project="lab", to="staging", version=1)
        with pytest.raises(PermissionDenied) as viewer:
            vera.approve(asked.id, comment="me too")
        assert "needs role approver" in viewer.value.message
        with pytest.raises(PermissionDenied):
            carol.approve(asked.id)  # a contributor is no approver
        halfway = alice.approve(asked.id, comment="ok")
        assert (halfway.state, halfway.approvals) == ("open", 1)
        with pytest.raises(Conflict):
            alice.approve(asked.id)
        assert client.models.get_version("churn/1", project="lab").status == "registered"
        done = bob.approve(asked.id, comment="fine")
        assert (done.state, [d.decided_by for d in done.decisions]) == ("applied", ["alice", "bob"])
        assert all(c.passed for c in done.checks) and done.closed_at is not None
        assert client.models.get_version("churn/1", project="lab").status == "production"
        assert bob.get_request(asked.id).state == "applied"
        with pytest.raises(Conflict):
            bob.reject(asked.id)


def test_the_requester_may_not_approve_or_reject_their_own_request(
    client: Client, settings: Settings, embedded_settings: Settings
) -> None:
    _log(client)
    client.models.set_policy({"production": {"approvals": 1}}, project="lab")
    with users_of(client, settings, embedded_settings.store_url) as users:
        ann = users("ann", "approver")
        ben = users("ben", "approver")
        asked = ann.request_transition("churn", project="lab", to="production", version=1)
        for decide in (ann.approve, ann.reject):
            with pytest.raises(PermissionDenied) as exc:
                decide(asked.id, comment="mine")
            assert "separation of duties" in exc.value.message and "ann" in exc.value.message
        rejected = ben.reject(asked.id, comment="not yet")
        assert (rejected.state, rejected.decisions[0].comment) == ("rejected", "not yet")
    assert client.models.get_version("churn/1", project="lab").status == "registered"
    with pytest.raises(NotFound):
        client.models.approve("churn", 1, project="lab")  # nothing open any more


def test_a_model_policy_overrides_the_project_and_admins_set_policies(
    client: Client, settings: Settings, embedded_settings: Settings
) -> None:
    _log(client)
    _log(client, "other", seed=1)
    assert client.models.policy(project="lab").scope == "none"
    client.models.set_policy({"staging": {"approvals": 3}}, project="lab")
    client.models.set_policy("staging:\n  approvals: 0\n", "other", project="lab")
    assert client.models.policy("churn", project="lab").scope == "project"
    own = client.models.policy("other", project="lab")
    assert (own.scope, own.source) == ("model", "staging:\n  approvals: 0\n")
    assert client.models.request("other/1", to="staging", project="lab").state == "applied"
    assert client.models.request("churn/1", to="staging", project="lab").state == "open"
    with pytest.raises(InvalidInput) as bad:
        client.models.set_policy("staging:\n  owners: 2\n", project="lab")
    assert bad.value.field == "staging.owners"
    assert client.models.policy(project="lab").policy.gate("staging").approvals == 3
    with users_of(client, settings, embedded_settings.store_url) as users:
        approver = users("apu", "approver")
        assert approver.get_policy(project="lab").policy.gate("staging").approvals == 3
        with pytest.raises(PermissionDenied):
            approver.set_policy({"staging": {}}, project="lab")


@pytest.mark.local_only("evaluations are kept embedded for now")
def test_metric_bounds_relative_to_the_champion_on_the_same_evaluation_data(
    client: Client,
) -> None:
    x, y = frame(0, 200)
    test = x.assign(y=y)
    with client.start_run(project="lab"):
        client.models.log(LogisticRegression().fit(x, y), "churn", input_example=x[:3])
    with client.start_run(project="lab"):
        worse = LogisticRegression().fit(x[["age"]], y)
        client.models.log(worse, "churn", input_example=x[["age"]][:3])
    client.models.set_alias("churn", "champion", 1, project="lab")
    client.models.set_policy(
        {"staging": {"metrics": {"accuracy": {"min_delta": 0.0}}, "evaluation": True}},
        project="lab",
    )
    with pytest.raises(PolicyViolation) as none_yet:
        client.models.request("churn/2", to="staging", project="lab")
    assert "metrics.accuracy.min_delta: observed no evaluation kept" in none_yet.value.message
    assert "evaluation: observed none kept" in none_yet.value.message
    client.models.evaluate("churn/2", test, "y", project="lab", bootstrap=20)
    with pytest.raises(PolicyViolation) as unmatched:
        client.models.request("churn/2", to="staging", project="lab")
    assert "champion (version 1) has no evaluation on" in unmatched.value.message
    compared = client.models.evaluate(
        "churn/2", test, "y", baseline="churn@champion", project="lab", bootstrap=20
    )
    against = compared.report["comparison"]["metrics"]["accuracy"]
    with pytest.raises(PolicyViolation) as on_same_rows:  # the champion's value on its rows
        client.models.request("churn/2", to="staging", project="lab")
    assert f"against {against['baseline']:.6g} of version 1" in on_same_rows.value.message
    client.models.evaluate("churn/1", test, "y", project="lab", bootstrap=20)
    champion = client.models.evaluations("churn/1", project="lab")[0].metrics["accuracy"]
    mine = client.models.evaluations("churn/2", project="lab")[0].metrics["accuracy"]
    assert mine < champion
    with pytest.raises(PolicyViolation) as behind:
        client.models.request("churn/2", to="staging", project="lab")
    assert f"observed {mine - champion:+.6g}" in behind.value.message
    assert "bound >= +0 against champion" in behind.value.message
    assert client.models.request("churn/1", to="staging", project="lab").state == "applied"


@pytest.mark.local_only("reads the audit log of the store")
def test_every_request_decision_and_change_is_audited(client: Client, settings: Settings) -> None:
    _log(client)
    client.models.set_policy({"production": {"approvals": 1}}, project="lab")
    with users_of(client, settings, settings.store_url) as users:
        asked = users("cy", "contributor").request_transition(
            "churn", project="lab", to="production", version=1
        )
        users("ada", "approver").approve(asked.id, comment="ok")
    with pytest.raises(InvalidInput):
        client.models.request("churn/1", to="registered", project="lab")
    store = open_store(settings.store_url)
    try:
        events = Governance(store).audit.list_events(actor=SYSTEM, limit=1000)
        report_ok = Governance(store).audit.verify(actor=SYSTEM).ok
    finally:
        store.dispose()
    assert report_ok
    lifecycle = [
        (e.actor, e.action, e.summary)
        for e in events
        if e.action.startswith(("model.transition", "model.status", "model.policy"))
    ]
    assert [(actor, action) for actor, action, _ in lifecycle] == [
        (lifecycle[0][0], "model.policy_set"),
        ("cy", "model.transition_requested"),
        ("ada", "model.transition_approved"),
        ("ada", "model.status_changed"),
    ]
    assert lifecycle[3][2] == f"lab/churn/1: registered -> production (request {asked.id})"


@pytest.mark.local_only("calls the service inside a transaction of the store")
def test_a_status_change_from_a_stale_read_is_refused_and_changes_nothing(
    client: Client,
) -> None:
    _log(client)
    service = client.services.models
    stale = service.get_version("churn", project="lab", version=1)
    client.models.request("churn/1", to="staging", project="lab")
    with pytest.raises(Conflict) as exc, client.services.store.write() as conn:
        service.change_status(conn, stale, "archived", reason="by hand")
    assert "changed status meanwhile" in exc.value.message
    assert client.models.get_version("churn/1", project="lab").status == "staging"
    with pytest.raises(InvalidInput), client.services.store.write() as conn:
        service.change_status(conn, stale, "nowhere", reason="by hand")


def test_the_data_validation_gate_reads_the_latest_validation_of_the_training_data(
    client: Client,
) -> None:
    from modelyard.data import validate

    _log(client)  # trained on train-0 version 1, validated when registered
    client.models.set_policy(
        {"staging": {"data_validation": True, "metrics": {"accuracy": {"min": 0.5}}}},
        project="lab",
    )
    x, _ = frame(0)
    failing = validate(x, [expect.in_range("age", 0, 10)])
    assert not failing.ok
    client.datasets.add_report(
        "train-0", 1, "validation", failing.to_dict(), project="lab"
    )  # newer: it decides
    with pytest.raises(PolicyViolation) as exc:
        client.models.request("churn/1", to="staging", project="lab")
    assert "data_validation.train-0/1: observed 1 critical expectation(s) failed" in str(exc.value)
    passing = validate(x, [expect.not_null("age")])
    client.datasets.add_report("train-0", 1, "validation", passing.to_dict(), project="lab")
    applied = client.models.request("churn/1", to="staging", project="lab")
    assert applied.state == "applied"
    assert [(c.rule, c.observed) for c in applied.checks] == [
        ("metrics.accuracy.min", "0.8"),
        ("data_validation.train-0/1", "passed"),
    ]
