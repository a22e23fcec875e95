"""Formats that run code when loaded (pickle, packaged source) are allowed per project: a
project admin turns the project's ``registry.allow_code_formats`` on, and only where the
installation's setting of that name is on (the ceiling). Checked at register and at load,
in both SDK modes; the REST routes' roles and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from modelyard.config import Settings, load_settings
from modelyard.errors import InvalidInput
from modelyard.governance import SYSTEM, Governance
from modelyard.sdk.client import Client
from modelyard.store import open_store

SETTING = "registry.allow_code_formats"


class Doubler:
    def predict(self, x: Any) -> Any:
        return np.asarray(x) * 2


@pytest.fixture
def embedded_settings(embedded_settings: Settings) -> Settings:
    """The installation (and its server) allows code formats: the projects decide."""
    registry = embedded_settings.registry.model_copy(update={"allow_code_formats": True})
    return embedded_settings.model_copy(update={"registry": registry})


@pytest.fixture
def closed(tmp_path: Any, store_url: str) -> Iterator[Client]:
    """A client of an installation that does not allow them, on the same store."""
    settings = load_settings(
        home=tmp_path / "closed",
        store={"url": store_url},
        tracking={"system_metrics_interval_s": 0, "capture_packages": False},
    )
    with Client(settings) as client:
        yield client


def test_a_project_allows_code_formats_only_once_its_admin_turns_them_on(client: Client) -> None:
    client.projects.create("lab")
    assert client.projects.settings("lab") == {SETTING: False}
    with client.start_run("lab"), pytest.raises(InvalidInput) as exc:
        client.models.log(Doubler(), "doubler", input_example=np.ones((2, 3)))
    assert exc.value.field == "flavor"
    assert "project 'lab' does not allow them" in exc.value.message
    assert f"modelyard projects set lab {SETTING} true" in exc.value.message
    assert "installation" not in exc.value.message.split(". ")[0]  # that one is on
    assert client.models.list_models("lab") == []  # nothing registered

    assert client.projects.set_setting("lab", SETTING, True) == {SETTING: True}
    with client.start_run("lab"):
        mv = client.models.log(Doubler(), "doubler", input_example=np.ones((2, 3)))
    assert (client.models.load("doubler", project="lab").predict([1, 2]) == [2, 4]).all()
    rows = pd.DataFrame({"a": [1.0, 2.0, 3.0], "t": [2.0, 4.0, 6.0]})
    kept = client.models.evaluate("doubler", rows, "t", project="lab", task="regression")
    assert kept.metrics["rmse"] == 0

    client.projects.create("other")  # another project: its own setting, off
    with client.start_run("other"), pytest.raises(InvalidInput, match="project 'other'"):
        client.models.log(Doubler(), "doubler")

    client.projects.set_setting("lab", SETTING, False)  # turned off: the version stays, unloadable
    with pytest.raises(InvalidInput, match="project 'lab' does not allow them") as exc:
        client.models.load("doubler", project="lab")
    with pytest.raises(InvalidInput, match="project 'lab' does not allow them"):
        client.models.evaluate("doubler", rows, "t", project="lab", task="regression")
    assert client.models.get_version("doubler", project="lab").id == mv.id
    with pytest.raises(InvalidInput) as bad:
        client.projects.set_setting("lab", "registry.nope", True)
    assert bad.value.field == "key" and SETTING in bad.value.message


@pytest.mark.local_only("two installations over one store: their settings differ")
def test_the_installation_is_the_ceiling_at_set_register_and_load(
    client: Client, closed: Client
) -> None:
    closed.projects.create("lab")
    with pytest.raises(InvalidInput) as exc:
        closed.projects.set_setting("lab", SETTING, True)
    assert exc.value.field == "value"
    assert f"the installation's setting {SETTING} is off" in exc.value.message
    assert closed.projects.settings("lab") == {SETTING: False}

    client.projects.set_setting("lab", SETTING, True)  # where the installation allows it
    with client.start_run("lab"):
        client.models.log(Doubler(), "doubler")
    assert closed.projects.settings("lab") == {SETTING: True}
    for doing in (
        lambda: closed.models.load("doubler", project="lab"),
        lambda: closed.models.service.check_register(
            "doubler", project="lab", flavor="python_function"
        ),
    ):
        with pytest.raises(InvalidInput) as refused:
            doing()
        assert f"the installation's setting {SETTING} is off" in refused.value.message
        assert "project 'lab' does not allow" not in refused.value.message


@pytest.mark.local_only("acts as other users over HTTP with their own tokens")
def test_only_a_project_admin_changes_its_settings_over_rest(
    embedded_settings: Settings, served: str, admin_token: str
) -> None:
    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    gov = Governance(store)
    tokens = {}
    for name in ("ada", "cy", "out"):
        gov.users.create_service_account(name, actor=SYSTEM)
        tokens[name] = gov.tokens.create(name, "t", actor=SYSTEM).secret

    def api(token: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=served + "/api/v1", headers=headers, timeout=30)

    path = f"/projects/lab/settings/{SETTING}"
    try:
        with api(admin_token) as admin:
            assert admin.post("/projects", json={"name": "lab"}).status_code == 201
        for name, role in (("ada", "admin"), ("cy", "contributor")):
            gov.roles.grant("lab", name, role, actor=SYSTEM)
        with api(tokens["cy"]) as contributor:
            assert contributor.get("/projects/lab/settings").json() == {
                "settings": {SETTING: False}
            }
            refused = contributor.put(path, json={"value": True})
            assert refused.status_code == 403, refused.text
        with api(tokens["out"]) as outsider:
            assert outsider.put(path, json={"value": True}).status_code == 404
        with api(tokens["ada"]) as admin:
            answer = admin.put(path, json={"value": True})
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"settings": {SETTING: True}}
            wrong = admin.put(path, json={"value": "maybe"})
            assert wrong.status_code == 422
            unknown = admin.put("/projects/lab/settings/registry.nope", json={"value": True})
            assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "key"
        changes = [
            (e.actor, e.summary)
            for e in gov.audit.list_events(actor=SYSTEM, limit=100)
            if e.action == "project.setting_changed"
        ]
        assert changes == [("ada", f"{SETTING} = true")]
    finally:
        store.dispose()
