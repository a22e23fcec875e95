"""Cron expressions: checks, next and latest occurrences, timezones, missed counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelyard.errors import InvalidInput
from modelyard.schedules import Cron
from modelyard.schedules.cron import check_timezone


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_next_occurrence_in_utc() -> None:
    cron = Cron("0 9 * * 1-5")
    # Friday 2026-12-04 12:00 UTC: the next weekday 09:00 is Monday.
    assert cron.next_after(at(2026, 12, 4, 12, 0)) == at(2026, 12, 7, 9, 0)
    assert cron.next_after(at(2026, 12, 4, 8, 59)) == at(2026, 12, 4, 9, 0)
    assert cron.next_after(at(2026, 12, 4, 9, 0)) == at(2026, 12, 7, 9, 0)


def test_a_timezone_moves_the_occurrence_and_follows_daylight_saving() -> None:
    paris = Cron("0 3 * * *", "Europe/Paris")
    assert paris.next_after(at(2026, 12, 4, 0, 0)) == at(2026, 12, 4, 2, 0)  # CET: UTC+1
    assert paris.next_after(at(2026, 7, 4, 0, 0)) == at(2026, 7, 4, 1, 0)  # CEST: UTC+2
    assert paris.label(at(2026, 12, 4, 2, 0)) == "0 3 * * *@2026-12-04T03:00+01:00"
    # 2026-03-29: clocks jump from 02:00 to 03:00; 02:30 happens at 03:00 local.
    jump = Cron("30 2 * * *", "Europe/Paris")
    assert jump.next_after(at(2026, 3, 28, 12, 0)) == at(2026, 3, 29, 1, 0)


def test_a_time_that_happens_twice_when_clocks_fall_back_runs_twice() -> None:
    # 2026-10-25 in Paris: 02:30 CEST is 00:30 UTC, then 02:30 CET is 01:30 UTC.
    cron = Cron("30 2 * * *", "Europe/Paris")
    assert cron.next_after(at(2026, 10, 25, 0, 0)) == at(2026, 10, 25, 0, 30)
    assert cron.next_after(at(2026, 10, 25, 0, 30)) == at(2026, 10, 25, 1, 30)
    assert cron.latest_at(at(2026, 10, 25, 1, 0)) == at(2026, 10, 25, 0, 30)
    assert cron.latest_at(at(2026, 10, 25, 1, 45)) == at(2026, 10, 25, 1, 30)
    assert cron.due(at(2026, 10, 25, 0, 30), at(2026, 10, 25, 1, 45)) == (
        at(2026, 10, 25, 1, 30),
        0,
    )
    assert cron.label(at(2026, 10, 25, 1, 30)) == "30 2 * * *@2026-10-25T02:30+01:00"


def test_latest_occurrence_counts_the_minute_itself() -> None:
    cron = Cron("*/15 * * * *")
    assert cron.latest_at(at(2026, 12, 4, 10, 15)) == at(2026, 12, 4, 10, 15)
    assert cron.latest_at(at(2026, 12, 4, 10, 29, 59)) == at(2026, 12, 4, 10, 15)


def test_due_is_the_newest_occurrence_and_counts_the_missed_ones() -> None:
    cron = Cron("0 * * * *")
    assert cron.due(at(2026, 12, 4, 10, 0), at(2026, 12, 4, 10, 59)) is None
    assert cron.due(at(2026, 12, 4, 10, 0), at(2026, 12, 4, 11, 0)) == (at(2026, 12, 4, 11), 0)
    assert cron.due(at(2026, 12, 4, 10, 0), at(2026, 12, 4, 14, 30)) == (at(2026, 12, 4, 14), 3)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "5 fields"),
        ("0 0 * * * 2027", "5 fields"),
        ("61 * * * *", "not a valid cron expression"),
        ("0 25 * * *", "not a valid cron expression"),
        ("a b c d e", "not a valid cron expression"),
        ("0 0 31 2 *", "'0 0 31 2 \\*' never occurs"),
    ],
)
def test_bad_expressions_are_refused(expression: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        Cron(expression)
    assert info.value.field == "cron"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", " UTC"])
def test_unknown_timezones_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="timezone"):
        check_timezone(name)
    with pytest.raises(InvalidInput, match="timezone"):
        Cron("0 3 * * *", name)


def test_spaces_are_normalised() -> None:
    assert Cron("0   3 * *  *").expression == "0 3 * * *"
