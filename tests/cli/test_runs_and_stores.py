"""Runs and stores: ``runs delete`` asks first, ``runs restore`` undoes it (SDK and API
too), ``runs show`` says a run is deleted, and a command that finds nothing says which
store it searched and where that setting came from."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelyard import Client, NotFound
from modelyard.cli import _common
from modelyard.cli.main import app
from modelyard.config import Settings


@pytest.fixture
def family(client: Client) -> tuple[str, str, str]:
    """A parent run and its two children in project ``p``."""
    with client.start_run("p", name="parent", capture=False) as parent:
        with parent.start_run(name="child") as child:
            pass
        with parent.start_run(name="other") as other:
            pass
    return parent.id, child.id, other.id


def _listed(cli: Callable[..., Any]) -> set[str]:
    return {r["id"] for r in json.loads(cli("runs", "list", "-p", "p", "--json").output)["runs"]}


def test_delete_asks_first_and_refuses_without_a_terminal(
    cli: Callable[..., Any], family: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    parent, child, other = family
    refused = cli("runs", "delete", parent)
    assert refused.exit_code == 2, refused.output
    assert refused.output.strip() == (
        f"error: will not delete run {parent} and its child runs without asking, and there "
        "is no terminal to ask on: pass --yes"
    )
    assert _listed(cli) == {parent, child, other}
    monkeypatch.setattr(_common, "_interactive", lambda: True)
    kept = cli("runs", "delete", parent[:8], input="n\n")
    assert kept.exit_code == 1
    assert f"Delete run {parent} and its child runs? [y/N]" in kept.output
    assert _listed(cli) == {parent, child, other}
    gone = cli("runs", "delete", parent[:8], input="y\n")
    assert gone.exit_code == 0, gone.output
    assert f"modelyard runs restore {parent[:12]} undoes it" in gone.output
    assert _listed(cli) == set()


def test_restore_shows_a_deleted_run_and_its_children_again(
    cli: Callable[..., Any], client: Client, family: tuple[str, str, str]
) -> None:
    parent, child, other = family
    assert cli("runs", "delete", other, "--yes").exit_code == 0  # deleted on its own
    assert cli("runs", "delete", parent, "--yes").exit_code == 0
    shown = cli("runs", "show", parent)
    assert shown.exit_code == 0, shown.output
    assert "deleted" in shown.output and f"modelyard runs restore {parent[:12]}" in shown.output
    assert json.loads(cli("runs", "show", parent, "--json").output)["deleted_at"] is not None
    restored = cli("runs", "restore", parent[:8])
    assert restored.exit_code == 0, restored.output
    assert restored.output.strip() == f"restored run {parent} and 1 child run(s)"
    assert _listed(cli) == {parent, child}  # the one deleted before it stays deleted
    hidden = cli("runs", "list", "-p", "p", "--deleted")
    assert hidden.exit_code == 0, hidden.output
    assert f"{other[:12]} │ other  │ finished (deleted)" in hidden.output
    assert "deleted" not in cli("runs", "show", parent).output
    again = cli("runs", "restore", parent)
    assert again.output.strip() == f"run {parent} is not deleted: nothing to restore"
    assert client.restore_run(other) == 1
    assert client.get_run(other).deleted_at is None
    assert cli("runs", "delete", parent, "--permanent", "--yes").exit_code == 0
    with pytest.raises(NotFound):
        client.restore_run(parent)


def test_nothing_found_names_the_store(
    cli: Callable[..., Any], client: Client, settings: Settings
) -> None:
    client.create_project("empty")
    where = (
        f"(searched the server {settings.tracking.uri} (tracking.uri from --tracking-uri))"
        if settings.tracking.uri
        else f"(searched the store {settings.store_url} (store.url from --store-url))"
    )
    listed = cli("runs", "list", "-p", "empty")
    assert listed.exit_code == 0
    assert listed.output.strip() == f"no runs in project empty {where}"
    missing = cli("runs", "show", "abcdef12")
    assert missing.exit_code == 4
    assert missing.output.strip() == f"error: run 'abcdef12' does not exist {where}"
    assert "empty" in cli("projects", "list").output
    assert cli("runs", "list", "-p", "nope").output.strip().endswith(where)


@pytest.mark.local_only("where the store setting came from: flag, environment, file, default")
def test_the_origin_of_the_store_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()

    def projects(*args: str) -> str:
        result = runner.invoke(app, [*args, "projects", "list"])
        assert result.exit_code == 0, result.output
        return result.output.strip()

    none = "no projects yet: `modelyard projects create NAME` makes one"
    default = str(Path(".modelyard") / "modelyard.db")
    assert projects() == (
        f"{none} (searched the store sqlite:///{default}, the default: no --store-url, "
        "MODELYARD_STORE_URL or store.url in a config file)"
    )
    home = tmp_path / "home"
    assert projects("--home", str(home)) == (
        f"{none} (searched the store sqlite:///{home / 'modelyard.db'}, the default in "
        f"home {home} (home from --home))"
    )
    (tmp_path / "modelyard.toml").write_text(f'[store]\nurl = "sqlite:///{tmp_path}/f.db"\n')
    assert projects() == (
        f"{none} (searched the store sqlite:///{tmp_path}/f.db (store.url from config "
        "file modelyard.toml))"
    )
    monkeypatch.setenv("MODELYARD_STORE_URL", f"sqlite:///{tmp_path}/e.db")
    assert projects().endswith("e.db (store.url from MODELYARD_STORE_URL))")
    secret = "postgresql+psycopg://me:hunter2@127.0.0.1:1/x"
    result = runner.invoke(app, ["--store-url", secret, "users", "disable", "nobody"])
    assert "hunter2" not in result.output
    assert result.exit_code != 0
    empty = runner.invoke(app, ["data", "list"])
    assert empty.output.startswith("no datasets (searched the store sqlite:///")
