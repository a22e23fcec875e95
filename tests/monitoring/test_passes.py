"""The incremental pass: each segment read once and merged per version and hour; a second
pass reads nothing and changes nothing; late rows rebuild their own hour; labels joined
later (the last wins; unknown and repeated ones counted); partial windows open no alert;
two passes at once, a pass killed between segments, and a store that fails."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import pytest
from sqlalchemy import select

from modelyard.errors import InvalidInput, StorageError
from modelyard.gc import collect_garbage
from modelyard.monitoring import checks
from modelyard.monitoring.passes import windows_of
from modelyard.store.tables import alerts, monitor_windows
from monitoring_support import HOUR, T0, Lab, RowsCheck
from prediction_support import request_id, segment

pytestmark = pytest.mark.local_only("the pass itself")


def _log(lab: Lab, first: int, count: int, start_ms: int, deployment: str = "churn-api") -> None:
    lab.client.services.predictions.write_segment(
        "shop",
        deployment,
        segment(
            [request_id(i) for i in range(first, first + count)],
            version_id=lab.version.id,
            start_ms=start_ms,
        ),
    )


def _values(lab: Lab, version: str | None = None) -> list[tuple[int, float | None, str]]:
    found = lab.monitors.values("churn-api", "rows", project="shop", since=T0, version=version)
    return [(v.window_start, v.value, v.status) for v in found]


def _alerts(lab: Lab) -> list[tuple[str, str, int]]:
    with lab.client.services.store.read() as conn:
        rows = conn.execute(select(alerts).order_by(alerts.c.subject_kind)).all()
    return [(r.subject_kind, r.status, r.occurrences) for r in rows]


def test_windows_of_an_hour() -> None:
    hour = T0 + 5 * HOUR
    assert windows_of(hour, "hour", None) == [(hour, hour + HOUR)]
    assert windows_of(hour, "day", None) == [(T0, T0 + 24 * HOUR)]
    sliding = windows_of(hour, "day", "hour")
    assert len(sliding) == 24 and all(s <= hour < e and e - s == 24 * HOUR for s, e in sliding)


def test_a_pass_reads_new_segments_once_and_a_second_changes_nothing(lab: Lab) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop", config={"max_rows": 2})
    lab.clock.now = T0 + 2 * HOUR + 60_000
    _log(lab, 0, 1, T0)
    _log(lab, 10, 3, T0 + HOUR)
    first = lab.monitors.run_pass("churn-api", project="shop")
    assert (first.segments, first.rows, first.windows, first.errors) == (2, 4, 2, ())
    assert _values(lab) == [(T0, 1.0, "ok"), (T0 + HOUR, 3.0, "breach")]
    assert _values(lab, "churn/1") == [(T0, 1.0, "ok"), (T0 + HOUR, 3.0, "breach")]
    assert sorted(_alerts(lab)) == [("deployment", "open", 1), ("model_version", "open", 1)]
    assert len(first.opened) == 2
    before = lab.monitors.values("churn-api", "rows", project="shop")
    second = lab.monitors.run_pass("churn-api", project="shop")
    assert (second.segments, second.rows, second.windows, second.values) == (0, 0, 0, 0)
    assert second.opened == () and second.resolved == ()
    assert lab.monitors.values("churn-api", "rows", project="shop") == before
    assert sorted(_alerts(lab)) == [("deployment", "open", 1), ("model_version", "open", 1)]
    assert lab.monitors.get("churn-api", "rows", project="shop").last_pass_at == lab.clock.now


def test_late_rows_rebuild_their_own_hour_and_a_clear_window_resolves(lab: Lab) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop", config={"max_rows": 2})
    lab.clock.now = T0 + 2 * HOUR + 60_000
    _log(lab, 0, 1, T0)
    _log(lab, 10, 3, T0 + HOUR)
    lab.monitors.run_pass("churn-api", project="shop")
    _log(lab, 20, 2, T0 + 60_000)  # late rows of the first hour
    late = lab.monitors.run_pass("churn-api", project="shop")
    assert (late.segments, late.rows, late.windows) == (1, 2, 1)
    assert _values(lab) == [(T0, 3.0, "breach"), (T0 + HOUR, 3.0, "breach")]
    assert late.opened == () and late.resolved == ()  # an older window: the newer decides
    assert sorted(_alerts(lab)) == [("deployment", "open", 1), ("model_version", "open", 1)]
    lab.clock.now = T0 + 3 * HOUR + 60_000
    _log(lab, 30, 1, T0 + 2 * HOUR)
    cleared = lab.monitors.run_pass("churn-api", project="shop")
    assert len(cleared.resolved) == 2
    assert sorted(_alerts(lab)) == [("deployment", "resolved", 1), ("model_version", "resolved", 1)]


def test_the_newest_windows_alone_are_read_oldest_first(lab: Lab) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop", config={"max_rows": 2})
    lab.clock.now = T0 + 4 * HOUR + 60_000
    for hour in range(4):
        _log(lab, 10 * hour, hour + 1, T0 + hour * HOUR)
    lab.monitors.run_pass("churn-api", project="shop")
    every = lab.monitors.values("churn-api", "rows", project="shop")  # earlier hours: no rows
    assert [v.value for v in every][-4:] == [1.0, 2.0, 3.0, 4.0]
    assert lab.monitors.values("churn-api", "rows", project="shop", newest=3) == every[-3:]
    since = lab.monitors.values("churn-api", "rows", project="shop", since=T0, newest=9)
    assert since == every[-4:]
    older = lab.monitors.values("churn-api", "rows", project="shop", until=T0 + 2 * HOUR, newest=1)
    assert older == every[-3:-2]  # the newest of the windows asked for
    for bad in (0, -1, True, 2.5):
        with pytest.raises(InvalidInput) as caught:
            lab.monitors.values("churn-api", "rows", project="shop", newest=bad)  # type: ignore[arg-type]
        assert caught.value.field == "newest"


def test_a_window_in_progress_is_partial_and_opens_no_alert(lab: Lab) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop", config={"max_rows": 2})
    lab.clock.now = T0 + HOUR // 2
    _log(lab, 0, 5, T0)
    report = lab.monitors.run_pass("churn-api", project="shop")
    found = lab.monitors.values("churn-api", "rows", project="shop", since=T0)
    assert [(v.value, v.status, v.details["partial"]) for v in found] == [(5.0, "breach", True)]
    assert report.opened == () and _alerts(lab) == []
    lab.clock.now = T0 + HOUR + 60_000  # the hour ended: judged again, complete
    ended = lab.monitors.run_pass("churn-api", project="shop")
    found = lab.monitors.values("churn-api", "rows", project="shop", since=T0, until=T0 + HOUR)
    assert [(v.value, v.details.get("partial")) for v in found] == [(5.0, None)]
    assert len(ended.opened) == 2


def test_day_windows_tumble_or_slide_and_the_week_before_is_expected(lab: Lab) -> None:
    service = lab.monitors
    service.apply(
        {
            "deployment": "churn-api",
            "monitors": [
                {"name": "day", "kind": "volume", "window": "day"},
                {"name": "slide", "kind": "volume", "window": "day", "slide": "hour"},
                {"name": "rows", "kind": "volume"},
            ],
        },
        project="shop",
    )
    week = 7 * 24 * HOUR
    lab.clock.now = T0 + week + 3 * HOUR
    _log(lab, 0, 4, T0 + 2 * HOUR)
    _log(lab, 10, 2, T0 + week + HOUR)
    _log(lab, 20, 1, T0 + week + 2 * HOUR)
    service.run_pass("churn-api", project="shop")
    day = service.values("churn-api", "day", project="shop", since=T0 + week)
    assert [(v.window_end - v.window_start, v.value, v.details["partial"]) for v in day] == [
        (24 * HOUR, 3.0, True)
    ]
    slide = service.values("churn-api", "slide", project="shop", since=T0 + week - 23 * HOUR)
    assert {v.window_start for v in slide} >= {T0 + week - 22 * HOUR, T0 + week + 2 * HOUR}
    assert all(v.window_end - v.window_start == 24 * HOUR for v in slide)
    hour = service.values("churn-api", "rows", project="shop", since=T0 + week + HOUR)
    assert (hour[0].value, hour[0].details.get("expected_rows")) == (2.0, None)
    back = service.values("churn-api", "day", project="shop", since=T0, until=T0 + 24 * HOUR)
    assert back[0].value == 4.0
    same_hour = service.values("churn-api", "rows", project="shop", since=T0 + week + 2 * HOUR)
    assert same_hour[0].details["expected_rows"] == 4.0  # the same hour a week before


def test_labels_given_later_are_joined_the_last_wins_unknown_and_repeated_counted(
    lab: Lab,
) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop")
    lab.clock.now = T0 + 2 * HOUR
    _log(lab, 0, 4, T0)  # outputs 0, 1, 0, 1
    lab.monitors.run_pass("churn-api", project="shop")
    predictions = lab.client.services.predictions
    predictions.add_labels("shop", "churn-api", {request_id(0): 0, request_id(1): 0, "nobody-0": 1})
    joined = lab.monitors.run_pass("churn-api", project="shop")
    assert (joined.labels, joined.unknown_labels, joined.repeated_labels) == (2, 1, 0)
    (value,) = lab.monitors.values("churn-api", "rows", project="shop", since=T0, until=T0 + HOUR)
    assert (value.details["labelled"], value.details["right"]) == (2, 1)
    predictions.add_labels("shop", "churn-api", {request_id(1): 1})
    again = lab.monitors.run_pass("churn-api", project="shop")
    assert (again.labels, again.unknown_labels, again.repeated_labels) == (1, 0, 1)
    (value,) = lab.monitors.values("churn-api", "rows", project="shop", since=T0, until=T0 + HOUR)
    assert (value.details["labelled"], value.details["right"]) == (2, 2)
    quiet = lab.monitors.run_pass("churn-api", project="shop")
    assert (quiet.labels, quiet.values) == (0, 0)
    predictions.add_labels("shop", "churn-api", {request_id(7): 1})  # before its row is logged
    _log(lab, 7, 1, T0 + 60_000)
    lab.monitors.run_pass("churn-api", project="shop")
    (value,) = lab.monitors.values("churn-api", "rows", project="shop", since=T0, until=T0 + HOUR)
    assert (value.rows, value.details["labelled"], value.details["right"]) == (5, 3, 2)


def test_two_passes_at_once_count_each_segment_once(lab: Lab) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop")
    lab.clock.now = T0 + 2 * HOUR
    for k in range(6):
        _log(lab, 10 * k, k + 1, T0 + k * 60_000)
    reports: list[Any] = []
    go = threading.Barrier(2)

    def run() -> None:
        go.wait()
        reports.append(lab.monitors.run_pass("churn-api", project="shop"))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.segments for r in reports) == 6
    assert sum(r.rows for r in reports) == 21
    assert all(r.errors == () for r in reports)
    assert _values(lab)[0][:2] == (T0, 21.0)


def test_a_pass_killed_between_segments_loses_and_doubles_nothing(lab: Lab) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop", config={"max_rows": 2})
    lab.clock.now = T0 + HOUR + 60_000
    _log(lab, 0, 2, T0)
    _log(lab, 10, 2, T0 + 60_000)

    def die(done: int, total: int) -> None:
        raise KeyboardInterrupt("the worker was killed")

    from modelyard.monitoring.passes import MonitorPass

    found = lab.client.services.deployments.get("churn-api", project="shop")
    killed = MonitorPass(
        lab.monitors,
        "shop",
        found,
        lab.monitors.summarizer,
        lab.monitors.performance,
        on_segment=die,  # type: ignore[arg-type]
    )
    with pytest.raises(KeyboardInterrupt):
        killed.run()
    with lab.client.services.store.read() as conn:
        rows = conn.execute(select(monitor_windows.c.rows)).scalars().all()
    assert rows == [2]
    assert _values(lab) == [] and _alerts(lab) == []
    resumed = lab.monitors.run_pass("churn-api", project="shop")
    assert (resumed.segments, resumed.rows) == (1, 2)
    assert _values(lab) == [(T0, 4.0, "breach")]
    assert sorted(_alerts(lab)) == [("deployment", "open", 1), ("model_version", "open", 1)]
    assert lab.monitors.run_pass("churn-api", project="shop").opened == ()


def test_a_failing_store_is_tried_again_then_the_pass_stops_and_says_so(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop")
    lab.clock.now = T0 + HOUR + 60_000
    _log(lab, 0, 2, T0)
    blobs = lab.monitors.blobs
    get_bytes = blobs.get_bytes
    failures = [1]

    def flaky(digest: str) -> bytes:
        if failures[0] > 0:
            failures[0] -= 1
            raise StorageError("the blob store is unreachable")
        return get_bytes(digest)

    monkeypatch.setattr(blobs, "get_bytes", flaky)
    report = lab.monitors.run_pass("churn-api", project="shop")
    assert (report.segments, report.errors) == (1, ())
    _log(lab, 10, 2, T0 + 60_000)
    failures[0] = 100
    down = lab.monitors.run_pass("churn-api", project="shop")
    assert down.segments == 0
    assert len(down.errors) == 1 and "the blob store is unreachable" in down.errors[0]
    assert failures[0] == 100 - 4  # tried four times
    failures[0] = 0
    assert lab.monitors.run_pass("churn-api", project="shop").segments == 1
    assert _values(lab)[0][:2] == (T0, 4.0)


def test_garbage_collection_keeps_the_outputs_of_each_window(lab: Lab) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop")
    lab.clock.now = T0 + HOUR + 60_000
    _log(lab, 0, 2, T0)
    lab.monitors.run_pass("churn-api", project="shop")
    with lab.client.services.store.read() as conn:
        first = conn.execute(select(monitor_windows.c.outputs_digest)).scalar_one()
    _log(lab, 10, 2, T0 + 60_000)
    lab.monitors.run_pass("churn-api", project="shop")
    with lab.client.services.store.read() as conn:
        second = conn.execute(select(monitor_windows.c.outputs_digest)).scalar_one()
    services = lab.client.services
    holders = [*services.blob_references()[:-1], lab.monitors]
    deleted = collect_garbage(holders, services.blobs, min_age_s=0)
    assert first in deleted and second not in deleted
    assert services.blobs.exists(second)


def test_a_feature_missing_from_the_log_is_judged_without_it(lab: Lab) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop")
    lab.clock.now = T0 + HOUR + 60_000
    rows = segment([request_id(i) for i in range(3)], version_id=lab.version.id, start_ms=T0)
    rows = rows.drop_columns(["input.x"])  # the signature's input x was not logged
    lab.client.services.predictions.write_segment("shop", "churn-api", rows)
    report = lab.monitors.run_pass("churn-api", project="shop")
    assert (report.segments, report.rows, report.errors) == (1, 3, ())
    assert lab.monitors.reference(lab.version.id).features == ("x",)
    (value,) = lab.monitors.values("churn-api", "rows", project="shop", since=T0, until=T0 + HOUR)
    assert (value.rows, value.details["sum"]) == (3, 0.0)


class _Broken(RowsCheck):
    def judge(self, config: Any, window: Any) -> Any:
        return 1 / 0


def test_a_failing_check_is_reported_and_the_others_still_judge(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(checks.CHECKS, "errors", _Broken())
    lab.monitors.create("churn-api", "broken", "errors", project="shop")
    lab.monitors.create("churn-api", "rows", "volume", project="shop", config={"max_rows": 1})
    lab.clock.now = T0 + HOUR + 60_000
    _log(lab, 0, 2, T0)
    report = lab.monitors.run_pass("churn-api", project="shop")
    assert report.errors == ("monitor broken: ZeroDivisionError: division by zero",)
    assert _values(lab) == [(T0, 2.0, "breach")]
    with lab.client.services.store.read() as conn:
        found = conn.execute(select(alerts.c.subject_kind, alerts.c.monitor)).all()
    assert sorted(found) == [("deployment", "rows"), ("model_version", "churn-api/rows")]


def test_a_label_given_a_moment_ago_is_taken_by_a_later_pass(lab: Lab) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop")
    lab.clock.now = T0 + 2 * HOUR
    _log(lab, 0, 2, T0)
    settling = copy.copy(lab.monitors)
    settling.label_settle_ms = 3_600_000  # a batch of the last hour may still be written
    settling.run_pass("churn-api", project="shop")
    lab.client.services.predictions.add_labels("shop", "churn-api", {request_id(0): 0})
    waiting = settling.run_pass("churn-api", project="shop")
    assert (waiting.labels, waiting.unknown_labels) == (0, 0)
    taken = lab.monitors.run_pass("churn-api", project="shop")
    assert (taken.labels, taken.unknown_labels, taken.repeated_labels) == (1, 0, 0)


class _Recording(RowsCheck):
    """Keeps every window it judges, with its summary's and performance's encodings then."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, bytes, bytes | None]] = []

    def judge(self, config: Any, window: Any) -> Any:
        if window.summary is not None:  # the days before the log hold no rows
            perf = None if window.performance is None else window.performance.to_bytes()
            self.seen.append((window, window.summary.to_bytes(), perf))
        return super().judge(config, window)


