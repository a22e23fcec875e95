"""``modelyard models archive|retire|retirement show|set|run``: tables and --json, the dry
run, and one-line errors with their exit codes, in both SDK modes."""

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
    """Three versions of ``churn`` in project ``p``, the third the champion."""
    with Client(settings) as client:
        for seed in range(3):
            rng = np.random.default_rng(seed)
            x = pd.DataFrame({"age": rng.integers(18, 80, 30), "spend": rng.random(30)})
            y = (x["spend"] > 0.5).astype(int)
            with client.start_run("p"):
                client.models.log(LogisticRegression().fit(x, y), "churn", input_example=x[:3])
        client.models.set_alias("churn", "champion", 3, project="p")


def test_archive_and_retire_by_hand(cli: Callable[..., Any], logged: None) -> None:
    archived = cli("models", "archive", "churn/1", "--reason", "old", "-p", "p")
    assert archived.exit_code == 0, archived.output
    for text in ("registered -> archived", "applied", "old"):
        assert text in archived.output, text
    retired = json.loads(cli("models", "retire", "churn/1", "-p", "p", "--json").output)
    assert (retired["to_status"], retired["state"]) == ("retired", "applied")
    held = cli("models", "retire", "churn@champion", "-p", "p")
    assert held.exit_code == 5, held.output
    assert held.output.startswith("error: model version p/churn/3 has the alias(es) champion")
    gone = cli("models", "retire", "churn/1", "-p", "p")
    assert gone.exit_code == 5 and "retired is final" in gone.output


def test_retirement_show_set_and_run(cli: Callable[..., Any], logged: None, tmp_path: Path) -> None:
    shown = cli("models", "retirement", "show", "-p", "p")
    assert shown.exit_code == 0 and "No retirement policy for project p" in shown.output
    policy = tmp_path / "retirement.yaml"
    policy.write_text("keep_last: 1\n")
    set_ = cli("models", "retirement", "set", str(policy), "-p", "p")
    assert set_.exit_code == 0, set_.output
    assert "Retirement policy of project p" in set_.output and "keep_last: 1" in set_.output
    data = json.loads(cli("models", "retirement", "show", "churn", "-p", "p", "--json").output)
    assert (data["scope"], data["policy"]) == ("project", {"keep_last": 1})
    policy.write_text("keep_last: 0\n")
    bad = cli("models", "retirement", "set", str(policy), "-p", "p")
    assert bad.exit_code == 2 and bad.output.startswith("error: keep_last must be")

    dry = cli("models", "retirement", "run", "--dry-run", "-p", "p")
    assert dry.exit_code == 0, dry.output
    for text in ("would do", "churn/1", "churn/2", "registered -> archived", "keep_last: 1"):
        assert text in dry.output, text
    planned = json.loads(
        cli("models", "retirement", "run", "--dry-run", "-p", "p", "--json").output
    )
    assert [(m["version"], m["outcome"]) for m in planned] == [(1, "planned"), (2, "planned")]
    ran = json.loads(cli("models", "retirement", "run", "churn", "-p", "p", "--json").output)
    assert [(m["version"], m["outcome"]) for m in ran] == [(1, "applied"), (2, "applied")]
    again = cli("models", "retirement", "run", "-p", "p")
    assert again.exit_code == 0 and "move nothing now" in again.output
