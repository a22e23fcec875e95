"""The models pages in Chromium: the models list, a model (versions, status timelines,
alias history, policy, requests with approve and reject for approvers) and a version
(facts, signature, card, evaluations in a sandboxed frame, datasets, run)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from ui_support import PROJECT, UiServer, Watched, critical_violations, pretty

from modelyard.governance import Actor
from modelyard.registry.service import ModelService
from modelyard.sdk.client import Client

if TYPE_CHECKING:
    from playwright.sync_api import Page

EVIL = "<script>window.__owned = 1</script><b>bold</b>"
MODEL = "churn"
ROLES = ("admin", "viewer", "contributor", "approver")


@dataclass(frozen=True)
class Seeded:
    """The server, and the ids of the open requests: version 1 to production (asked by
    ``contributor``) and version 2 to staging (asked by ``approver``)."""

    server: UiServer
    to_production: str
    own_request: str
    evaluation: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def seeded(ui_server: UiServer) -> Seeded:
    """Model ``churn`` in ``demo``: two versions from a run on dataset ``train``, version
    1 evaluated, its card filled in (with markup), alias ``champion`` moved from 1 to 2,
    a policy asking one approval for staging and production, and two open requests."""
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"age": rng.integers(18, 80, 80), "spend": rng.random(80)})
    y = (x["spend"] > 0.5).astype(int)
    with Client(ui_server.settings) as client:
        client.datasets.register("train", x.assign(y=y), project=PROJECT)
        with client.start_run(PROJECT, name="train-churn", capture=False):
            train = client.datasets.load("train", project=PROJECT)
            features = train[["age", "spend"]]
            for c in (0.5, 2.0):
                model = LogisticRegression(C=c).fit(features, train["y"])
                client.models.log(
                    model, MODEL, input_example=features[:3], project=PROJECT, description=EVIL
                )
        evaluation = client.models.evaluate(
            f"{MODEL}/1", x.assign(y=y), "y", project=PROJECT, trusted=()
        )
        client.models.set_card_fields(
            MODEL, 1, project=PROJECT, intended_use=EVIL, limitations="Synthetic rows only."
        )
        client.models.set_alias(MODEL, "champion", 1, project=PROJECT, reason="first good one")
        client.models.set_alias(MODEL, "champion", 2, project=PROJECT, reason=f"better {EVIL}")
        client.models.set_policy(
            {"staging": {"approvals": 1}, "production": {"approvals": 1, "evaluation": True}},
            project=PROJECT,
        )
        registry = client.services.models
        registry.update_model(MODEL, project=PROJECT, description=EVIL)
        users = client.services.governance.users

        def acting(name: str) -> ModelService:
            return registry.acting_as(Actor.of(users.get_user(name).principal()))

        asked = acting("contributor").request_transition(
            MODEL, project=PROJECT, to="production", version=1, comment=f"ship it {EVIL}"
        )
        own = acting("approver").request_transition(
            MODEL, project=PROJECT, to="staging", version=2, comment="try it"
        )
    return Seeded(ui_server, asked.id, own.id, evaluation.id)


def _model_url(seeded: Seeded) -> str:
    return f"{seeded.url}/projects/{PROJECT}/models/{MODEL}"


def test_each_page_loads_for_each_role(seeded: Seeded, signed_in: Callable[[str], Page]) -> None:
    base = f"/projects/{PROJECT}/models"
    for role in ROLES:
        page = signed_in(role)
        for path in (base, f"{base}/{MODEL}", f"{base}/{MODEL}/versions/1"):
            answer = page.goto(seeded.url + path)
            assert answer is not None and answer.status == 200, (role, path)
            assert page.get_by_role("heading", level=1).is_visible()
        page.close()


def test_the_models_list_shows_versions_aliases_and_owners(
    seeded: Seeded, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(f"{seeded.url}/projects/{PROJECT}/models")
    row = page.locator("#models tbody tr", has_text=MODEL)
    assert row.get_by_role("link", name="version 2").is_visible()
    assert "champion → 2" in row.inner_text()
    with Client(seeded.server.settings) as client:
        owners = client.services.models.get_model(MODEL, project=PROJECT).owners
    assert owners and ", ".join(owners) in row.inner_text()


def test_the_model_page_shows_versions_timelines_history_policy_and_checks(
    seeded: Seeded, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(_model_url(seeded))
    first = page.locator("#versions tr[data-version='1']")
    assert first.locator(".status").first.inner_text() == "registered"
    assert first.get_by_role("list", name="Status timeline of version 1").is_visible()
    run_link = first.get_by_role("link", name="train-churn")
    assert run_link.count() == 0  # the run is linked by its id
    assert first.locator(f"a[href^='/projects/{PROJECT}/runs/']").count() == 1
    history = page.locator("#alias-history tbody tr")
    assert history.count() == 2
    assert "1 → 2" in history.first.inner_text() and "first good one" in history.nth(1).inner_text()
    assert "production" in page.locator("pre.policy").inner_text()
    request = page.locator(f"[data-request='{seeded.to_production}']")
    assert "asked by contributor" in request.inner_text().lower()
    checks = request.locator("table.checks tbody tr")
    assert checks.count() >= 1
    assert "passed" in checks.first.inner_text() or "failed" in checks.first.inner_text()


def test_the_version_page_shows_facts_card_evaluation_and_datasets(
    seeded: Seeded, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(f"{_model_url(seeded)}/versions/1")
    assert page.get_by_role("heading", name="Signature").is_visible()
    assert page.get_by_role("cell", name="spend", exact=True).first.is_visible()
    assert page.locator("#card-fields").get_by_text("Synthetic rows only.").is_visible()
    assert page.locator("#datasets").get_by_role("link", name="train").is_visible()
    assert page.locator("table.metrics tbody tr").count() >= 1
    page.get_by_text("The report").click()
    frame = page.locator("iframe.report")
    assert frame.get_attribute("sandbox") == ""
    src = frame.get_attribute("src")
    assert src == f"/api/v1/model-evaluations/{seeded.evaluation}/html"
    report = page.frame_locator("iframe.report").get_by_role("heading", level=1)
    assert MODEL in report.inner_text()  # the frame loaded the report, with the session
    answer = page.request.get(seeded.url + src)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_user_text_renders_as_text(seeded: Seeded, signed_in: Callable[[str], Page]) -> None:
    page = signed_in("viewer")
    for path in ("", f"/{MODEL}", f"/{MODEL}/versions/1"):
        page.goto(f"{seeded.url}/projects/{PROJECT}/models{path}")
        assert page.get_by_text(EVIL).first.is_visible(), path
        assert page.evaluate("window.__owned") is None
        assert page.locator("main b", has_text="bold").count() == 0


@pytest.mark.parametrize("role", ROLES)
def test_the_pages_have_no_critical_accessibility_violation(
    seeded: Seeded, signed_in: Callable[[str], Page], role: str
) -> None:
    page = signed_in(role)
    base = f"/projects/{PROJECT}/models"
    for path in (base, f"{base}/{MODEL}", f"{base}/{MODEL}/versions/1"):
        page.goto(seeded.url + path)
        assert critical_violations(page) == [], pretty((path, critical_violations(page)))


def test_the_viewer_sees_no_decision_and_the_api_refuses_one(
    seeded: Seeded, signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 403")  # the direct call below
    for role in ("viewer", "contributor"):
        page = signed_in(role)
        page.goto(_model_url(seeded))
        assert page.locator(f"[data-request='{seeded.to_production}']").is_visible()
        assert page.get_by_role("button", name="Approve").count() == 0
        assert page.get_by_role("button", name="Reject").count() == 0
    status = page.evaluate(
        "(id) => window.modelyard.api('POST', '/model-requests/' + id + '/approve', "
        "{comment: 'sneaky'}).then(() => 200, (err) => err.status)",
        seeded.to_production,
    )
    assert status == 403


def test_the_requester_may_not_decide_their_own_request(
    seeded: Seeded, signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 403")  # the API's refusal, shown in the form
    page = signed_in("approver")
    page.goto(_model_url(seeded))
    own = page.locator(f"[data-request='{seeded.own_request}']")
    own.get_by_label("Comment").fill("my own")
    with page.expect_response(f"**/model-requests/{seeded.own_request}/approve") as answer:
        own.get_by_role("button", name="Approve").click()
    assert answer.value.status == 403
    error = own.locator("[data-error]")
    error.wait_for()
    message = answer.value.json()["error"]["message"]
    assert error.inner_text() == message and message
    assert own.get_by_role("button", name="Approve").is_enabled()


def test_an_approver_approves_a_request_and_the_status_changes(
    seeded: Seeded, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("approver")
    page.goto(_model_url(seeded))
    request = page.locator(f"[data-request='{seeded.to_production}']")
    request.get_by_label("Comment").fill(f"checked {EVIL}")
    with page.expect_navigation():
        request.get_by_role("button", name="Approve").click()
    assert page.locator(f"[data-request='{seeded.to_production}']").count() == 0
    first = page.locator("#versions tr[data-version='1']")
    assert first.locator("td:nth-child(2) .status").inner_text() == "production"
    timeline = first.get_by_role("list", name="Status timeline of version 1").inner_text()
    assert "registered" in timeline and "production" in timeline
    assert "contributor, approved by approver" in timeline
    page.get_by_text("Closed requests").click()
    closed = page.locator("#closed-requests tbody tr", has_text="registered → production")
    assert "applied" in closed.inner_text() and f"checked {EVIL}" in closed.inner_text()
    assert page.evaluate("window.__owned") is None


def test_an_approver_rejects_a_request_with_a_comment(
    seeded: Seeded, signed_in: Callable[[str], Page]
) -> None:
    with Client(seeded.server.settings) as client:
        users = client.services.governance.users
        contributor = client.services.models.acting_as(
            Actor.of(users.get_user("contributor").principal())
        )
        asked = contributor.request_transition(MODEL, project=PROJECT, to="staging", version=1)
    page = signed_in("admin")
    page.goto(_model_url(seeded))
    request = page.locator(f"[data-request='{asked.id}']")
    request.get_by_label("Comment").fill("not yet")
    with page.expect_navigation():
        request.get_by_role("button", name="Reject").click()
    assert page.locator(f"[data-request='{asked.id}']").count() == 0
    page.get_by_text("Closed requests").click()
    closed = page.locator("#closed-requests tbody tr", has_text="production → staging")
    assert "rejected" in closed.inner_text() and "not yet" in closed.inner_text()


def test_a_model_page_lists_the_newest_versions_only(
    seeded: Seeded, signed_in: Callable[[str], Page], monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.api.ui import pages_models

    monkeypatch.setattr(pages_models, "VERSIONS_SHOWN", 1)
    page = signed_in("viewer")
    page.goto(_model_url(seeded))
    assert page.locator("#versions tbody tr").count() == 1
    assert page.locator("#versions tr[data-version='2']").is_visible()
    assert page.get_by_text("The newest 1 of 2 versions").is_visible()


def test_unknown_models_and_versions_are_friendly_404s(
    seeded: Seeded, signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 404")
    page = signed_in("viewer")
    base = f"/projects/{PROJECT}/models"
    for path in (
        f"{base}/nope",
        f"{base}/nope/versions/1",
        f"{base}/{MODEL}/versions/99",
        f"{base}/{MODEL}/versions/latest",
        "/projects/nope/models",
    ):
        answer = page.goto(seeded.url + path)
        assert answer is not None and answer.status == 404, path
        assert page.get_by_role("heading", name="Not found").is_visible()


def test_an_outsider_is_refused_the_models_pages(
    seeded: Seeded, signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 40")
    page = signed_in("outsider")
    answer = page.goto(_model_url(seeded))
    assert answer is not None and answer.status in (403, 404)
    assert page.locator("#versions").count() == 0
