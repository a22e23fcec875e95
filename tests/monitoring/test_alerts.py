"""Alerts as monitors open them (``_raise``) and people handle them (``AlertService``):
one open per monitor and subject, newest first with filters, a history per alert (opened,
seen, acknowledged, commented, resolved or cleared), Conflicts on a resolved alert, a new
alert when a condition returns after resolution, the ``alert.resolved`` event naming the
person, audit events, rights, bounds, and the registry's gate reading the same alerts
(acknowledged still blocks). Both SDK modes where the SDK is used."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alert_support import (
    HOUR,
    NOW,
    Served,
    add_monitor,
    breach,
    cleared,
    serve_churn,
    store_at,
)
from sqlalchemy import select

import modelyard as my
from modelyard import limits
from modelyard.config import Settings
from modelyard.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PolicyViolation
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.monitoring.alerts import AlertService
from modelyard.sdk.client import Client
from modelyard.store.tables import alert_notes, audit_events, events


@pytest.fixture
def client(settings_in_mode: Settings) -> Iterator[Client]:
    with Client(settings_in_mode) as c:
        yield c


@pytest.fixture
def churn(client: Client, tmp_path: Path) -> Served:
    return serve_churn(client, tmp_path)


def _events(url: str, kind: str) -> list[dict]:
    with store_at(url) as store, store.read() as conn:
        rows = conn.execute(select(events.c.payload).where(events.c.kind == kind)).scalars()
        return [json.loads(r) for r in rows]


def test_alerts_are_listed_newest_first_with_filters_and_read_with_history(
    client: Client, churn: Served, embedded_settings: Settings
) -> None:
    url = embedded_settings.store_url
    with store_at(url) as store:
        drift = add_monitor(store, churn.deployment_id, "drift", "drift")
        first = breach(
            store,
            subject_kind="model_version",
            subject_id=churn.v1,
            subject="churn/1",
            monitor_id=drift,
        )
        for k in (1, 2, 3):  # seen again: counted on the open alert, one "seen" note
            again = breach(
                store,
                subject_kind="model_version",
                subject_id=churn.v1,
                subject="churn/1",
                at=NOW + k * HOUR,
                monitor_id=drift,
            )
            assert again.alert_id == first.alert_id and not again.opened
        on_deployment = breach(
            store,
            subject_kind="deployment",
            subject_id=churn.deployment_id,
            subject="deployment api",
            monitor="latency",
            severity="warning",
            at=NOW + HOUR,
        )
        budget = breach(
            store,
            subject_kind="project",
            subject_id="elsewhere",
            subject="project lab",
            monitor="budget:all",
            severity="info",
            at=NOW + 2 * HOUR,
        )
    alerts = client.alerts
    listed = alerts.list_alerts("lab")
    assert [a.id for a in listed] == [budget.alert_id, on_deployment.alert_id, first.alert_id]
    assert [a.subject for a in listed[1:]] == ["deployment api", "churn/1"]
    assert [a.id for a in alerts.list_alerts("lab", severity="critical")] == [first.alert_id]
    assert [a.id for a in alerts.list_alerts("lab", deployment="api")] == [
        on_deployment.alert_id,
        first.alert_id,
    ]
    assert [a.id for a in alerts.list_alerts("lab", limit=1)] == [budget.alert_id]
    assert alerts.list_alerts("lab", status="resolved") == []
    got = alerts.get(first.alert_id, project="lab")
    assert (got.occurrences, got.last_seen_at, got.status) == (4, NOW + 3 * HOUR, "open")
    assert (got.monitor, got.severity, got.details) == ("drift", "critical", {"share": 0.4})
    assert [(n.action, n.by, n.at) for n in got.history] == [
        ("opened", "system", NOW),
        ("seen", "system", NOW + 3 * HOUR),
    ]
    assert listed[2].history == ()  # a listing leaves the history out


def test_acknowledge_comment_resolve_and_the_conflicts_of_a_resolved_alert(
    client: Client, churn: Served, embedded_settings: Settings
) -> None:
    url = embedded_settings.store_url
    with store_at(url) as store:
        raised = breach(store, subject_kind="model_version", subject_id=churn.v1, subject="churn/1")
    alerts, alert_id = client.alerts, raised.alert_id
    acked = alerts.acknowledge(alert_id, project="lab", comment="looking")
    assert acked.status == "acknowledged" and acked.acknowledged_by
    with pytest.raises(Conflict, match="acknowledged already"):
        alerts.acknowledge(alert_id, project="lab")
    alerts.comment(alert_id, "a new data source since Monday", project="lab")
    done = alerts.resolve(alert_id, project="lab", comment="retrained")
    assert (done.status, done.resolved_by) == ("resolved", acked.acknowledged_by)
    assert [(n.action, n.comment) for n in done.history] == [
        ("opened", "drift: 4 of 10 features drifted"),
        ("acknowledged", "looking"),
        ("commented", "a new data source since Monday"),
        ("resolved", "retrained"),
    ]
    for change in (alerts.acknowledge, alerts.resolve):
        with pytest.raises(Conflict) as exc:
            change(alert_id, project="lab")
        assert "is resolved already" in exc.value.message and exc.value.field == "alert_id"
    alerts.comment(alert_id, "post-mortem on the wiki", project="lab")  # still possible
    [event] = _events(url, "alert.resolved")
    assert (event["alert_id"], event["resolved_by"], event["comment"]) == (
        alert_id,
        done.resolved_by,
        "retrained",
    )
    assert (event["subject"], event["severity"]) == ("churn/1", "critical")
    with store_at(url) as store, store.read() as conn:
        audited = conn.execute(
            select(audit_events.c.action).where(audit_events.c.object_id == alert_id)
        ).scalars()
        assert list(audited) == [
            "alert.acknowledged",
            "alert.commented",
            "alert.resolved",
            "alert.commented",
        ]


def test_a_condition_back_after_resolution_opens_a_new_alert(
    client: Client, churn: Served, embedded_settings: Settings
) -> None:
    url = embedded_settings.store_url
    subject = {"subject_kind": "deployment", "subject_id": churn.deployment_id}
    with store_at(url) as store:
        first = breach(store, **subject, subject="deployment api")
        client.alerts.resolve(first.alert_id, project="lab", comment="handled")
        second = breach(store, **subject, subject="deployment api", at=NOW + HOUR)
        assert second.opened and second.alert_id != first.alert_id
        assert cleared(store, **subject) == second.alert_id
        assert cleared(store, **subject) is None  # nothing open any more
        third = breach(store, **subject, subject="deployment api", at=NOW + 2 * HOUR)
        assert third.opened
    resolved = client.alerts.list_alerts("lab", status="resolved")
    assert [(a.id, a.resolved_by) for a in resolved] == [
        (second.alert_id, "system"),
        (first.alert_id, resolved[1].resolved_by),
    ]
    assert client.alerts.get(second.alert_id, project="lab").history[-1].action == "cleared"
    assert [a.id for a in client.alerts.list_alerts("lab", status="open")] == [third.alert_id]
    assert len(_events(url, "alert.opened")) == 3


def test_refusals_keep_their_type_and_field(
    client: Client, churn: Served, embedded_settings: Settings
) -> None:
    with store_at(embedded_settings.store_url) as store:
        alert_id = breach(
            store, subject_kind="deployment", subject_id=churn.deployment_id, subject="x"
        ).alert_id
    alerts = client.alerts
    for kwargs, field in [
        ({"status": "closed"}, "status"),
        ({"severity": "fatal"}, "severity"),
        ({"limit": 0}, "limit"),
        ({"limit": limits.ALERTS_PAGE + 1}, "limit"),
    ]:
        with pytest.raises(InvalidInput) as exc:
            alerts.list_alerts("lab", **kwargs)  # type: ignore[arg-type]
        assert exc.value.field == field
    with pytest.raises(NotFound) as missing:
        alerts.list_alerts("lab", deployment="nowhere")
    assert missing.value.field == "deployment"
    with pytest.raises(NotFound):
        alerts.list_alerts("nowhere")
    with pytest.raises(NotFound):
        alerts.get("0" * 32, project="lab")
    client.projects.create("other")
    with pytest.raises(NotFound):  # an alert of another project
        alerts.get(alert_id, project="other")
    with pytest.raises(InvalidInput) as empty:
        alerts.comment(alert_id, "  ", project="lab")
    assert empty.value.field == "comment"
    with pytest.raises(InvalidInput) as long:
        alerts.comment(alert_id, "x" * (limits.DESCRIPTION + 1), project="lab")
    assert long.value.field == "comment"
    assert alerts.get(alert_id, project="lab").history[-1].action == "opened"


def test_the_sugar(client: Client, churn: Served, embedded_settings: Settings) -> None:
    with store_at(embedded_settings.store_url) as store:
        alert_id = breach(
            store, subject_kind="deployment", subject_id=churn.deployment_id, subject="x"
        ).alert_id
    settings = client.settings
    assert [a.id for a in my.alerts.list_alerts("lab", settings=settings)] == [alert_id]
    my.alerts.acknowledge(alert_id, project="lab", settings=settings)
    my.alerts.comment(alert_id, "noted", project="lab", settings=settings)
    done = my.alerts.resolve(alert_id, project="lab", comment="ok", settings=settings)
    assert done.status == "resolved"
    assert my.alerts.get(alert_id, project="lab", settings=settings) == done
    assert my.alerts.health("api", project="lab", settings=settings).score is None


@pytest.mark.local_only("rights are checked by the service; the API sweep covers HTTP")
def test_viewers_read_and_contributors_handle(
    client: Client, churn: Served, embedded_settings: Settings
) -> None:
    with store_at(embedded_settings.store_url) as store:
        alert_id = breach(
            store, subject_kind="deployment", subject_id=churn.deployment_id, subject="x"
        ).alert_id
    governance = Governance(client.services.store)
    service: AlertService = client.services.alerts
    as_role = {}
    for role in ("predictor", "viewer", "contributor"):
        account = governance.users.create_service_account(f"u-{role}", actor=SYSTEM)
        governance.roles.grant("lab", account.username, role, actor=SYSTEM)
        as_role[role] = service.acting_as(Actor.of(account.principal()))
    stranger = governance.users.create_service_account("stranger", actor=SYSTEM)
    outsider = service.acting_as(Actor.of(stranger.principal()))
    with pytest.raises(NotFound):  # no role: the project is missing
        outsider.list_alerts("lab")
    with pytest.raises(NotFound):  # a predictor cannot tell alerts from missing
        as_role["predictor"].get(alert_id, project="lab")
    viewer = as_role["viewer"]
    assert viewer.get(alert_id, project="lab").status == "open"
    assert viewer.health("api", project="lab").score is None
    for change in (
        lambda s: s.acknowledge(alert_id, project="lab"),
        lambda s: s.resolve(alert_id, project="lab"),
        lambda s: s.comment(alert_id, "mine", project="lab"),
    ):
        with pytest.raises(PermissionDenied):
            change(viewer)
    done = as_role["contributor"].resolve(alert_id, project="lab", comment="fixed")
    assert done.resolved_by == "u-contributor"
    assert done.history[-1] == done.history[-1].__class__(
        "resolved", "u-contributor", done.resolved_at, "fixed"
    )


@pytest.mark.local_only("counts notes in the store")
def test_notes_people_add_are_bounded(
    client: Client, churn: Served, embedded_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "ALERT_NOTES", 3)
    with store_at(embedded_settings.store_url) as store:
        alert_id = breach(
            store, subject_kind="deployment", subject_id=churn.deployment_id, subject="x"
        ).alert_id
    for k in range(3):
        client.alerts.comment(alert_id, f"note {k}", project="lab")
    with pytest.raises(Conflict) as exc:
        client.alerts.resolve(alert_id, project="lab")
    assert exc.value.field == "comment" and "the limit is 3" in exc.value.message
    with client.services.store.read() as conn:
        count = conn.execute(select(alert_notes).where(alert_notes.c.alert_id == alert_id)).all()
    assert len(count) == 4  # opened and three comments


def test_the_gate_reads_monitors_alerts_and_acknowledged_still_blocks(
    client: Client, churn: Served, embedded_settings: Settings
) -> None:
    models = client.models
    models.set_policy({"staging": {"no_critical_alerts": True}}, project="lab")
    with store_at(embedded_settings.store_url) as store:
        drift = add_monitor(store, churn.deployment_id, "drift", "drift")
        raised = breach(
            store,
            subject_kind="model_version",
            subject_id=churn.v2,
            subject="churn/2",
            monitor_id=drift,
        )
    client.alerts.acknowledge(raised.alert_id, project="lab", comment="on it")
    with pytest.raises(PolicyViolation) as exc:
        models.request("churn/2", to="staging", project="lab")
    assert "no_critical_alerts: observed 1 unresolved critical (drift)" in exc.value.message
    client.alerts.resolve(raised.alert_id, project="lab")
    assert models.request("churn/2", to="staging", project="lab").state == "applied"
