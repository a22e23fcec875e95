"""``modelyard cost serving|training`` and ``modelyard budgets set|list|delete``: tables
and JSON, one-line errors, in both SDK modes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelyard import Client
from modelyard.config import Settings
from modelyard.serving.rollouts import LATENCY_BUCKETS_MS, ServingReport, VersionStats


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> None:
    """Project ``p``: ``churn-rf`` version 1 trained by a run that cost 0.5, deployment
    ``api`` all to it, one server's report of 20 requests using 72 CPU-seconds."""
    with Client(settings) as client:
        client.projects.create("p")
        run = client.tracking.create_run("p", name="fit")
        client.tracking.end_run(run.id, "finished", cost=0.5)
        folder = tmp_path / "v1"
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "model.skops").write_bytes(b"model 1")
        models = client.model_service
        models.register("churn-rf", folder, project="p", flavor="sklearn", run_id=run.id)
        models.request_transition("churn-rf", project="p", to="staging", version=1)
        made = client.deployments.create("api", "churn-rf/1", project="p")
        version_id = made.plan.champion.version_id
        assert version_id is not None
        latency = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        latency[0] = 20
        now = int(time.time() * 1000)
        client.deployments.report(
            "p",
            ServingReport(
                "s1", now - 5000, now - 1000,
                (VersionStats("api", version_id, 20, 0, tuple(latency)),), cpu_s=72.0,
            ),
        )  # fmt: skip


def test_cost_serving_and_training(cli: Callable[..., Any], served: None) -> None:
    shown = cli("cost", "serving", "api", "-p", "p")
    assert shown.exit_code == 0, shown.output
    for text in ("Serving cost of p/api", "20", "72", "USD"):
        assert text in shown.output, text
    (figure,) = json.loads(cli("cost", "serving", "api", "-p", "p", "--json").output)
    assert (figure["predictions"], figure["cpu_s"]) == (20, 72.0)
    by_version = cli("cost", "serving", "api", "--by-version", "--since", "2020-01-01", "-p", "p")
    assert by_version.exit_code == 0 and "churn-rf/1" in by_version.output
    trained = cli("cost", "training", "churn-rf/1", "-p", "p")
    assert trained.exit_code == 0, trained.output
    assert "Training cost of p/churn-rf/1: 0.5 USD" in trained.output
    assert (
        json.loads(cli("cost", "training", "churn-rf/1", "-p", "p", "--json").output)["cost"] == 0.5
    )
    bad = cli("cost", "training", "churn-rf", "-p", "p")
    assert bad.exit_code != 0 and "is not MODEL/VERSION" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    missing = cli("cost", "serving", "nope", "-p", "p")
    assert missing.exit_code != 0 and "deployment 'nope' does not exist" in missing.output


def test_budgets_set_list_delete(cli: Callable[..., Any], served: None) -> None:
    made = cli("budgets", "set", "10", "--scope", "serving", "--thresholds", "0.5,1", "-p", "p")
    assert made.exit_code == 0, made.output
    assert "serving" in made.output and "10 USD" in made.output
    (listed,) = json.loads(cli("budgets", "list", "-p", "p", "--json").output)
    assert (listed["scope"], listed["amount"], listed["thresholds"]) == (
        "serving",
        10.0,
        [0.5, 1.0],
    )
    assert listed["spent"] > 0
    shown = cli("budgets", "list", "-p", "p")
    assert "spent this month" in shown.output
    for args, words in (
        (("--", "-5"), "amount must be a number above 0"),
        (("5", "--thresholds", "0.5,20"), "thresholds must be shares above 0"),
        (("5", "--thresholds", "half"), "must be numbers separated by commas"),
        (("5", "--scope", "gpus"), "scope must be one of"),
    ):
        refused = cli("budgets", "set", "-p", "p", *args)
        assert refused.exit_code != 0 and words in refused.output, refused.output
        assert len(refused.output.strip().splitlines()) == 1
    gone = cli("budgets", "delete", "--scope", "serving", "-p", "p")
    assert gone.exit_code == 0 and "Deleted the serving budget of p." in gone.output
    assert json.loads(cli("budgets", "list", "-p", "p", "--json").output) == []
    again = cli("budgets", "delete", "--scope", "serving", "-p", "p")
    assert again.exit_code != 0 and "has no serving budget" in again.output
