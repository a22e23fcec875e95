"""``modelyard models card|request|requests|approve|reject|policy``: tables and --json,
files written with -o, and one-line errors with their exit codes, in both SDK modes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard import Client
from modelyard.config import Settings


@pytest.fixture
def logged(settings: Settings) -> None:
    """One version of ``churn`` in project ``p``."""
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"age": rng.integers(18, 80, 30), "spend": rng.random(30)})
    y = (x["spend"] > 0.5).astype(int)
    with Client(settings) as client, client.start_run("p") as run:
        run.log_param("C", "1.0")
        client.models.log(LogisticRegression().fit(x, y), "churn", input_example=x[:3])


def test_card_fills_fields_and_renders_markdown_html_or_json(
    cli: Callable[..., Any], logged: None, tmp_path: Path
) -> None:
    shown = cli("models", "card", "churn/1", "-p", "p", "--set", "intended_use=<b>ranking</b>")
    assert shown.exit_code == 0, shown.output
    assert "# Model card: p/churn version 1" in shown.output
    assert "&lt;b&gt;ranking&lt;/b&gt;" in shown.output and "| C | 1.0 |" in shown.output
    page = tmp_path / "card.html"
    written = cli("models", "card", "churn", "-p", "p", "--format", "html", "-o", str(page))
    assert written.exit_code == 0 and str(page) in written.output
    assert page.read_text().startswith("<!DOCTYPE html>")
    data = json.loads(cli("models", "card", "churn", "-p", "p", "--json").output)
    assert data["fields"] == {"intended_use": "<b>ranking</b>"}
    bad = cli("models", "card", "churn/1", "-p", "p", "--set", "Bad Name=x")
    assert bad.exit_code == 2 and bad.output.startswith("error: fields:")
    assert cli("models", "card", "churn/1", "-p", "p", "--set", "oops").exit_code == 2
    assert cli("models", "card", "churn/1", "-p", "p", "-f", "pdf").exit_code == 2


def test_policy_request_and_requests(cli: Callable[..., Any], logged: None, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("staging:\n  card_fields: [license]\nproduction:\n  approvals: 1\n")
    assert "No status policy for project p" in cli("models", "policy", "show", "-p", "p").output
    set_ = cli("models", "policy", "set", str(policy), "-p", "p")
    assert set_.exit_code == 0, set_.output
    assert "approvals: 1" in set_.output
    shown = json.loads(cli("models", "policy", "show", "churn", "-p", "p", "--json").output)
    assert (shown["scope"], shown["policy"]["production"]) == ("project", {"approvals": 1})
    policy.write_text("staging:\n  licence: [x]\n")
    bad = cli("models", "policy", "set", str(policy), "-p", "p")
    assert bad.exit_code == 2
    assert bad.output.startswith("error: unknown rule 'licence' under staging")

    refused = cli("models", "request", "churn/1", "--to", "staging", "-p", "p")
    assert refused.exit_code == 7, refused.output
    assert refused.output.startswith("error: the policy refuses")
    assert "card_fields.license: observed empty, bound filled" in refused.output
    asked = cli("models", "request", "churn/1", "--to", "production", "-m", "go", "-p", "p")
    assert asked.exit_code == 0, asked.output
    for text in ("registered -> production", "open", "0 of 1", "approvals"):
        assert text in asked.output, text
    illegal = cli("models", "request", "churn/1", "--to", "nowhere", "-p", "p")
    assert illegal.exit_code == 2 and "unknown status" in illegal.output
    listed = json.loads(cli("models", "requests", "churn", "-p", "p", "--json").output)
    assert [(r["to_status"], r["state"]) for r in listed] == [
        ("staging", "refused"),
        ("production", "open"),
    ]
    table = cli("models", "requests", "churn", "--state", "open", "-p", "p")
    assert table.exit_code == 0 and listed[1]["id"] in table.output
    assert "registered" in cli("models", "versions", "churn", "-p", "p").output
    assert "status" in cli("models", "show", "churn/1", "-p", "p").output
    pending = cli("models", "request", "churn/1", "--to", "archived", "-p", "p")
    assert pending.exit_code == 5 and listed[1]["id"] in pending.output  # one open at a time


@pytest.mark.local_only("the CLI acts as the local operator, who requested it")
def test_the_requester_cannot_approve_their_own_request(
    cli: Callable[..., Any], logged: None, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("production:\n  approvals: 1\n")
    assert cli("models", "policy", "set", str(policy), "churn", "-p", "p").exit_code == 0
    asked = json.loads(
        cli("models", "request", "churn/1", "--to", "production", "-p", "p", "--json").output
    )
    for verb in ("approve", "reject"):
        refused = cli("models", verb, "churn/1", "-m", "mine", "-p", "p")
        assert refused.exit_code == 6, refused.output
        assert refused.output.startswith("error: separation of duties")
    by_id = cli("models", "approve", asked["id"], "-p", "p")
    assert by_id.exit_code == 6 and asked["id"] in by_id.output
