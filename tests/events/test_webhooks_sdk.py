"""``client.webhooks`` in both SDK modes (embedded, and through a server over the same
store): one contract, the same answers and errors; the REST routes and their rights."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pyarrow as pa
import pytest
from receiver import Receiver

from modelyard.config import Settings
from modelyard.errors import InvalidInput, NotFound
from modelyard.events.delivery import Deliverer
from modelyard.governance import SYSTEM, Governance
from modelyard.sdk.client import Client
from modelyard.store import open_store


@pytest.fixture
def sdk(settings_in_mode: Settings) -> Iterator[Client]:
    with Client(settings_in_mode) as c:
        yield c


def test_webhooks_through_the_sdk(
    sdk: Client, client: Client, receiver: Callable[..., Receiver]
) -> None:
    got = receiver(answers=[500])
    client.create_project("lab")
    made = sdk.webhooks.create("lab", got.url, events=["dataset.version_created"])
    assert made.secret is not None and made.events == ["dataset.version_created"]
    [listed] = sdk.webhooks.list_webhooks("lab")
    assert listed.id == made.id and listed.secret is None and listed.url == got.url
    client.dataset_service.register("d", pa.table({"x": [1]}), project="lab")
    Deliverer(client.services.webhooks, worker="w", timeout_s=2).run_pass()
    [failed] = sdk.webhooks.deliveries("lab", webhook_id=made.id)
    assert (failed.status, failed.attempts, failed.last_status) == ("pending", 1, 500)
    assert sdk.webhooks.deliveries("lab", status="delivered") == []
    again = sdk.webhooks.redeliver("lab", failed.id)
    assert (again.id, again.attempts, again.status) == (failed.id, 0, "pending")
    with pytest.raises(InvalidInput) as exc:
        sdk.webhooks.create("lab", "ftp://example.com/x", events=["*"])
    assert exc.value.field == "url"
    with pytest.raises(InvalidInput) as exc:
        sdk.webhooks.create("lab", got.url, events=["model.exploded"])
    assert exc.value.field == "events"
    with pytest.raises(NotFound):
        sdk.webhooks.redeliver("lab", "0" * 32)
    sdk.webhooks.delete("lab", made.id)
    assert sdk.webhooks.list_webhooks("lab") == []
    with pytest.raises(NotFound):
        sdk.webhooks.delete("lab", made.id)


def test_only_a_project_admin_manages_its_webhooks(
    served: str, admin_token: str, embedded_settings: Settings, receiver: Callable[..., Receiver]
) -> None:
    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    try:
        gov = Governance(store)
        tokens = {}
        roles = {"vic": "viewer", "cara": "contributor", "ada": "admin"}
        for name in roles:
            gov.users.create_user(name, "correct-horse-battery-staple-42", actor=SYSTEM)
            tokens[name] = gov.tokens.create(name, "t", actor=SYSTEM).secret
        with httpx.Client(base_url=served + "/api/v1", timeout=30) as api:
            root = {"Authorization": f"Bearer {admin_token}"}
            assert api.post("/projects", json={"name": "lab"}, headers=root).status_code == 201
            for name, role in [("vic", "viewer"), ("cara", "contributor"), ("ada", "admin")]:
                granted = api.put(
                    f"/projects/lab/members/{name}", json={"role": role}, headers=root
                )
                assert granted.status_code == 200, granted.text
            body = {"url": receiver().url, "events": ["*"]}
            for name in ("vic", "cara"):
                who = {"Authorization": f"Bearer {tokens[name]}"}
                refused = api.post("/projects/lab/webhooks", json=body, headers=who)
                assert refused.status_code == 403, refused.text
                assert api.get("/projects/lab/webhooks", headers=who).status_code == 403
                deliveries = api.get("/projects/lab/webhook-deliveries", headers=who)
                assert deliveries.status_code == 403
            ada = {"Authorization": f"Bearer {tokens['ada']}"}
            made = api.post("/projects/lab/webhooks", json=body, headers=ada)
            assert made.status_code == 201, made.text
            assert made.json()["secret"].startswith("whsec_")
            listed = api.get("/projects/lab/webhooks", headers=ada).json()["items"]
            assert [w["secret"] for w in listed] == [None]
            bad = api.post(
                "/projects/lab/webhooks",
                json={"url": "http://10.0.0.1/x", "events": ["*"]},
                headers=ada,
            )
            assert bad.status_code == 422 and "private" in bad.json()["error"]["message"]
            gone = api.delete(f"/projects/lab/webhooks/{made.json()['id']}", headers=ada)
            assert gone.status_code == 204
            outsider = api.get("/projects/nowhere/webhooks", headers=ada)
            assert outsider.status_code == 404
    finally:
        store.dispose()
