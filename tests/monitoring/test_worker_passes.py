"""The worker's monitoring passes: each deployment with enabled monitors, on its own
thread, sooner when new segments were logged; a failing pass is logged and retried."""

from __future__ import annotations

import copy
import threading
from typing import Any

import pyarrow as pa
import pytest

from modelyard.config import Settings
from modelyard.errors import InvalidInput
from modelyard.monitoring._parts import Reference
from modelyard.worker.worker import Worker
from monitoring_support import HOUR, T0, CountSummarizer, Lab
from prediction_support import request_id, segment

pytestmark = pytest.mark.local_only("the worker works where the store is")


def _log(lab: Lab, first: int, count: int) -> None:
    lab.client.services.predictions.write_segment(
        "shop",
        "churn-api",
        segment(
            [request_id(i) for i in range(first, first + count)],
            version_id=lab.version.id,
            start_ms=T0,
        ),
    )


class BrokenSummarizer(CountSummarizer):
    """Summaries that refuse every segment, as corrupt stored data makes them."""

    def summarize(self, table: pa.Table, reference: Reference) -> Any:
        raise InvalidInput("a stored summary is corrupt", field="summary")


def test_run_once_passes_over_monitored_deployments_and_logs_a_failure(
    lab: Lab, settings: Settings
) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop")
    lab.clock.now = T0 + HOUR + 60_000
    _log(lab, 0, 3)
    lines: list[str] = []
    with Worker(settings, log=lines.append) as w:
        assert w.monitors.monitored() == [("shop", "churn-api")]
        assert w.monitors.monitored(project="other") == []
        assert w.monitors.segments_logged() == 1
        broken = copy.copy(lab.monitors)
        broken.summarizer = BrokenSummarizer()
        w.monitors = broken
        assert w.run_once().monitored == []
        assert any("monitoring shop/churn-api failed" in line for line in lines)
        w.monitors = lab.monitors
        done = w.run_once()
        assert [(r.deployment, r.segments, r.rows) for r in done.monitored] == [("churn-api", 1, 3)]
        assert "monitoring shop/churn-api: 1 segments, 3 rows" in lines[-1]
        assert w.run_once().monitored[0].segments == 0


def test_new_segments_bring_the_next_pass_sooner(lab: Lab, settings: Settings) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop")
    lab.clock.now = T0 + HOUR + 60_000
    seen: list[str] = []
    with Worker(settings, poll_interval_s=0.05, log=seen.append) as w:
        assert w.monitor_interval_s >= 60
        w.monitors = lab.monitors
        thread = threading.Thread(target=w.run_forever)
        thread.start()
        try:
            for _ in range(200):
                if any("0 segments" in line for line in seen):
                    break
                threading.Event().wait(0.05)
            _log(lab, 0, 2)
            for _ in range(200):
                if any("1 segments, 2 rows" in line for line in seen):
                    break
                threading.Event().wait(0.05)
        finally:
            w.stop()
            thread.join(timeout=10)
        assert not thread.is_alive()
    assert any("monitoring shop/churn-api: 1 segments, 2 rows" in line for line in seen)
