"""``modelyard loop``: a policy set from YAML and shown back, a run started, listed,
shown as a timeline and cancelled, and a decision on a run that waits for none refused in
one line; in both SDK modes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from loop_support import DEPLOYMENT, PIPES, PROJECT, champion
from modelyard import Client
from modelyard.config import Settings
from pipeline_files import pipeline_file


@pytest.fixture
def policy_file(settings: Settings, tmp_path: Path) -> Iterator[Path]:
    with Client(settings) as client:
        champion(client)
    with pipeline_file(tmp_path, "loop_cli_pipes", PIPES) as pipes:
        path = tmp_path / "loop.yaml"
        path.write_text(
            f"pipeline: {pipes}:retrain\nmodel: churn\nevaluate: {{metric: accuracy}}\n"
            "triggers: {monitors: [accuracy], schedule: '0 3 * * 1'}\n"
        )
        yield path


def test_policy_and_a_run_on_the_command_line(cli: Callable[..., Any], policy_file: Path) -> None:
    set_ = cli("loop", "policy", "set", DEPLOYMENT, str(policy_file), "-p", PROJECT)
    assert set_.exit_code == 0, set_.output
    assert "production: require_person" in set_.output and "0 3 * * 1" in set_.output
    shown = json.loads(cli("loop", "policy", "show", DEPLOYMENT, "-p", PROJECT, "--json").output)
    assert shown["config"]["model"] == "churn" and shown["enabled"] is True
    started = cli("loop", "start", DEPLOYMENT, "--reason", "new data", "-p", PROJECT)
    assert started.exit_code == 0, started.output
    for text in ("retrain", "pending", "by hand", "new data", "churn/1", "running"):
        assert text in started.output, text
    again = cli("loop", "start", DEPLOYMENT, "-p", PROJECT)
    assert again.exit_code != 0 and "one at a time" in again.output
    (run,) = json.loads(cli("loop", "list", DEPLOYMENT, "-p", PROJECT, "--json").output)
    listed = cli("loop", "list", DEPLOYMENT, "-p", PROJECT)
    assert run["id"] in listed.output and "manual" in listed.output
    refused = cli("loop", "approve", run["id"], "-p", PROJECT)
    assert refused.exit_code != 0 and "not waiting" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    ended = cli("loop", "cancel", run["id"], "--reason", "test", "-p", PROJECT)
    assert ended.exit_code == 0 and "cancelled" in ended.output
    shown_run = cli("loop", "show", run["id"], "-p", PROJECT)
    assert shown_run.exit_code == 0 and "decision" in shown_run.output


def test_a_bad_policy_file_is_one_line(cli: Callable[..., Any], policy_file: Path) -> None:
    policy_file.write_text("pipeline: nowhere\nmodel: churn\nevaluate: {metric: accuracy}\n")
    answer = cli("loop", "policy", "set", DEPLOYMENT, str(policy_file), "-p", PROJECT)
    assert answer.exit_code != 0 and "pipeline" in answer.output
    assert len(answer.output.strip().splitlines()) == 1
