"""The replay's spans (the replay itself runs in test_quickstart_monitoring.py, through
the real server)."""

from __future__ import annotations

import numpy as np

from modelyard.examples._replay import _spans

HOUR = 3_600_000


def test_spans_cut_the_hours_by_days_from_the_first_midnight() -> None:
    day = 24 * HOUR
    times = np.array([5 * HOUR, 6 * HOUR, day + HOUR, 3 * day, 3 * day + 23 * HOUR])
    spans = list(_spans(times, 2 * day))
    assert spans == [(0, 2 * day, [0, 1, 2]), (2 * day, 4 * day, [3, 4])]
    assert list(_spans(np.array([], dtype=np.int64), day)) == []
