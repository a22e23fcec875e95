"""``my.monitors``: the sugar over ``Client.monitors``, on the settings given."""

from __future__ import annotations

import pytest

import modelyard as my
from modelyard.config import Settings
from monitoring_support import Lab

pytestmark = pytest.mark.local_only("the sugar over the embedded client")


def test_the_sugar_declares_reads_and_deletes(lab: Lab, settings: Settings) -> None:
    made = my.monitors.create("churn-api", "rows", "volume", project="shop", settings=settings)
    assert made.config == {"max_rows": 100}
    applied = my.monitors.apply(
        "deployment: churn-api\nmonitors: [{name: rows, kind: volume, max_rows: 3}]",
        project="shop",
        settings=settings,
    )
    assert applied[0].id == made.id and applied[0].config == {"max_rows": 3}
    assert my.monitors.get("churn-api", "rows", project="shop", settings=settings) == applied[0]
    listed = my.monitors.list_monitors("churn-api", project="shop", settings=settings)
    assert [m.name for m in listed] == ["rows"]
    assert my.monitors.values("churn-api", "rows", project="shop", settings=settings) == []
    my.monitors.delete("churn-api", "rows", project="shop", settings=settings)
    assert my.monitors.list_monitors("churn-api", project="shop", settings=settings) == []
