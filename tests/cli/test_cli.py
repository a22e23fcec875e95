"""The command line: tables for people, --json for machines, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelyard import Client
from modelyard.cli.main import app
from modelyard.store.engine import SCHEMA_REVISION


@pytest.fixture
def two_runs(client: Client, tmp_path: Path) -> list[str]:
    report = tmp_path / "report.txt"
    report.write_text("all good")
    ids = []
    for depth in (4, 8):
        with client.start_run("churn", name=f"rf-{depth}", capture=False) as run:
            run.log_params({"max_depth": depth, "n_estimators": 100})
            run.log_metric("auc", 0.8 + depth / 100)
            run.log_artifact(report, "reports/report.txt")
        ids.append(run.id)
    return ids


def test_runs_list_table_and_json(cli, two_runs: list[str]) -> None:
    result = cli("runs", "list", "--project", "churn")
    assert result.exit_code == 0, result.output
    assert "rf-4" in result.output and "rf-8" in result.output
    result = cli("runs", "list", "--project", "churn", "--json", "--order-by", "metrics.auc DESC")
    data = json.loads(result.output)
    assert [r["id"] for r in data["runs"]] == [two_runs[1], two_runs[0]]


def test_runs_list_with_filter(cli, two_runs: list[str]) -> None:
    result = cli("runs", "list", "-p", "churn", "--filter", "params.max_depth = '8'", "--json")
    assert [r["name"] for r in json.loads(result.output)["runs"]] == ["rf-8"]


def test_runs_show_accepts_a_prefix(cli, two_runs: list[str]) -> None:
    result = cli("runs", "show", two_runs[0][:8])
    assert result.exit_code == 0, result.output
    assert "rf-4" in result.output and "max_depth" in result.output
    assert "reports/report.txt" in result.output
    data = json.loads(cli("runs", "show", two_runs[0], "--json").output)
    assert data["params"]["max_depth"] == "4"
    assert data["artifacts"][0]["path"] == "reports/report.txt"


def test_runs_compare(cli, two_runs: list[str]) -> None:
    result = cli("runs", "compare", *two_runs)
    assert result.exit_code == 0, result.output
    assert "params.max_depth" in result.output and "metrics.auc" in result.output
    assert len(json.loads(cli("runs", "compare", *two_runs, "--json").output)) == 2


def test_runs_delete(cli, client: Client, two_runs: list[str]) -> None:
    assert cli("runs", "delete", two_runs[0], "--yes").exit_code == 0
    listed = json.loads(cli("runs", "list", "-p", "churn", "--json").output)["runs"]
    assert [r["id"] for r in listed] == [two_runs[1]]
    assert cli("runs", "delete", two_runs[1], "--permanent", input="y\n").exit_code == 2
    assert cli("runs", "delete", two_runs[1], "--permanent", "--yes").exit_code == 0
    assert cli("runs", "show", two_runs[1]).exit_code == 4


def test_projects_create_and_list(cli) -> None:
    assert cli("projects", "create", "vision", "-d", "images").exit_code == 0
    assert cli("projects", "create", "vision").exit_code == 5
    data = json.loads(cli("projects", "list", "--json").output)
    assert [p["name"] for p in data] == ["vision"]


def test_artifacts_list_and_get(cli, two_runs: list[str], tmp_path: Path) -> None:
    data = json.loads(cli("artifacts", "list", two_runs[0], "--json").output)
    assert [a["path"] for a in data] == ["reports/report.txt"]
    dest = tmp_path / "out"
    result = cli("artifacts", "get", two_runs[0], "reports/report.txt", "--dest", str(dest))
    assert result.exit_code == 0, result.output
    assert (dest / "reports" / "report.txt").read_text() == "all good"
    result = cli("artifacts", "get", two_runs[0], "../../etc/passwd", "--dest", str(dest))
    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.local_only("gc works on the blob store itself")
def test_gc_removes_only_unreferenced_blobs(cli, client: Client, two_runs: list[str]) -> None:
    orphan = client.blobs.put_bytes(b"nobody points at me").digest
    assert json.loads(cli("gc", "--json").output)["blobs"] == []  # too young to collect
    dry = json.loads(cli("gc", "--dry-run", "--min-age", "0", "--json").output)
    assert dry["blobs"] == [orphan] and client.blobs.exists(orphan)
    assert json.loads(cli("gc", "--min-age", "0", "--json").output)["blobs"] == [orphan]
    assert not client.blobs.exists(orphan)
    assert cli("artifacts", "get", two_runs[0], "reports/report.txt").exit_code == 0


@pytest.mark.local_only("db commands work on the metadata store itself")
def test_db_upgrade_and_current(cli) -> None:
    result = cli("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert SCHEMA_REVISION in cli("db", "current").output


def test_config_show(cli, settings) -> None:
    data = json.loads(cli("config", "show", "--json").output)
    assert data["store.url"] == settings.store_url
    assert "MODELYARD_STORE_URL" in cli("config", "show").output


def test_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0 and result.output.startswith("modelyard ")


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["runs", "show", "ffffffff"], 4, "does not exist"),
        (["runs", "show", "zz"], 2, "hex digits"),
        (["runs", "list", "-p", "nope"], 4, "project 'nope' does not exist"),
        (["runs", "list", "-p", "churn", "--filter", "metrics.auc >"], 2, "filter"),
        (["runs", "compare", "abcdef"], 2, "at least two"),
        (["projects", "create", "bad name!"], 2, "project must be"),
        (["pipelines", "run", ".:x"], 2, "cannot import module '.'"),
    ],
)
def test_failures_are_one_readable_line(cli, two_runs, args, code: int, text: str) -> None:
    result = cli(*args)
    assert result.exit_code == code, result.output
    assert text in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 2


def test_bad_config_file_is_a_clean_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[oops")
    result = CliRunner().invoke(app, ["--config", str(bad), "config", "show"])
    assert result.exit_code == 2 and "not valid TOML" in result.output


def test_runs_list_defaults_to_the_project_the_sdk_uses(cli, client: Client) -> None:
    with client.start_run(name="unnamed-project", capture=False):
        pass
    result = cli("runs", "list", "--json")
    assert result.exit_code == 0, result.output
    assert [r["name"] for r in json.loads(result.output)["runs"]] == ["unnamed-project"]


def test_every_project_option_has_the_same_default() -> None:
    from typer.main import get_command

    from modelyard import DEFAULT_PROJECT

    def options(command: Any, path: str) -> Iterator[tuple[str, Any]]:
        for param in command.params:
            if "--project" in param.opts:
                yield path, param.default
        for name, sub in getattr(command, "commands", {}).items():
            yield from options(sub, f"{path} {name}")

    found = dict(options(get_command(app), "modelyard"))
    assert {"modelyard runs list", "modelyard data show", "modelyard pipelines run"} <= set(found)
    # None is a filter (every project); quickstart records into its own demo project
    defaults = {path: default for path, default in found.items() if default is not None}
    assert defaults.pop("modelyard quickstart") == "quickstart"
    assert set(defaults.values()) == {DEFAULT_PROJECT}, defaults


def test_empty_lists_say_so(cli, client: Client) -> None:
    assert cli("projects", "list").output.startswith("no projects yet")
    assert cli("schedules", "list").output.startswith("no schedules (searched ")
    in_churn = cli("schedules", "list", "-p", "churn").output
    assert in_churn.startswith("no schedules in project churn (searched ")
    client.create_project("empty")
    result = cli("runs", "list", "-p", "empty")
    assert result.exit_code == 0
    assert result.output.startswith("no runs in project empty (searched ")
    assert json.loads(cli("runs", "list", "-p", "empty", "--json").output)["runs"] == []
    with client.start_run("empty", capture=False) as run:
        run.log_metric("auc", 0.4)
    result = cli("runs", "list", "-p", "empty", "--filter", "metrics.auc > 0.5")
    assert result.output.startswith("no runs in project empty match 'metrics.auc > 0.5' (searched")
    assert cli("artifacts", "list", run.id).output == f"run {run.id} has no artifacts\n"
    result = cli("artifacts", "list", run.id[:8], "--prefix", "plots")
    assert result.output == f"run {run.id[:8]} has no artifacts under 'plots'\n"
