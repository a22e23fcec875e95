"""``client.monitors`` through a server: the same monitors, passes and values as embedded
(the server's monitor service is given the tests' window summaries)."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard import Client
from modelyard.config import Settings
from modelyard.errors import InvalidInput
from modelyard.monitoring.service import MonitorService
from monitoring_support import HOUR, T0, CountSummarizer, HitsSummarizer, Lab
from prediction_support import request_id, segment

pytestmark = pytest.mark.local_only("the remote client against its own served app")


@pytest.fixture
def remote(
    lab: Lab, served: str, admin_token: str, embedded_settings: Settings, _shared_server: Any
) -> Client:
    """A remote client of a server whose monitor service has the tests' parts."""
    _, mounts = _shared_server
    services = mounts.apps["/" + served.rsplit("/", 1)[1]].state.services
    services._monitors = MonitorService(
        services.store,
        services.blobs,
        services.access,
        services.deployments,
        services.models,
        services.datasets,
        services.predictions,
        services.settings,
        summarizer=CountSummarizer(),
        performance=HitsSummarizer(),
        clock=lab.clock,
        label_settle_ms=0,
    )
    tracking = embedded_settings.tracking.model_copy(update={"uri": served, "token": admin_token})
    return Client(embedded_settings.model_copy(update={"tracking": tracking}))


def test_a_pass_and_its_values_through_a_server(lab: Lab, remote: Client) -> None:
    with remote:
        made = remote.monitors.create(
            "churn-api", "rows", "volume", project="shop", config={"max_rows": 2}
        )
        assert remote.monitors.get("churn-api", "rows", project="shop") == made
        lab.clock.now = T0 + HOUR + 60_000
        remote.predictions.write_segment(
            "shop",
            "churn-api",
            segment([request_id(i) for i in range(3)], version_id=lab.version.id, start_ms=T0),
        )
        remote.predictions.add_labels("shop", "churn-api", {"nobody-0": 1})
        told: list[tuple[int, int]] = []
        report = remote.monitors.run_pass(
            "churn-api", project="shop", on_segment=lambda d, t: told.append((d, t))
        )
        assert (report.segments, report.rows, report.unknown_labels) == (1, 3, 1)
        assert len(report.opened) == 2 and told == [(1, 1)]
        found = remote.monitors.values("churn-api", "rows", project="shop", since=T0)
        assert [(v.window_start, v.value, v.status, v.version) for v in found] == [
            (T0, 3.0, "breach", None)
        ]
        per_version = remote.monitors.values(
            "churn-api", "rows", project="shop", since=T0, version="churn@champion"
        )
        assert [(v.value, v.version) for v in per_version] == [(3.0, "churn/1")]
        assert found == lab.monitors.values("churn-api", "rows", project="shop", since=T0)
        lab.clock.now = T0 + 3 * HOUR + 60_000
        for hour in (1, 2):
            remote.predictions.write_segment(
                "shop",
                "churn-api",
                segment(
                    [request_id(10 * hour)], version_id=lab.version.id, start_ms=T0 + hour * HOUR
                ),
            )
        remote.monitors.run_pass("churn-api", project="shop")
        every = remote.monitors.values("churn-api", "rows", project="shop", since=T0)
        assert [v.window_start for v in every] == [T0, T0 + HOUR, T0 + 2 * HOUR]
        newest = remote.monitors.values("churn-api", "rows", project="shop", since=T0, newest=2)
        assert newest == every[1:]
        with pytest.raises(InvalidInput) as caught:
            remote.monitors.values("churn-api", "rows", project="shop", newest=0)
        assert caught.value.field == "newest"
        remote.monitors.delete("churn-api", "rows", project="shop")
        assert remote.monitors.list_monitors("churn-api", project="shop") == []