def test_monitors_sharing_a_window_see_the_same_unchanged_inputs_decoded_once(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = _Recording()
    monkeypatch.setitem(checks.CHECKS, "errors", recording)
    for name in ("one", "two"):
        lab.monitors.create("churn-api", name, "errors", project="shop", window="day")
    lab.clock.now = T0 + 2 * HOUR + 60_000
    _log(lab, 0, 2, T0)
    _log(lab, 10, 3, T0 + HOUR)
    lab.client.services.predictions.write_segment(
        "shop", "churn-api", segment([request_id(20)], version_id="other", start_ms=T0 + HOUR)
    )
    loads: list[bytes] = []
    load = lab.monitors.summarizer.load
    monkeypatch.setattr(
        lab.monitors.summarizer, "load", lambda data: loads.append(data) or load(data)
    )
    report = lab.monitors.run_pass("churn-api", project="shop")
    assert report.errors == ()
    assert len(recording.seen) == 6  # two monitors x (two versions and all of them)
    first, second = recording.seen[:3], recording.seen[3:]
    assert [w for w, _, _ in first] == [w for w, _, _ in second]
    assert all(a is b for (a, _, _), (b, _, _) in zip(first, second, strict=True))
    assert [w.summary.rows for w, _, _ in first] == [5, 1, 6]  # churn/1, other, all
    assert [json.loads(s) for _, s, _ in first] == [[5, 4.0], [1, 0.0], [6, 4.0]]
    for window, summary, performance in recording.seen:  # as they were when judged
        assert window.summary.to_bytes() == summary
        assert (window.performance and window.performance.to_bytes()) == performance
    assert len(loads) == 3 + 1  # each stored hour once, and a copy to merge all versions into


def test_labels_given_before_their_hour_was_built_are_not_counted_as_repeated(lab: Lab) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop")
    lab.clock.now = T0 + 2 * HOUR
    _log(lab, 0, 4, T0)  # outputs 0, 1, 0, 1
    predictions = lab.client.services.predictions
    predictions.add_labels("shop", "churn-api", {request_id(0): 1, request_id(1): 1})
    predictions.add_labels("shop", "churn-api", {request_id(0): 0})  # before the hour's build
    first = lab.monitors.run_pass("churn-api", project="shop")  # the hour built with them
    assert (first.labels, first.unknown_labels, first.repeated_labels) == (2, 0, 0)
    (value,) = lab.monitors.values("churn-api", "rows", project="shop", since=T0, until=T0 + HOUR)
    assert (value.details["labelled"], value.details["right"]) == (2, 2)
    predictions.add_labels("shop", "churn-api", {request_id(1): 0, request_id(2): 0})
    second = lab.monitors.run_pass("churn-api", project="shop")
    assert (second.labels, second.unknown_labels, second.repeated_labels) == (2, 0, 1)
    (value,) = lab.monitors.values("churn-api", "rows", project="shop", since=T0, until=T0 + HOUR)
    assert (value.details["labelled"], value.details["right"]) == (3, 2)


def test_labels_are_found_in_the_newest_hours_and_in_old_ones(lab: Lab) -> None:
    lab.monitors.create("churn-api", "rows", "volume", project="shop")
    lab.clock.now = T0 + 5 * HOUR
    for hour in range(5):
        _log(lab, 10 * hour, 2, T0 + hour * HOUR)
    lab.monitors.run_pass("churn-api", project="shop")
    with lab.client.services.store.read() as conn:
        outputs = set(conn.execute(select(monitor_windows.c.outputs_digest)).scalars())
    reads: list[str] = []  # the hours' outputs read (not the version's reference)
    blobs = lab.monitors.blobs
    get = blobs.get_bytes
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(blobs, "get_bytes", lambda digest: reads.append(digest) or get(digest))
        lab.client.services.predictions.add_labels("shop", "churn-api", {request_id(40): 1})
        newest = lab.monitors.run_pass("churn-api", project="shop")
        assert (newest.labels, newest.unknown_labels, sum(d in outputs for d in reads)) == (1, 0, 1)
        reads.clear()
        lab.client.services.predictions.add_labels(
            "shop", "churn-api", {request_id(0): 1, request_id(41): 0}
        )
        both = lab.monitors.run_pass("churn-api", project="shop")
        assert (both.labels, both.unknown_labels, sum(d in outputs for d in reads)) == (2, 0, 5)
        reads.clear()
        lab.client.services.predictions.add_labels("shop", "churn-api", {"nobody-0": 1})
        unknown = lab.monitors.run_pass("churn-api", project="shop")
        assert (unknown.labels, unknown.unknown_labels, sum(d in outputs for d in reads)) == (
            0,
            1,
            5,
        )
    (old,) = lab.monitors.values("churn-api", "rows", project="shop", since=T0, until=T0 + HOUR)
    assert old.details["labelled"] == 1


def test_on_a_replay_clock_labels_given_now_join_and_a_pass_judges_only_what_changed(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quickstart's story: rows logged at 2021's time, labels given now, the pass on
    the replay's clock (``with_clock``): the labels are joined (the horizon is counted
    from that clock), and a pass judges only the hours changed since the last one (the
    hours are stamped with the pass's clock, not the wall clock)."""
    old = T0 - 5 * 365 * 24 * HOUR
    now = [old + 2 * HOUR]
    monitors = lab.monitors.with_clock(lambda: now[0], label_settle_ms=0)
    monitors.create("churn-api", "rows", "volume", project="shop")
    _log(lab, 0, 4, old)
    monitors.run_pass("churn-api", project="shop")
    labels = {request_id(0): 0, request_id(1): 1}
    lab.client.services.predictions.add_labels("shop", "churn-api", labels)
    joined = monitors.run_pass("churn-api", project="shop")
    assert (joined.labels, joined.unknown_labels) == (2, 0)
    (value,) = monitors.values("churn-api", "rows", project="shop", since=old, until=old + HOUR)
    assert value.details["labelled"] == 2

    now[0] = old + 2 * HOUR + 60_000
    monitors.run_pass("churn-api", project="shop")  # changes nothing

    judged: list[int] = []
    check = checks.CHECKS["volume"]
    judge = check.judge

    def spy(config: Any, window: Any) -> Any:
        judged.append(window.start)
        return judge(config, window)

    monkeypatch.setattr(check, "judge", spy)
    now[0] = old + 3 * HOUR + 60_000
    _log(lab, 10, 1, old + 2 * HOUR)
    monitors.run_pass("churn-api", project="shop")
    assert set(judged) == {old + 2 * HOUR}  # not the first hour, unchanged

    # Rows of a window that starts after the pass's clock (a server's wall-clock report
    # during a replay, a server whose clock runs ahead) wait until the clock reaches it.
    judged.clear()
    _log(lab, 20, 1, old + 9 * HOUR)
    monitors.run_pass("churn-api", project="shop")
    assert old + 9 * HOUR not in judged
    assert monitors.values("churn-api", "rows", project="shop", since=old + 9 * HOUR) == []
    now[0] = old + 10 * HOUR + 60_000
    monitors.run_pass("churn-api", project="shop")
    assert old + 9 * HOUR in judged
