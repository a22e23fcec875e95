"""The outbox: each registry and dataset change writes its event in its own transaction,
with a pending delivery for each webhook of the project subscribed to the kind."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from receiver import Receiver
from sqlalchemy import select

from modelyard.errors import InvalidInput
from modelyard.events import EVENT_KINDS, emit
from modelyard.events.service import WebhookService
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.registry import service as registry_service
from modelyard.sdk.client import Client
from modelyard.store.tables import events, model_versions, webhook_deliveries


def _files(folder: Path, content: bytes) -> Path:
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.skops").write_bytes(content)
    return folder


def _events(client: Client) -> list[tuple[str, dict[str, object]]]:
    with client.store.read() as conn:
        rows = conn.execute(
            select(events.c.kind, events.c.payload).order_by(events.c.created_at, events.c.id)
        )
        return [(kind, json.loads(payload)) for kind, payload in rows]


def _deliveries(client: Client) -> list[tuple[str, str]]:
    with client.store.read() as conn:
        rows = conn.execute(
            select(webhook_deliveries.c.webhook_id, events.c.kind)
            .join(events, events.c.id == webhook_deliveries.c.event_id)
            .order_by(events.c.created_at)
        )
        return [(hook, kind) for hook, kind in rows]


def test_registry_and_dataset_changes_write_their_events(
    client: Client, hooks: WebhookService, tmp_path: Path, receiver: Callable[..., Receiver]
) -> None:
    client.create_project("lab")
    url = receiver().url
    models_hook = hooks.create("lab", url, events=["model.version_created", "model.alias_moved"])
    every_hook = hooks.create("lab", url, events=["*"])
    service = client.models.service
    first = service.register("m", _files(tmp_path / "a", b"1"), project="lab", flavor="sklearn")
    service.register("m", _files(tmp_path / "b", b"1"), project="lab", flavor="sklearn")  # same
    service.set_alias("m", "champion", 1, project="lab", reason="first")
    service.delete_alias("m", "champion", project="lab")
    data = client.dataset_service.register("d", pa.table({"x": [1, 2]}), project="lab")

    kinds = sorted(kind for kind, _ in _events(client))
    assert kinds == [  # the same files again are the same version: no second event
        "dataset.version_created",
        "model.alias_deleted",
        "model.alias_moved",
        "model.version_created",
    ]
    payloads = dict(_events(client))
    assert payloads["model.version_created"] == {
        "model": "m",
        "version": 1,
        "version_id": first.id,
        "flavor": "sklearn",
        "tree_digest": first.tree_digest,
        "run_id": None,
        "created_by": first.created_by,
    }
    assert payloads["model.alias_moved"] == {
        "model": "m",
        "alias": "champion",
        "from_version": None,
        "to_version": 1,
        "moved_by": first.created_by,
        "reason": "first",
    }
    assert payloads["model.alias_deleted"]["to_version"] is None
    assert payloads["model.alias_deleted"]["from_version"] == 1
    assert payloads["dataset.version_created"]["version_id"] == data.id
    assert payloads["dataset.version_created"]["rows"] == 2
    assert sorted(_deliveries(client)) == sorted(
        [
            (models_hook.id, "model.version_created"),
            (every_hook.id, "model.version_created"),
            (models_hook.id, "model.alias_moved"),
            (every_hook.id, "model.alias_moved"),
            (every_hook.id, "model.alias_deleted"),
            (every_hook.id, "dataset.version_created"),
        ]
    )


def test_an_event_that_cannot_be_written_leaves_no_change(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> str:
        raise InvalidInput("the outbox refused it", field="payload")

    monkeypatch.setattr(registry_service, "emit", broken)
    with pytest.raises(InvalidInput, match="the outbox refused it"):
        client.models.service.register(
            "m", _files(tmp_path / "a", b"1"), project="lab", flavor="sklearn"
        )
    with client.store.read() as conn:
        assert conn.execute(select(model_versions.c.id)).all() == []
    assert _events(client) == []


def test_an_event_rolled_back_with_its_transaction_is_not_delivered(client: Client) -> None:
    client.create_project("lab")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), client.store.write() as conn:
        emit(conn, "lab", "model.status_changed", {"model": "m"})
        raise Boom
    assert _events(client) == []


def test_unknown_kinds_and_payloads_that_are_not_json_are_refused(client: Client) -> None:
    client.create_project("lab")
    with client.store.write() as conn:
        with pytest.raises(InvalidInput) as exc:
            emit(conn, "lab", "model.exploded", {})
        assert exc.value.field == "kind"
        with pytest.raises(InvalidInput) as exc:
            emit(conn, "lab", "model.status_changed", {"x": float("nan")})
        assert exc.value.field == "payload"


def test_every_kind_is_documented_in_the_webhooks_page() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    for kind in EVENT_KINDS:
        assert f"`{kind}`" in page, kind


def test_status_changes_requests_and_decisions_write_their_events(
    client: Client, tmp_path: Path
) -> None:
    client.create_project("lab")
    governance = Governance(client.store)
    reviewer = governance.users.create_service_account("reviewer", actor=SYSTEM)
    governance.roles.grant("lab", "reviewer", "approver", actor=SYSTEM)
    as_reviewer = client.services.models.acting_as(Actor.of(reviewer.principal()))
    service = client.models.service
    mv = service.register("m", _files(tmp_path / "a", b"1"), project="lab", flavor="sklearn")
    service.set_policy({"production": {"approvals": 1}}, project="lab")

    asked = service.request_transition("m", project="lab", to="production", version=1)
    as_reviewer.approve(asked.id, comment="ok")
    service.request_transition("m", project="lab", to="archived", version=1)
    service.request_transition("m", project="lab", to="retired", version=1, comment="old")

    lifecycle = [(k, p) for k, p in _events(client) if k != "model.version_created"]
    about = {"model": "m", "version": 1, "version_id": mv.id}
    me = mv.created_by
    # Events of one transaction share a millisecond: compare them by kind, not by order.
    assert sorted(k for k, _ in lifecycle) == sorted(
        ["model.transition_requested"] * 3
        + ["model.transition_approved"]
        + ["model.status_changed"] * 3
        + ["model.version_retired"]
    )
    requested = {p["to_status"]: p for k, p in lifecycle if k == "model.transition_requested"}
    changed = {p["to_status"]: p for k, p in lifecycle if k == "model.status_changed"}
    by_kind = dict(lifecycle)
    assert requested["production"] == about | {
        "request_id": asked.id,
        "from_status": "registered",
        "to_status": "production",
        "state": "open",
        "requested_by": me,
        "comment": "",
    }
    assert by_kind["model.transition_approved"] == about | {
        "request_id": asked.id,
        "to_status": "production",
        "approved_by": "reviewer",
        "comment": "ok",
    }
    assert changed["production"] == about | {
        "from_status": "registered",
        "to_status": "production",
        "changed_by": "reviewer",
        "reason": f"request {asked.id}",
    }
    assert requested["archived"]["state"] == "applied"
    assert by_kind["model.version_retired"] == about | {
        "retired_by": me,
        "reason": changed["retired"]["reason"],
    }
