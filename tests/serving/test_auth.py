"""Tokens on the inference server: checked once against the store (embedded) or the
control plane (remote), remembered for a few seconds, revoked within that time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from serving_support import PROJECT, Constant, DictLabels, DictPlans, deployment, pool_of, route

from modelyard.config import Settings
from modelyard.errors import NotFound
from modelyard.governance import SYSTEM, Governance
from modelyard.sdk.client import Client
from modelyard.serving._auth import ControlPlaneTokens, StoreTokens, TokenCache
from server_support import LiveServer

ROW = {"records": [{"x1": 0.5, "x2": -1.0}]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting:
    def __init__(self, verify: Any) -> None:
        self.verify = verify
        self.calls = 0

    def __call__(self, token: str, project: str, deployment: str, role: str) -> None:
        self.calls += 1
        self.verify(token, project, deployment, role)


@pytest.fixture
def governance(embedded_settings: Settings) -> Iterator[Governance]:
    with Client(embedded_settings) as client:
        try:
            client.get_project(PROJECT)
        except NotFound:
            client.create_project(PROJECT)
        yield client.services.governance


def _token(governance: Governance, name: str, role: str | None) -> tuple[str, str]:
    governance.users.create_service_account(name, actor=SYSTEM)
    if role is not None:
        governance.roles.grant(PROJECT, name, role, actor=SYSTEM)
    new = governance.tokens.create(name, "serving", actor=SYSTEM)
    return new.secret, new.token.id


def test_a_token_with_a_role_predicts_others_are_refused_and_a_revoked_one_stops(
    serve, governance: Governance
) -> None:
    good, good_id = _token(governance, "predict-bot", "viewer")
    stranger, _ = _token(governance, "stranger", None)
    clock = Clock()
    verify = Counting(StoreTokens(governance))
    auth = TokenCache(verify, ttl_s=5.0, clock=clock)
    s = serve(
        DictPlans(deployment("d", [route("m", 1)])),
        pool_of(("m", 1, Constant(1))),
        auth=auth,
        labels=DictLabels(),
    )
    url = f"{s.url}/v1/deployments/d/predict"
    with httpx.Client(timeout=10) as http:
        r = http.post(url, json=ROW)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["error"]["field"] == "Authorization"
        r = http.post(f"{s.url}/v1/deployments/hidden/predict", json=ROW)
        assert r.status_code == 401  # without a token, no deployment name can be probed
        r = http.post(url, json=ROW, headers={"Authorization": f"Basic {good}"})
        assert r.status_code == 401
        r = http.post(url, json=ROW, headers={"Authorization": "Bearer my_nope"})
        assert r.status_code == 401
        r = http.post(url, json=ROW, headers={"Authorization": f"Bearer {stranger}"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
        listed = http.get(
            f"{s.url}/v1/deployments", headers={"Authorization": f"Bearer {stranger}"}
        )
        assert listed.json()["deployments"] == []  # only what the token may use is shown
        calls = verify.calls
        bearer = {"Authorization": f"Bearer {good}"}
        for _ in range(20):
            assert http.post(url, json=ROW, headers=bearer).status_code == 200
        assert verify.calls == calls + 1  # steady state: no store call per request
        listed = http.get(f"{s.url}/v1/deployments", headers=bearer).json()["deployments"]
        assert [d["name"] for d in listed] == ["d"]
        assert http.get(f"{s.url}/healthz").status_code == 200  # operations stay open
        label = {"labels": [{"prediction_id": "a" * 32, "label": 1}]}
        r = http.post(f"{s.url}/v1/deployments/d/labels", json=label, headers=bearer)
        assert r.status_code == 403  # labels need a contributor
        writer, _ = _token(governance, "label-bot", "contributor")
        r = http.post(
            f"{s.url}/v1/deployments/d/labels",
            json=label,
            headers={"Authorization": f"Bearer {writer}"},
        )
        assert r.status_code == 200
        governance.tokens.revoke(good_id, actor=SYSTEM)
        clock.now += 5.1  # the cached answer expires: the revocation is seen
        r = http.post(url, json=ROW, headers=bearer)
        assert r.status_code == 401


def _control_plane(allowed: dict[str, int]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode()
        status = 404
        if scope["path"] == f"/api/v1/projects/{PROJECT}/deployments/d":
            status = allowed.get(header.removeprefix("Bearer "), 401)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def test_remote_tokens_ask_the_control_plane_and_keep_its_answer_while_it_is_down(
    serve,
) -> None:
    control = LiveServer(_control_plane({"good": 200, "viewer-elsewhere": 403})).start()
    clock = Clock()
    tokens = ControlPlaneTokens(control.url)
    auth = TokenCache(tokens, ttl_s=5.0, clock=clock)
    s = serve(
        DictPlans(deployment("d", [route("m", 1)])), pool_of(("m", 1, Constant(1))), auth=auth
    )
    url = f"{s.url}/v1/deployments/d/predict"
    try:
        with httpx.Client(timeout=10) as http:
            ok = http.post(url, json=ROW, headers={"Authorization": "Bearer good"})
            assert ok.status_code == 200
            denied = http.post(url, json=ROW, headers={"Authorization": "Bearer viewer-elsewhere"})
            assert denied.status_code == 403
            assert (
                http.post(url, json=ROW, headers={"Authorization": "Bearer x"}).status_code == 401
            )
            control.stop()
            clock.now += 60  # expired, and the control plane cannot be asked: answers stand
            assert (
                http.post(url, json=ROW, headers={"Authorization": "Bearer good"}).status_code
                == 200
            )
            new = http.post(url, json=ROW, headers={"Authorization": "Bearer never-seen"})
            assert new.status_code == 503 and new.json()["error"]["code"] == "storage_error"
    finally:
        tokens.close()
        control.stop()
