"""``modelyard deployments``: create, list, show (routes resolved, with their status),
set-traffic (canary, A/B, shadow), promote, rollback, history and delete, as tables and as
JSON, with one-line errors, in both SDK modes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelyard import Client
from modelyard.config import Settings


@pytest.fixture
def churn(settings: Settings, tmp_path: Path) -> None:
    """Model ``churn-rf`` of project ``p``: 1 (production, champion), 2 and 3 (staging)."""
    with Client(settings) as client:
        models = client.model_service
        for number in (1, 2, 3):
            folder = tmp_path / f"v{number}"
            (folder / "model").mkdir(parents=True)
            (folder / "model" / "model.skops").write_bytes(f"model {number}".encode())
            models.register("churn-rf", folder, project="p", flavor="sklearn")
        models.request_transition("churn-rf", project="p", to="production", version=1)
        for number in (2, 3):
            models.request_transition("churn-rf", project="p", to="staging", version=number)
        models.set_alias("churn-rf", "champion", 1, project="p")


def test_create_set_traffic_promote_rollback(cli: Callable[..., Any], churn: None) -> None:
    made = cli("deployments", "create", "api", "churn-rf@champion", "-p", "p")
    assert made.exit_code == 0, made.output
    for text in ("Deployment p/api", "single", "churn-rf@champion", "production"):
        assert text in made.output, text
    changed = cli(
        "deployments", "set-traffic", "api",
        "--route", "churn-rf@champion=90",
        "--route", "churn-rf/2=10",
        "--shadow", "churn-rf/3=100",
        "--sticky-key", "X-Customer-Id",
        "--reason", "a/b",
        "-p", "p",
    )  # fmt: skip
    assert changed.exit_code == 0, changed.output
    for text in ("ab", "X-Customer-Id", "churn-rf/2", "staging", "shadow", "revision"):
        assert text in changed.output, text
    shown = json.loads(cli("deployments", "show", "api", "-p", "p", "--json").output)
    assert [(r["ref"], r["weight"], r["version"]) for r in shown["plan"]["routes"]] == [
        ("champion", 90, 1),
        ("2", 10, 2),
    ]
    listed = cli("deployments", "list", "-p", "p")
    assert listed.exit_code == 0 and "churn-rf@champion=90, churn-rf/2=10" in listed.output
    promoted = cli("deployments", "promote", "api", "--route", "churn-rf/2", "-p", "p")
    assert promoted.exit_code == 0, promoted.output
    after = json.loads(cli("deployments", "show", "api", "-p", "p", "--json").output)
    assert [(r["ref"], r["version"]) for r in after["plan"]["routes"]] == [("champion", 2)]
    back = cli("deployments", "rollback", "api", "--to-revision", "2", "-p", "p", "--json")
    assert back.exit_code == 0, back.output
    assert json.loads(back.output)["revision"] == 4
    history = cli("deployments", "history", "api", "-p", "p")
    assert history.exit_code == 0, history.output
    for text in ("create", "set_traffic", "promote", "rollback", "a/b", "shadow churn-rf/3=100"):
        assert text in history.output, text
    deleted = cli("deployments", "delete", "api", "-p", "p", "--yes")
    assert deleted.exit_code == 0 and "deleted deployment p/api" in deleted.output
    assert "No deployments in project 'p'" in cli("deployments", "list", "-p", "p").output


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("create", "api", "churn-rf"), 2, "MODEL@ALIAS or MODEL/VERSION"),
        (("set-traffic", "api", "--route", "churn-rf/1=60", "--route", "churn-rf/2"), 2, "weight"),
        (("set-traffic", "api", "--route", "churn-rf/1=x"), 2, "whole number"),
        (
            ("set-traffic", "api", "--route", "churn-rf/1=60", "--route", "churn-rf/2=30"),
            2,
            "add up to 100",
        ),
        (("set-traffic", "api", "--route", "churn-rf/1", "--sticky-key", "a b"), 2, "header"),
        (("promote", "api"), 2, "besides the champion"),
        (("rollback", "api", "--to-revision", "7"), 4, "no revision 7"),
        (("show", "nope"), 4, "deployment 'nope' does not exist"),
        (("set-traffic", "api", "--route", "churn-rf/1", "--expected-revision", "5"), 5, "not 5"),
    ],
)
def test_errors_are_one_line(
    cli: Callable[..., Any], churn: None, args: tuple[str, ...], code: int, text: str
) -> None:
    assert cli("deployments", "create", "api", "churn-rf/1", "-p", "p").exit_code == 0
    answer = cli("deployments", *args, "-p", "p")
    assert answer.exit_code == code, answer.output
    lines = answer.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], answer.output


def test_set_traffic_with_guard_rails_and_steps(cli: Callable[..., Any], churn: None) -> None:
    assert cli("deployments", "create", "api", "churn-rf@champion", "-p", "p").exit_code == 0
    changed = cli(
        "deployments", "set-traffic", "api",
        "--route", "churn-rf@champion=95", "--route", "churn-rf/2=5",
        "--max-error-rate", "0.01", "--max-p99-ms", "50", "--window", "60",
        "--steps", "5,25,50,100", "--step-every", "600",
        "-p", "p",
    )  # fmt: skip
    assert changed.exit_code == 0, changed.output
    assert "max p99 ms 50" in changed.output and "steps 5 -> 25 -> 50 -> 100" in changed.output
    shown = json.loads(cli("deployments", "show", "api", "-p", "p", "--json").output)
    assert shown["rollout"] == {
        "max_error_rate": 0.01,
        "max_error_rate_delta": None,
        "max_p99_ms": 50.0,
        "max_p99_ratio": None,
        "window_s": 60,
        "min_requests": 100,
        "steps": [5, 25, 50, 100],
        "step_every_s": 600,
        "live_monitor": None,
        "max_live_drop": None,
    }
    watch = ("monitors", "create", "api", "accuracy", "--kind", "performance")
    made = cli(*watch, "--config", '{"metric": "accuracy", "min": 0.5}', "-p", "p")
    assert made.exit_code == 0, made.output
    live = cli(
        "deployments", "set-traffic", "api",
        "--route", "churn-rf@champion=90", "--route", "churn-rf/2=10",
        "--live-monitor", "accuracy", "--max-live-drop", "0.02", "-p", "p",
    )  # fmt: skip
    assert live.exit_code == 0, live.output
    assert "live accuracy at most 0.02 worse than the champion's" in live.output
    shown = json.loads(cli("deployments", "show", "api", "-p", "p", "--json").output)
    assert (shown["rollout"]["live_monitor"], shown["rollout"]["max_live_drop"]) == (
        "accuracy",
        0.02,
    )
    half = cli(
        "deployments", "set-traffic", "api", "--route", "churn-rf@champion",
        "--live-monitor", "accuracy", "-p", "p",
    )  # fmt: skip
    assert half.exit_code != 0 and "max_live_drop is missing" in half.output
    assert len(half.output.strip().splitlines()) == 1
    bad = cli(
        "deployments", "set-traffic", "api", "--route", "churn-rf@champion",
        "--max-error-rate", "3", "-p", "p",
    )  # fmt: skip
    assert bad.exit_code != 0 and "max_error_rate" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
