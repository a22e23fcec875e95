"""Costs and budgets over HTTP: the role ladder (a viewer reads costs and budgets, only an
admin of the project sets or deletes a budget), bad input as 422 naming the field, and
the JSON of a figure."""

from __future__ import annotations

import httpx
import pytest

from modelyard.governance import SYSTEM, Governance


@pytest.fixture
def lab(api: httpx.Client) -> httpx.Client:
    assert api.post("/projects", json={"name": "lab"}).status_code == 201
    return api


def _as(api: httpx.Client, governance: Governance, name: str, role: str) -> dict[str, str]:
    account = governance.users.create_service_account(name, actor=SYSTEM)
    governance.roles.grant("lab", name, role, actor=SYSTEM)
    token = governance.tokens.create(account.username, "t", actor=SYSTEM).secret
    return {"Authorization": f"Bearer {token}"}


def test_the_role_ladder_of_budgets(lab: httpx.Client, governance: Governance) -> None:
    viewer = _as(lab, governance, "vera", "viewer")
    contributor = _as(lab, governance, "carl", "contributor")
    made = lab.put("/projects/lab/budgets/serving", json={"amount": 25, "thresholds": [0.9]})
    assert made.status_code == 200, made.text
    assert {k: made.json()[k] for k in ("scope", "amount", "thresholds", "spent")} == {
        "scope": "serving",
        "amount": 25.0,
        "thresholds": [0.9],
        "spent": 0.0,
    }
    for headers in (viewer, contributor):
        listed = lab.get("/projects/lab/budgets", headers=headers)
        assert listed.status_code == 200 and [b["scope"] for b in listed.json()] == ["serving"]
        refused = lab.put("/projects/lab/budgets/all", json={"amount": 5}, headers=headers)
        assert refused.status_code == 403, refused.text
        gone = lab.delete("/projects/lab/budgets/serving", headers=headers)
        assert gone.status_code == 403, gone.text
    assert lab.delete("/projects/lab/budgets/serving").status_code == 204
    assert lab.get("/projects/lab/budgets").json() == []


def test_bad_input_is_422_naming_the_field(lab: httpx.Client) -> None:
    for scope, body, field in (
        ("all", {"amount": -3}, "amount"),
        ("all", {"amount": 3, "thresholds": [0.5, 10.5]}, "thresholds"),
        ("all", {"amount": 3, "thresholds": [0.8, 0.5]}, "thresholds"),
        ("gpus", {"amount": 3}, "scope"),
    ):
        answer = lab.put(f"/projects/lab/budgets/{scope}", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == field
    unknown = lab.get("/projects/lab/deployments/nope/cost")
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "deployment"
    series = lab.get("/projects/lab/deployments/nope/cost/series", params={"unit": "week"})
    assert series.status_code == 422 and series.json()["error"]["field"] == "unit"
