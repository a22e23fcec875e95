"""``modelyard monitors``: create, apply a YAML file, list, show, values and delete, as
tables and as JSON, with one-line errors, in both SDK modes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelyard import Client
from modelyard.config import Settings
from modelyard.monitoring import checks
from monitoring_support import RowsCheck


@pytest.fixture
def churn(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deployment ``api`` of project ``p`` serving ``churn-rf/1``; kind ``volume`` judged
    by the tests' rows check."""
    monkeypatch.setitem(checks.CHECKS, "volume", RowsCheck())
    with Client(settings) as client:
        folder = tmp_path / "v1"
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "model.skops").write_bytes(b"model")
        models = client.model_service
        models.register("churn-rf", folder, project="p", flavor="sklearn")
        models.request_transition("churn-rf", project="p", to="production", version=1)
    with Client(settings) as client:
        client.deployments.create("api", "churn-rf/1", project="p")


def test_create_apply_list_show_values_delete(
    cli: Callable[..., Any], churn: None, tmp_path: Path
) -> None:
    made = cli("monitors", "create", "api", "rows", "--kind", "volume", "--config",
               '{"max_rows": 5}', "-p", "p")  # fmt: skip
    assert made.exit_code == 0, made.output
    for text in ("Monitor rows", "volume", '{"max_rows": 5}', "never"):
        assert text in made.output, text
    document = tmp_path / "monitors.yaml"
    document.write_text(
        "deployment: api\nmonitors:\n"
        "  - {name: rows, kind: volume, max_rows: 7}\n"
        "  - {name: daily, kind: volume, window: day, slide: hour, severity: critical}\n"
    )
    applied = cli("monitors", "apply", str(document), "-p", "p")
    assert applied.exit_code == 0, applied.output
    assert "day sliding by an hour" in applied.output and "critical" in applied.output
    listed = json.loads(cli("monitors", "list", "api", "-p", "p", "--json").output)
    assert [(m["name"], m["config"]) for m in listed] == [
        ("daily", {"max_rows": 100}),
        ("rows", {"max_rows": 7}),
    ]
    shown = cli("monitors", "show", "api", "daily", "-p", "p")
    assert shown.exit_code == 0 and "critical" in shown.output
    empty = cli("monitors", "values", "api", "rows", "-p", "p")
    assert empty.exit_code == 0 and "No values" in empty.output
    assert json.loads(cli("monitors", "values", "api", "rows", "-p", "p", "--json").output) == []
    deleted = cli("monitors", "delete", "api", "rows", "-p", "p", "--yes")
    assert deleted.exit_code == 0, deleted.output
    names = [
        m["name"] for m in json.loads(cli("monitors", "list", "api", "-p", "p", "--json").output)
    ]
    assert names == ["daily"]


def test_errors_are_one_line(cli: Callable[..., Any], churn: None) -> None:
    bad = cli("monitors", "create", "api", "rows", "--kind", "astrology", "-p", "p")
    assert bad.exit_code != 0
    assert bad.output.count("\n") == 1 and "kind must be one of" in bad.output
    config = cli("monitors", "create", "api", "rows", "--kind", "volume", "--config", "[1]",
                 "-p", "p")  # fmt: skip
    assert config.exit_code != 0 and "--config must be a JSON object" in config.output
    missing = cli("monitors", "show", "api", "nothing", "-p", "p")
    assert missing.exit_code != 0 and "does not exist" in missing.output
    assert cli("monitors", "create", "api", "rows", "--kind", "volume", "-p", "p").exit_code == 0
    newest = cli("monitors", "values", "api", "rows", "--newest", "0", "-p", "p")
    assert newest.exit_code != 0 and newest.output.count("\n") == 1
    assert "error: newest" in newest.output  # embedded: "newest must be ...", a server: its 422
