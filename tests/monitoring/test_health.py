"""The health score from what a pass stored (monitors' values per window, hours' label
counts, inserted here as the pass writes them): each component by its documented formula,
the weights renormalised over the components that could be judged, per deployment and
per version, stale findings left out, and the history per window."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alert_support import (
    DAY,
    HOUR,
    NOW,
    Served,
    add_hour,
    add_monitor,
    add_value,
    serve_churn,
    store_at,
)

from modelyard.config import Settings
from modelyard.errors import InvalidInput, NotFound
from modelyard.monitoring._health import FORMULA, WEIGHTS
from modelyard.monitoring.alerts import AlertService
from modelyard.monitoring.entities import Health
from modelyard.sdk.client import Client
from modelyard.store import Store


@pytest.fixture
def client(settings_in_mode: Settings) -> Iterator[Client]:
    with Client(settings_in_mode) as c:
        yield c


@pytest.fixture
def churn(client: Client, tmp_path: Path) -> Served:
    return serve_churn(client, tmp_path)


@pytest.fixture
def store(embedded_settings: Settings) -> Iterator[Store]:
    with store_at(embedded_settings.store_url) as opened:
        yield opened


@pytest.fixture
def service(store: Store, client: Client) -> AlertService:
    """The service at NOW, labels expected within a day and hopeless after two."""
    from modelyard.governance.access import Access

    return AlertService(
        store, Access(store), label_delay_hours=24, label_horizon_days=2, clock=lambda: NOW
    )


def _parts(health: Health) -> dict[str, float | None]:
    return {c.name: c.score for c in health.components}


@pytest.mark.local_only("reads the service at a fixed time")
def test_each_component_and_the_weighted_score(
    service: AlertService, store: Store, churn: Served
) -> None:
    d = churn.deployment_id
    drift = add_monitor(store, d, "drift", "drift")
    add_value(store, drift, NOW - HOUR, 0.9, status="breach")  # not the latest
    add_value(store, drift, NOW, 0.2, status="ok")
    accuracy = add_monitor(store, d, "accuracy", "performance")
    add_value(store, accuracy, NOW, 0.72, metric="accuracy", baseline=0.8)
    rmse = add_monitor(store, d, "rmse", "performance")
    add_value(store, rmse, NOW, 2.0, metric="rmse", baseline=1.5)
    latency = add_monitor(store, d, "p99", "latency")
    for k in range(24):  # the last day: 6 of 24 windows breached
        add_value(store, latency, NOW - k * HOUR, 1.0, status="breach" if k < 6 else "ok")
    add_value(store, latency, NOW - 2 * DAY, 1.0, status="breach")  # older than a day
    add_value(store, latency, NOW - 30 * HOUR, None, status="no_data")
    quality = add_monitor(store, d, "quality", "quality")
    add_value(store, quality, NOW, 0.1)
    for k in range(1, 73):  # labelled up to 30 hours ago, none since
        add_hour(store, d, churn.v1, NOW - k * HOUR, 50, 50 if k >= 30 else 0)
    health = service.health("api", project="lab")
    parts = _parts(health)
    late = 5 / 24  # the oldest waiting hour ended 29 h ago: 5 h past the day expected
    assert parts == {
        "drift": 80.0,
        "performance": 82.5,  # (100 * 0.72/0.8 + 100 * 1.5/2.0) / 2
        "slo": 75.0,
        "quality": 90.0,
        "labels": round(100 * (1 - late), 2),
    }
    expected = 0.25 * 80 + 0.30 * 82.5 + 0.20 * 75 + 0.15 * 90 + 0.10 * 100 * (1 - late)
    assert health.score == round(expected, 1)
    assert (health.subject_kind, health.subject, health.at) == ("deployment", "deployment api", NOW)
    assert health.formula == FORMULA
    assert {c.name: c.weight for c in health.components} == WEIGHTS
    [labels] = [c for c in health.components if c.name == "labels"]
    assert labels.details["oldest_waiting_hour_end"] == NOW - 29 * HOUR
    [slo] = [c for c in health.components if c.name == "slo"]
    assert slo.details == {"windows": 24, "breached": 6}


@pytest.mark.local_only("reads the service at a fixed time")
def test_weights_renormalise_and_stale_or_unjudged_parts_are_left_out(
    service: AlertService, store: Store, churn: Served
) -> None:
    d = churn.deployment_id
    empty = service.health("api", project="lab")
    assert empty.score is None and all(c.score is None for c in empty.components)
    assert empty.formula == FORMULA
    drift = add_monitor(store, d, "drift", "drift")
    add_value(store, drift, NOW - 3 * DAY, 0.0)  # stale: more than two days old
    add_value(store, drift, NOW - HOUR, None, status="no_data")
    quality = add_monitor(store, d, "quality", "quality")
    add_value(store, quality, NOW, 0.1)
    assert _parts(service.health("api", project="lab"))["drift"] is None
    add_value(store, drift, NOW - 2 * HOUR, 0.2)
    health = service.health("api", project="lab")
    assert health.score == round((0.25 * 80 + 0.15 * 90) / 0.40, 1)
    # no performance monitor: label freshness is not judged, whatever the hours say
    add_hour(store, d, churn.v1, NOW - 40 * HOUR, 50, 0)
    assert _parts(service.health("api", project="lab"))["labels"] is None
    # a performance finding without the evaluated value is not judged either
    accuracy = add_monitor(store, d, "accuracy", "performance")
    add_value(store, accuracy, NOW, 0.7, metric="accuracy")
    assert _parts(service.health("api", project="lab"))["performance"] is None


@pytest.mark.local_only("reads the service at a fixed time")
def test_label_freshness_from_full_to_hopeless(
    service: AlertService, store: Store, churn: Served
) -> None:
    d = churn.deployment_id
    add_monitor(store, d, "accuracy", "performance")
    assert _parts(service.health("api", project="lab"))["labels"] is None  # no rows yet
    for k in range(1, 10):  # recent hours: labels are not due yet
        add_hour(store, d, churn.v1, NOW - k * HOUR, 10, 0)
    assert _parts(service.health("api", project="lab"))["labels"] == 100.0
    add_hour(store, d, churn.v1, NOW - 30 * HOUR, 10, 9)  # 90% covered: labelled
    assert _parts(service.health("api", project="lab"))["labels"] == 100.0
    add_hour(store, d, churn.v2, NOW - 30 * HOUR, 10, 0)  # with v2's rows: 45%, waiting
    assert _parts(service.health("api", project="lab"))["labels"] == round(100 * (1 - 6 / 24), 2)
    version = service.health("api", project="lab", version="churn/1")
    assert _parts(version)["labels"] == 100.0  # churn/1's own rows are labelled
    add_hour(store, d, churn.v1, NOW - 47 * HOUR, 10, 0)  # 23 h late of 24
    assert _parts(service.health("api", project="lab"))["labels"] == round(100 / 24, 2)
    add_hour(store, d, churn.v1, NOW - 48 * HOUR - HOUR, 10, 0)  # past the horizon
    assert _parts(service.health("api", project="lab"))["labels"] == 0.0


@pytest.mark.local_only("reads the service at a fixed time")
def test_a_version_as_served_and_the_deployment_over_all_versions(
    service: AlertService, store: Store, churn: Served
) -> None:
    drift = add_monitor(store, churn.deployment_id, "drift", "drift")
    add_value(store, drift, NOW, 0.5, version_id=churn.v1, rows=100)
    add_value(store, drift, NOW, 0.0, version_id=churn.v2, rows=300)
    assert _parts(service.health("api", project="lab"))["drift"] == 87.5  # weighted by rows
    one = service.health("api", project="lab", version="churn/1")
    assert (one.subject_kind, one.subject, one.score) == ("model_version", "churn/1", 50.0)
    assert service.health("api", project="lab", version="churn@champion") == one
    assert service.health("api", project="lab", version="churn/2").score == 100.0
    add_value(store, drift, NOW, 0.1, rows=400)  # the pass's all-versions finding wins
    assert _parts(service.health("api", project="lab"))["drift"] == 90.0
    assert service.health("api", project="lab", version="churn/1").score == 50.0
    for bad, error in [
        ("churn", InvalidInput),
        ("churn/x", InvalidInput),
        ("churn/9", NotFound),
        ("other/1", NotFound),
    ]:
        with pytest.raises(error) as exc:
            service.health("api", project="lab", version=bad)
        assert exc.value.field == "version", bad
    with pytest.raises(NotFound) as missing:
        service.health("nowhere", project="lab")
    assert missing.value.field == "deployment"


def test_the_history_scores_each_window_with_what_was_known_then(
    client: Client, store: Store, churn: Served
) -> None:
    drift = add_monitor(store, churn.deployment_id, "drift", "drift")
    for k, share in [(3, 0.5), (2, 0.3), (1, 0.0)]:
        add_value(store, drift, NOW - k * HOUR, share)
    alerts = client.alerts
    history = alerts.health_history("api", project="lab", since=NOW - DAY, until=NOW)
    assert [(h.at, h.score) for h in history] == [
        (NOW - 3 * HOUR, 50.0),
        (NOW - 2 * HOUR, 70.0),
        (NOW - HOUR, 100.0),
    ]
    assert all(h.formula == FORMULA and len(h.components) == 5 for h in history)
    later = alerts.health_history("api", project="lab", since=NOW - 2 * HOUR, until=NOW)
    assert [h.score for h in later] == [70.0, 100.0]
    assert alerts.health_history("api", project="lab", since=NOW, until=NOW) == []
    with pytest.raises(InvalidInput) as exc:
        alerts.health_history("api", project="lab", since=NOW, until=NOW - 1)
    assert exc.value.field == "since"
    now = alerts.health("api", project="lab")  # the real clock: these windows are stale
    assert now.score is None and [c.name for c in now.components] == list(WEIGHTS)


@pytest.mark.local_only("reads the service at a fixed time")
def test_a_long_history_is_thinned_evenly_keeping_the_last_window(
    service: AlertService, store: Store, churn: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.monitoring import alerts as alerts_module

    monkeypatch.setattr(alerts_module, "HISTORY_POINTS", 4)
    drift = add_monitor(store, churn.deployment_id, "drift", "drift")
    for k in range(10):
        add_value(store, drift, NOW - k * HOUR, k / 10)
    history = service.health_history("api", project="lab", since=NOW - DAY, until=NOW)
    assert [h.at for h in history] == [NOW - 9 * HOUR, NOW - 7 * HOUR, NOW - 4 * HOUR, NOW]
    assert history[-1].score == 100.0 and history[0].score == 10.0
