"""``client.costs`` and ``my.costs`` in both SDK modes: embedded, and through a live
server (the ``remote`` marker: the REST routes and RemoteCosts), with the same results
and the same typed errors naming the field."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelyard as my
from modelyard.config import Settings
from modelyard.errors import InvalidInput, NotFound
from modelyard.sdk.client import Client
from modelyard.serving.rollouts import LATENCY_BUCKETS_MS, ServingReport, VersionStats


@pytest.fixture
def client(settings_in_mode: Settings, tmp_path: Path) -> Iterator[Client]:
    """Project ``lab``: model ``churn`` version 1 (staging) trained by a run that cost 0.25,
    deployment ``api`` all to it."""
    with Client(settings_in_mode) as client:
        client.projects.create("lab")
        run = client.tracking.create_run("lab", name="fit")
        client.tracking.end_run(run.id, "finished", cost=0.25)
        folder = tmp_path / "v1"
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "model.skops").write_bytes(b"model 1")
        models = client.model_service
        models.register("churn", folder, project="lab", flavor="sklearn", run_id=run.id)
        models.request_transition("churn", project="lab", to="staging", version=1)
        client.deployments.create("api", "churn/1", project="lab")
        yield client


def _report(client: Client) -> None:
    version_id = client.deployments.get("api", project="lab").plan.champion.version_id
    assert version_id is not None
    latency = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    latency[0] = 40
    now = int(time.time() * 1000)
    client.deployments.report(
        "lab",
        ServingReport(
            "s1",
            now - 5000,
            now - 1000,
            (VersionStats("api", version_id, 40, 0, tuple(latency)),),
            cpu_s=36.0,
            memory_byte_s=1024.0**3 * 360,
        ),
    )


def test_costs_and_budgets_through_the_sdk(client: Client) -> None:
    _report(client)
    costs = client.costs
    (figure,) = costs.serving_cost("api", project="lab")
    assert (figure.subject_kind, figure.subject, figure.predictions) == ("deployment", "api", 40)
    assert (figure.cpu_s, figure.gib_hours) == (36.0, pytest.approx(0.1))
    prices = client.settings.cost
    assert figure.cost == pytest.approx(0.01 * prices.cpu_hour + 0.1 * prices.gb_hour)
    assert figure.per_1000 == pytest.approx(figure.cost / 40 * 1000)
    (version,) = costs.serving_cost("api", project="lab", by_version=True)
    assert (version.subject_kind, version.subject) == ("model_version", "churn/1")
    trained = costs.training_cost("churn", 1, project="lab")
    assert (trained.subject, trained.cost) == ("churn/1", 0.25)
    budget = costs.set_budget("lab", 10.0, scope="serving", thresholds=(0.5, 1.0))
    assert (budget.scope, budget.amount, budget.thresholds) == ("serving", 10.0, (0.5, 1.0))
    assert budget.spent == pytest.approx(figure.cost)
    assert costs.list_budgets("lab") == [budget]
    costs.delete_budget("lab", scope="serving")
    assert costs.list_budgets("lab") == []


def test_bad_input_is_the_same_typed_error_in_both_modes(client: Client) -> None:
    costs = client.costs
    for kwargs, field in (
        ({"amount": -1.0}, "amount"),
        ({"amount": 1.0, "thresholds": (0.5, 12.0)}, "thresholds"),
        ({"amount": 1.0, "scope": "gpus"}, "scope"),
    ):
        amount = kwargs.pop("amount")
        with pytest.raises(InvalidInput) as caught:
            costs.set_budget("lab", amount, **kwargs)  # type: ignore[arg-type]
        assert caught.value.field == field
    with pytest.raises(InvalidInput) as period:
        costs.serving_cost("api", project="lab", since=2000, until=1000)
    assert period.value.field == "since"
    with pytest.raises(NotFound):
        costs.serving_cost("nope", project="lab")
    with pytest.raises(NotFound):
        costs.training_cost("churn", 7, project="lab")
    with pytest.raises(NotFound):
        costs.delete_budget("lab", scope="training")


def test_the_sugar(client: Client, settings_env: Settings) -> None:
    _report(client)
    (figure,) = my.costs.serving_cost("api", project="lab")
    assert figure.predictions == 40
    assert [f.cost for f in my.costs.serving_cost_series("api", project="lab")] == [figure.cost]
    assert my.costs.training_cost("churn", 1, project="lab").cost == 0.25
    my.costs.set_budget(5.0, project="lab")
    assert [b.scope for b in my.costs.list_budgets("lab")] == ["all"]
    my.costs.delete_budget(project="lab")
    assert my.costs.list_budgets("lab") == []


def test_the_cost_series_for_dashboards(client: Client) -> None:
    _report(client)
    now = int(time.time() * 1000)
    (day,) = client.costs.serving_cost_series("api", project="lab")
    assert (day.subject, day.predictions, day.end - day.start) == ("api", 40, 86_400_000)
    assert day.start <= now - 1000 < day.end and day.start % 86_400_000 == 0
    (hour,) = client.costs.serving_cost_series("api", project="lab", unit="hour", by_version=True)
    assert (hour.subject, hour.predictions, hour.end - hour.start) == ("churn/1", 40, 3_600_000)
    assert hour.cost == day.cost
    assert client.costs.serving_cost_series("api", project="lab", since=0, until=1000) == []
    for kwargs, field in (({"unit": "week"}, "unit"), ({"since": 0, "unit": "hour"}, "since")):
        with pytest.raises(InvalidInput) as caught:
            client.costs.serving_cost_series("api", project="lab", **kwargs)  # type: ignore[arg-type]
        assert caught.value.field == field
