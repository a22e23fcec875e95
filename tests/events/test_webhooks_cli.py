"""``modelyard webhooks``: create (the secret once), list, deliveries, redeliver, delete,
as tables and as JSON, with one-line errors, in both SDK modes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest
from receiver import Receiver
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.config import Settings
from modelyard.events.delivery import Deliverer
from modelyard.sdk.client import Client


@pytest.fixture
def cli(settings_in_mode: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    settings = settings_in_mode
    runner = CliRunner()
    base = ["--store-url", settings.store_url, "--home", str(settings.home)]
    if settings.tracking.uri:
        base += ["--tracking-uri", settings.tracking.uri]
    if settings.tracking.token:
        monkeypatch.setenv("MODELYARD_TRACKING_TOKEN", settings.tracking.token)
    monkeypatch.setenv("MODELYARD_WEBHOOKS_ALLOWED_HOSTS", '["127.0.0.1"]')

    def invoke(*args: str) -> Any:
        return runner.invoke(app, [*base, *args], env={"COLUMNS": "200"})

    return invoke


def test_create_list_deliveries_redeliver_delete(
    cli: Callable[..., Any], client: Client, receiver: Callable[..., Receiver]
) -> None:
    got = receiver(answers=[500, 500])  # both webhooks' first attempts
    client.create_project("lab")
    made = cli("webhooks", "create", got.url, "-e", "dataset.version_created", "-p", "lab")
    assert made.exit_code == 0, made.output
    assert "secret: whsec_" in made.stdout and "not shown again" in made.stderr
    as_json = cli("webhooks", "create", got.url, "--slack", "-p", "lab", "--json")
    slack = json.loads(as_json.stdout)
    assert (slack["format"], slack["events"], slack["secret"][:6]) == ("slack", ["*"], "whsec_")
    listed = cli("webhooks", "list", "-p", "lab")
    assert listed.exit_code == 0 and "Webhooks of lab" in listed.output
    assert "dataset.version_created" in listed.output and "whsec_" not in listed.output
    hooks = json.loads(cli("webhooks", "list", "-p", "lab", "--json").stdout)
    assert [h["format"] for h in hooks] == ["json", "slack"]

    client.dataset_service.register("d", pa.table({"x": [1]}), project="lab")
    Deliverer(client.services.webhooks, worker="w", timeout_s=2).run_pass()
    table = cli("webhooks", "deliveries", "-p", "lab", "--webhook", hooks[0]["id"])
    assert table.exit_code == 0, table.output
    assert "Deliveries of lab" in table.output and "HTTP 500" in table.output, table.output
    [failed] = json.loads(
        cli("webhooks", "deliveries", "-p", "lab", "-w", hooks[0]["id"], "--json").stdout
    )
    assert (failed["status"], failed["attempts"]) == ("pending", 1)
    again = cli("webhooks", "redeliver", failed["id"], "-p", "lab")
    assert again.exit_code == 0 and "pending again" in again.output
    assert cli("webhooks", "deliveries", "-p", "lab", "--status", "dead").output.startswith(
        "no deliveries"
    )

    gone = cli("webhooks", "delete", hooks[1]["id"], "-p", "lab")
    assert gone.exit_code == 0 and f"deleted webhook {hooks[1]['id']}" in gone.output
    assert len(json.loads(cli("webhooks", "list", "-p", "lab", "--json").stdout)) == 1


def test_errors_are_one_line(cli: Callable[..., Any], client: Client) -> None:
    client.create_project("lab")
    for args, code, text in [
        (("create", "http://10.0.0.1/x", "-p", "lab"), 2, "10.0.0.1, which is private"),
        (("create", "gopher://x/y", "-p", "lab"), 2, "http:// or https://"),
        (("create", "http://127.0.0.1:9/", "-e", "nope", "-p", "lab"), 2, "unknown event kind"),
        (("deliveries", "--status", "lost", "-p", "lab"), 2, "status must be one of"),
        (("delete", "abc", "-p", "lab"), 4, "does not exist"),
        (("list", "-p", "nowhere"), 4, "nowhere"),
    ]:
        ran = cli("webhooks", *args)
        assert ran.exit_code == code, (args, ran.output)
        assert ran.output.startswith("error: ") and ran.output.count("\n") == 1, ran.output
        assert text in ran.output, ran.output
