"""``modelyard alerts`` (list, show, ack, resolve, comment) and ``modelyard health``: tables
with the severity and the score coloured, JSON for machines, one-line errors, in both SDK
modes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelyard import Client
from modelyard._util import new_id, now_ms
from modelyard.config import Settings
from modelyard.monitoring._raise import raise_alert
from modelyard.store import open_store
from modelyard.store.tables import monitor_values, monitors, projects


@pytest.fixture
def alert_id(settings: Settings, embedded_settings: Settings, tmp_path: Path) -> str:
    """Deployment ``api`` of project ``p`` (model ``churn-rf`` version 1), a drift monitor
    that found 2 of 10 features drifted just now, and a critical alert on the deployment."""
    with Client(settings) as client:
        folder = tmp_path / "v1"
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "model.skops").write_bytes(b"model 1")
        client.model_service.register("churn-rf", folder, project="p", flavor="sklearn")
        client.model_service.request_transition("churn-rf", project="p", to="staging", version=1)
        deployment_id = client.deployments.create("api", "churn-rf/1", project="p").id
    store = open_store(embedded_settings.store_url)
    try:
        with store.write() as conn:
            project_id = conn.execute(projects.select().where(projects.c.name == "p")).one().id
            monitor_id, at = new_id(), now_ms()
            conn.execute(
                monitors.insert().values(
                    id=monitor_id, project_id=project_id, deployment_id=deployment_id,
                    name="drift", kind="drift", config="{}", window="hour", slide=None,
                    severity="critical", enabled=True, created_by="t", created_at=at,
                    updated_at=at,
                )
            )  # fmt: skip
            conn.execute(
                monitor_values.insert().values(
                    monitor_id=monitor_id, version_id="", window_start=at - 3_600_000,
                    window_end=at - 1, value=0.2, threshold=0.3, status="ok", rows=50,
                    details="{}", computed_at=at,
                )
            )  # fmt: skip
            return raise_alert(
                conn,
                project="p",
                subject_kind="deployment",
                subject_id=deployment_id,
                subject="deployment api",
                monitor="drift",
                severity="critical",
                title="drift: 4 of 10 features drifted",
                details={"share": 0.4},
                at=at,
                monitor_id=monitor_id,
            ).alert_id
    finally:
        store.dispose()


def test_list_show_ack_comment_resolve(cli: Callable[..., Any], alert_id: str) -> None:
    listed = cli("alerts", "list", "-p", "p", "--status", "open")
    assert listed.exit_code == 0, listed.output
    for text in ("Alerts in p", alert_id, "critical", "deployment api", "4 of 10 features"):
        assert text in listed.output, text
    acked = cli("alerts", "ack", alert_id, "-m", "looking", "-p", "p")
    assert acked.exit_code == 0 and "acknowledged" in acked.output, acked.output
    noted = cli("alerts", "comment", alert_id, "new data source", "-p", "p", "--json")
    assert json.loads(noted.output)["history"][-1]["comment"] == "new data source"
    done = cli("alerts", "resolve", alert_id, "-m", "retrained", "-p", "p")
    assert done.exit_code == 0 and "retrained" in done.output, done.output
    shown = json.loads(cli("alerts", "show", alert_id, "-p", "p", "--json").output)
    assert [n["action"] for n in shown["history"]] == [
        "opened",
        "acknowledged",
        "commented",
        "resolved",
    ]
    again = cli("alerts", "resolve", alert_id, "-p", "p")
    assert again.exit_code == 5
    assert again.output.strip().splitlines() == [
        f"error: alert {alert_id} is resolved already (by {shown['resolved_by']}); it cannot "
        "be resolved. If its condition returns, a new alert opens"
    ]
    empty = cli("alerts", "list", "-p", "p", "--status", "open")
    assert empty.exit_code == 0 and "No alerts" in empty.output
    assert json.loads(cli("alerts", "list", "-p", "p", "--json").output)[0]["id"] == alert_id


def test_health_shows_the_score_its_components_and_formula(
    cli: Callable[..., Any], alert_id: str
) -> None:
    shown = cli("health", "api", "-p", "p")
    assert shown.exit_code == 0, shown.output
    for text in ("Health of deployment api: 80.0", "drift", "80", "labels", "weight"):
        assert text in shown.output, text
    data = json.loads(cli("health", "api", "--version", "churn-rf/1", "-p", "p", "--json").output)
    assert (data["subject"], data["score"]) == ("churn-rf/1", None)  # no per-version finding
    assert data["components"][0]["name"] == "drift"


def test_errors_are_one_line(cli: Callable[..., Any], alert_id: str) -> None:
    for args, code, text in [
        (("alerts", "list", "-p", "p", "--status", "closed"), 2, "status must be one of"),
        (("alerts", "show", "0" * 32, "-p", "p"), 4, "does not exist in project 'p'"),
        (("health", "nowhere", "-p", "p"), 4, "deployment 'nowhere' does not exist"),
        (("health", "api", "--version", "churn-rf", "-p", "p"), 2, "MODEL/NUMBER"),
    ]:
        answer = cli(*args)
        assert answer.exit_code == code, (args, answer.output)
        [line] = answer.output.strip().splitlines()
        assert line.startswith("error: ") and text in line, line
