"""Alerts go out through the outbox and webhooks: a Slack-compatible hook subscribed to
``alert.opened`` and ``alert.resolved`` gets one readable line for each (severity,
subject, title, monitor, who resolved it), with nothing a chat would turn into a link or
a mention; a JSON hook gets the event's payload."""

from __future__ import annotations

import json
from collections.abc import Callable

from receiver import Receiver

from modelyard.events.delivery import Deliverer, summary
from modelyard.events.service import WebhookService
from modelyard.monitoring._raise import raise_alert
from modelyard.sdk.client import Client
from modelyard.store.tables import projects


def _open(client: Client, title: str) -> str:
    with client.services.store.write() as conn:
        project_id = conn.execute(projects.select().where(projects.c.name == "lab")).one().id
        return raise_alert(
            conn,
            project="lab",
            subject_kind="project",
            subject_id=project_id,
            subject="project lab",
            monitor="drift",
            severity="critical",
            title=title,
            details={"share": 0.4},
            at=1_000,
        ).alert_id


def test_a_slack_hook_on_alert_opened_and_resolved_reads_one_line_each(
    client: Client, hooks: WebhookService, receiver: Callable[..., Receiver]
) -> None:
    slack, plain = receiver(), receiver()
    client.create_project("lab")
    hooks.create("lab", slack.url, events=["alert.opened", "alert.resolved"], format="slack")
    hooks.create("lab", plain.url, events=["alert.opened"])
    alert_id = _open(client, "4 of 10 features drifted\n<!channel> <http://x|click> & more")
    client.alerts.resolve(alert_id, project="lab", comment="retrained\non fresh data")
    Deliverer(hooks, worker="w", timeout_s=2).run_pass()
    opened, resolved = (json.loads(r.body) for r in slack.wait_for(2))
    assert opened == {
        "text": "[lab] CRITICAL alert on project lab: 4 of 10 features drifted "
        "&lt;!channel&gt; &lt;http://x|click&gt; &amp; more (monitor drift)"
    }
    who = client.alerts.get(alert_id, project="lab").resolved_by
    assert resolved["text"].startswith(f"[lab] resolved by {who}: CRITICAL alert on project lab")
    assert resolved["text"].endswith("(monitor drift): retrained on fresh data")
    [event] = (json.loads(r.body) for r in plain.wait_for(1))
    assert event["kind"] == "alert.opened" and event["payload"]["alert_id"] == alert_id
    assert event["payload"]["severity"] == "critical"


def test_a_cleared_alert_and_a_long_title_stay_one_short_line() -> None:
    payload = {
        "alert_id": "a",
        "subject_kind": "deployment",
        "subject_id": "d",
        "subject": "deployment api",
        "monitor": "p99",
        "severity": "warning",
        "title": "slow " * 200,
        "resolved_by": "system",
        "comment": "the condition cleared",
        "resolved_at": 1,
    }
    text = summary({"kind": "alert.resolved", "project": "lab", "payload": payload})
    assert text.startswith("[lab] resolved, the condition cleared: WARNING alert on deployment api")
    assert "\n" not in text and len(text) < 400 and "…" in text
