"""Deliveries to a real receiver on 127.0.0.1 (allowed by name): signed, retried with
backoff, dead after the last attempt, sent again by hand, never redirected; the claiming
rule leases each delivery to one worker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest
from cryptography.fernet import Fernet
from events_support import hook_settings
from receiver import Receiver

from modelyard._util import now_ms
from modelyard.errors import InvalidInput, NotFound, PermissionDenied
from modelyard.events.delivery import Deliverer, sign, verify
from modelyard.events.service import WebhookService
from modelyard.governance import SYSTEM, Actor, Governance, SecretBox
from modelyard.sdk.client import Client


def _dataset(client: Client, name: str = "d") -> None:
    client.dataset_service.register(name, pa.table({"x": [1, 2, 3]}), project="lab")


def _until(deliverer: Deliverer, done: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the delivery did not settle"
        deliverer.run_pass()
        time.sleep(0.02)


def test_a_delivery_is_signed_and_reaches_the_receiver(
    client: Client, hooks: WebhookService, receiver: Callable[..., Receiver]
) -> None:
    got = receiver()
    client.create_project("lab")
    made = hooks.create("lab", got.url, events=["dataset.version_created"])
    assert made.secret is not None and made.secret.startswith("whsec_")
    assert all(h.secret is None for h in hooks.list_webhooks("lab"))  # shown once
    _dataset(client)
    assert Deliverer(hooks, worker="w", timeout_s=2).run_pass() == 1
    [request] = got.wait_for(1)
    [delivery] = hooks.deliveries("lab")
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["modelyard-delivery"] == delivery.id
    assert headers["modelyard-event"] == "dataset.version_created"
    assert headers["host"] == got.url.split("/")[2]
    assert headers["modelyard-signature"] == sign(
        made.secret, delivery.id, int(headers["modelyard-timestamp"]), request.body
    )
    assert verify(
        made.secret,
        headers["modelyard-delivery"],
        headers["modelyard-timestamp"],
        request.body,
        headers["modelyard-signature"],
    )
    assert not verify(
        "whsec_other",
        delivery.id,
        headers["modelyard-timestamp"],
        request.body,
        headers["modelyard-signature"],
    )
    assert not verify(
        made.secret,
        delivery.id,
        headers["modelyard-timestamp"],
        request.body + b" ",
        headers["modelyard-signature"],
    )
    old = int(headers["modelyard-timestamp"]) - 3600
    assert not verify(
        made.secret,
        delivery.id,
        old,
        request.body,
        sign(made.secret, delivery.id, old, request.body),
    )
    event = json.loads(request.body)
    assert (event["kind"], event["project"], event["id"]) == (
        "dataset.version_created",
        "lab",
        delivery.event_id,
    )
    assert event["payload"]["dataset"] == "d" and event["payload"]["rows"] == 3


def test_a_failed_attempt_is_retried_under_the_same_delivery_id(
    client: Client, hooks: WebhookService, receiver: Callable[..., Receiver]
) -> None:
    got = receiver(answers=[500, 503])
    client.create_project("lab")
    hooks.create("lab", got.url, events=["*"])
    _dataset(client)
    deliverer = Deliverer(hooks, worker="w", timeout_s=2)
    _until(deliverer, lambda: hooks.deliveries("lab")[0].status == "delivered")
    requests = got.wait_for(3)
    assert len({r.headers["Modelyard-Delivery"] for r in requests}) == 1
    [delivery] = hooks.deliveries("lab")
    assert delivery.attempts == 3 and delivery.last_error is None


def test_after_the_last_attempt_a_delivery_is_dead_until_sent_again_by_hand(
    tmp_path: Path, store_url: str, receiver: Callable[..., Receiver]
) -> None:
    got = receiver(answers=[500, 500])
    with Client(hook_settings(tmp_path, store_url, max_attempts=2)) as client:
        hooks = client.services.webhooks
        client.create_project("lab")
        hooks.create("lab", got.url, events=["*"])
        _dataset(client)
        deliverer = Deliverer(hooks, worker="w", timeout_s=2)
        _until(deliverer, lambda: hooks.deliveries("lab")[0].status == "dead")
        [dead] = hooks.deliveries("lab", status="dead")
        assert (dead.attempts, dead.last_status, dead.last_error) == (2, 500, "HTTP 500")
        assert hooks.deliveries("lab", status="pending") == []
        assert deliverer.run_pass() == 0  # nothing more is sent on its own
        again = hooks.redeliver("lab", dead.id)
        assert (again.id, again.status, again.attempts) == (dead.id, "pending", 0)
        _until(deliverer, lambda: hooks.deliveries("lab")[0].status == "delivered")
        ids = [r.headers["Modelyard-Delivery"] for r in got.wait_for(3)]
        assert ids == [dead.id] * 3


def test_a_redirect_is_not_followed(
    client: Client, hooks: WebhookService, receiver: Callable[..., Receiver]
) -> None:
    elsewhere = receiver()
    got = receiver(answers=[302], redirect_to=elsewhere.url)
    client.create_project("lab")
    hooks.create("lab", got.url, events=["*"])
    _dataset(client)
    Deliverer(hooks, worker="w", timeout_s=2).run_pass()
    [delivery] = hooks.deliveries("lab")
    assert delivery.status == "pending" and delivery.last_status == 302
    assert "redirect" in (delivery.last_error or "") and "not followed" in (
        delivery.last_error or ""
    )
    assert elsewhere.received == []


def test_a_slack_webhook_gets_one_line_of_text(
    client: Client, hooks: WebhookService, receiver: Callable[..., Receiver]
) -> None:
    got = receiver()
    client.create_project("lab")
    made = hooks.create("lab", got.url, events=["dataset.version_created"], format="slack")
    _dataset(client)
    Deliverer(hooks, worker="w", timeout_s=2).run_pass()
    [request] = got.wait_for(1)
    body = json.loads(request.body)
    assert list(body) == ["text"]
    assert body["text"].startswith("[lab] dataset d version 1 registered (3 rows) by ")
    assert made.secret is not None
    assert verify(
        made.secret,
        request.headers["Modelyard-Delivery"],
        request.headers["Modelyard-Timestamp"],
        request.body,
        request.headers["Modelyard-Signature"],
    )


def test_the_backoff_doubles_with_jitter_up_to_its_cap(hooks: WebhookService) -> None:
    hooks.backoff_s, hooks.max_backoff_s = 10.0, 60.0
    for attempts, full in [(1, 10_000), (2, 20_000), (3, 40_000), (4, 60_000), (9, 60_000)]:
        waits = {hooks.backoff_ms(attempts) for _ in range(50)}
        assert all(full // 2 <= w <= full for w in waits), (attempts, waits)
        assert len(waits) > 1  # jitter


def test_a_delivery_is_leased_to_one_worker_and_taken_over_after_its_lease(
    client: Client, hooks: WebhookService
) -> None:
    now = [now_ms() + 1000]  # the events are due
    hooks.clock = lambda: now[0]
    client.create_project("lab")
    hooks.create("lab", "http://127.0.0.1:9/x", events=["*"])
    _dataset(client, "a")
    _dataset(client, "b")
    [first] = hooks.claim(worker="a", lease_s=10, limit=1)
    [second] = hooks.claim(worker="b", lease_s=60, limit=5)
    assert first.delivery_id != second.delivery_id
    assert hooks.claim(worker="c", lease_s=10) == []  # both are held
    now[0] += 11_000  # worker a stopped: its lease expired, b's has not
    [again] = hooks.claim(worker="c", lease_s=10, project="lab")
    assert (again.delivery_id, again.attempt, again.event) == (first.delivery_id, 2, first.event)
    assert hooks.record_attempt(again.delivery_id, worker="a", delivered=True) is None  # too late
    assert hooks.record_attempt(again.delivery_id, worker="c", delivered=True) == "delivered"
    assert hooks.claim(worker="d", lease_s=10, project="other") == []


def test_webhooks_are_listed_deleted_and_checked(
    client: Client, hooks: WebhookService, receiver: Callable[..., Receiver]
) -> None:
    client.create_project("lab")
    url = receiver().url
    a = hooks.create("lab", url, events=["model.alias_moved", "model.version_created"])
    b = hooks.create("lab", url, events=["*"], format="slack")
    assert [(h.id, h.events, h.format) for h in hooks.list_webhooks("lab")] == [
        (a.id, ["model.alias_moved", "model.version_created"], "json"),
        (b.id, ["*"], "slack"),
    ]
    _dataset(client)
    hooks.delete("lab", b.id)
    assert [h.id for h in hooks.list_webhooks("lab")] == [a.id]
    assert hooks.deliveries("lab") == []  # b's went with it
    for kwargs, field in [
        ({"events": []}, "events"),
        ({"events": "model.alias_moved"}, "events"),
        ({"events": ["model.exploded"]}, "events"),
        ({"events": ["*"], "format": "xml"}, "format"),
    ]:
        with pytest.raises(InvalidInput) as exc:
            hooks.create("lab", url, **kwargs)  # type: ignore[arg-type]
        assert exc.value.field == field
    with pytest.raises(NotFound):
        hooks.delete("lab", b.id)
    with pytest.raises(NotFound):
        hooks.create("nowhere", url, events=["*"])
    with pytest.raises(NotFound):
        hooks.redeliver("lab", "0" * 32)
    with pytest.raises(InvalidInput):
        hooks.deliveries("lab", status="lost")
    with pytest.raises(InvalidInput):
        hooks.deliveries("lab", limit=0)


def test_workers_claiming_at_once_never_hold_the_same_delivery(
    client: Client, hooks: WebhookService
) -> None:
    client.create_project("lab")
    for _ in range(3):
        hooks.create("lab", "http://127.0.0.1:9/x", events=["*"])
    for name in "abcdefgh":
        _dataset(client, name)  # 8 events, 24 deliveries
    barrier = threading.Barrier(4)

    def claim(worker: str) -> list[str]:
        barrier.wait(timeout=30)
        taken: list[str] = []
        while jobs := hooks.claim(worker=worker, lease_s=60, limit=3):
            taken += [job.delivery_id for job in jobs]
        return taken

    with ThreadPoolExecutor(4) as pool:
        claimed = list(pool.map(claim, ["w1", "w2", "w3", "w4"]))
    everything = [d for each in claimed for d in each]
    assert len(everything) == len(set(everything)) == 24


def test_only_a_project_admin_manages_webhooks_and_no_name_is_resolved_for_others(
    client: Client, hooks: WebhookService
) -> None:
    gov = Governance(client.store)
    client.create_project("lab")
    users = {
        name: gov.users.create_service_account(name, actor=SYSTEM)
        for name in ("vic", "cara", "ada", "eve")
    }
    for name, role in [("vic", "viewer"), ("cara", "contributor"), ("ada", "admin")]:
        gov.roles.grant("lab", name, role, actor=SYSTEM)
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.215.14"]

    hooks.resolve = resolve
    url = "https://hooks.example.com/x"
    for name in ("vic", "cara", "eve"):
        as_user = hooks.acting_as(Actor.of(users[name].principal()))
        refused = NotFound if name == "eve" else PermissionDenied
        with pytest.raises(refused):
            as_user.create("lab", url, events=["*"])
        with pytest.raises(refused):
            as_user.list_webhooks("lab")
        with pytest.raises(refused):
            as_user.deliveries("lab")
    assert asked == []  # nothing was resolved for them
    ada = hooks.acting_as(Actor.of(users["ada"].principal()))
    made = ada.create("lab", url, events=["*"])
    assert made.created_by == "ada" and asked == ["hooks.example.com"]
    actions = [e.action for e in gov.audit.list_events(actor=SYSTEM, limit=100)]
    assert "webhook.created" in actions


def test_a_secret_no_key_opens_fails_the_attempt_and_is_said(
    client: Client, hooks: WebhookService
) -> None:
    client.create_project("lab")
    hooks.create("lab", "http://127.0.0.1:9/x", events=["*"])
    _dataset(client)
    hooks.secret_box = SecretBox(Fernet.generate_key())  # the server key was replaced
    assert hooks.claim(worker="w", lease_s=10) == []
    [delivery] = hooks.deliveries("lab")
    assert delivery.status == "pending" and delivery.attempts == 1
    assert "cannot be decrypted" in str(delivery.last_error)
