"""The monitor service: monitors declared one at a time and as YAML (checked whole, saved
all or none), the kind's configuration checked against the champion's reference, a
profile-needing kind refused on a version without a training profile, rights and audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from modelyard.errors import AlreadyExists, InvalidInput, NotFound, PermissionDenied
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.store.tables import audit_events
from monitoring_support import Lab

pytestmark = pytest.mark.local_only("the service itself")


def test_create_checks_each_field_and_completes_the_config(lab: Lab) -> None:
    service = lab.monitors
    made = service.create("churn-api", "rows", "volume", project="shop", window="day", slide="hour")
    assert (made.kind, made.window, made.slide, made.severity, made.enabled) == (
        "volume",
        "day",
        "hour",
        "warning",
        True,
    )
    assert made.config == {"max_rows": 100}
    assert service.get("churn-api", "rows", project="shop") == made
    bad = {
        "kind": {"kind": "astrology"},
        "window": {"window": "week"},
        "slide": {"window": "hour", "slide": "hour"},
        "severity": {"severity": "panic"},
        "config.max_rows": {"config": {"max_rows": -1}},
        "config.colour": {"config": {"colour": "red"}},
        "name": {"name": "no spaces"},
    }
    for field, change in bad.items():
        args = {"name": "other", "kind": "volume", **change}
        with pytest.raises(InvalidInput) as exc:
            service.create("churn-api", project="shop", **args)
        assert exc.value.field == field
    with pytest.raises(AlreadyExists):
        service.create("churn-api", "rows", "volume", project="shop")
    with pytest.raises(NotFound):
        service.create("nowhere", "rows", "volume", project="shop")
    assert [m.name for m in service.list_monitors("churn-api", project="shop")] == ["rows"]


def test_a_kind_needing_a_profile_is_refused_on_a_version_without_one(lab: Lab) -> None:
    service = lab.monitors
    with pytest.raises(InvalidInput) as exc:
        service.create("bare-api", "drift", "drift", project="shop")
    assert exc.value.field == "kind"
    assert "churn/2" in exc.value.message
    assert "register its training dataset" in exc.value.message
    assert "input of the run" in exc.value.message
    made = service.create("churn-api", "drift", "drift", project="shop")
    assert made.kind == "drift"
    reference = service.reference(lab.version.id)
    assert reference.profile is not None and reference.features == ("x",)


def test_apply_creates_and_updates_all_or_none(lab: Lab) -> None:
    service = lab.monitors
    document = """
deployment: churn-api
monitors:
  - {name: rows, kind: volume, max_rows: 10}
  - {name: daily, kind: volume, window: day, severity: critical}
"""
    made = service.apply(document, project="shop")
    assert [(m.name, m.config, m.severity) for m in made] == [
        ("rows", {"max_rows": 10}, "warning"),
        ("daily", {"max_rows": 100}, "critical"),
    ]
    again = service.apply(
        {
            "deployment": "churn-api",
            "monitors": [{"name": "rows", "kind": "volume", "max_rows": 5}],
        },
        project="shop",
    )
    assert again[0].id == made[0].id and again[0].config == {"max_rows": 5}
    bad = {
        "deployment": "churn-api",
        "monitors": [
            {"name": "fresh", "kind": "volume"},
            {"name": "rows", "kind": "volume", "max_rows": "many"},
        ],
    }
    with pytest.raises(InvalidInput) as exc:
        service.apply(bad, project="shop")
    assert exc.value.field == "monitors[1].config.max_rows"
    names = [m.name for m in service.list_monitors("churn-api", project="shop")]
    assert names == ["daily", "rows"]
    assert service.get("churn-api", "rows", project="shop").config == {"max_rows": 5}
    for wrong in ("- a list", "deployment: churn-api\nmonitors: []", ": : not yaml"):
        with pytest.raises(InvalidInput):
            service.apply(wrong, project="shop")
    twice = {"deployment": "churn-api", "monitors": [{"name": "a", "kind": "volume"}] * 2}
    with pytest.raises(InvalidInput, match="twice"):
        service.apply(twice, project="shop")


def test_delete_and_rights_and_audit(lab: Lab) -> None:
    service = lab.monitors
    service.create("churn-api", "rows", "volume", project="shop")
    governance = Governance(lab.client.services.store)
    as_role = {}
    for role in ("viewer", "contributor"):
        account = governance.users.create_service_account(f"u-{role}", actor=SYSTEM)
        governance.roles.grant("shop", account.username, role, actor=SYSTEM)
        as_role[role] = service.acting_as(Actor.of(account.principal()))
    viewer, contributor = as_role["viewer"], as_role["contributor"]
    assert [m.name for m in viewer.list_monitors("churn-api", project="shop")] == ["rows"]
    assert viewer.values("churn-api", "rows", project="shop") == []
    for change in (
        lambda: viewer.create("churn-api", "other", "volume", project="shop"),
        lambda: viewer.delete("churn-api", "rows", project="shop"),
        lambda: viewer.apply(
            {"deployment": "churn-api", "monitors": [{"name": "x", "kind": "volume"}]},
            project="shop",
        ),
        lambda: viewer.run_pass("churn-api", project="shop"),
    ):
        with pytest.raises(PermissionDenied):
            change()
    made = contributor.create("churn-api", "other", "volume", project="shop")
    assert made.created_by == "u-contributor"
    contributor.delete("churn-api", "rows", project="shop")
    with pytest.raises(NotFound):
        service.get("churn-api", "rows", project="shop")
    with lab.client.services.store.read() as conn:
        actions = conn.execute(
            select(audit_events.c.action).where(audit_events.c.action.like("monitor.%"))
        ).scalars()
        assert sorted(actions) == ["monitor.create", "monitor.create", "monitor.delete"]
