"""Cron expressions: five fields (minute, hour, day of month, month, day of week) read in
a timezone, through ``croniter``.

Times in are aware datetimes and times out are in UTC (two local times of one zone
compare without regard to which pass of a repeated hour they are in); occurrences are
whole minutes of the schedule's timezone. Around daylight-saving changes, a local time
that does not exist (02:30 when clocks jump from 02:00 to 03:00) happens at the first
minute after the jump, and a time that exists twice happens twice (two instants).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from modelyard.errors import InvalidInput

__all__ = ["Cron", "check_timezone"]

#: How many missed occurrences are counted before the count says "at least".
MAX_COUNTED = 1000


def check_timezone(name: object) -> ZoneInfo:
    """The IANA timezone ``name`` (``UTC``, ``Europe/Paris``), or InvalidInput."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise InvalidInput(
            f"timezone must be an IANA name such as Europe/Paris; got {name!r}", field="timezone"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown timezone {name!r}; use an IANA name such as UTC or Europe/Paris",
            field="timezone",
        ) from None


@dataclass(frozen=True, slots=True)
class Cron:
    """A checked five-field cron expression in a timezone."""

    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        from croniter import CroniterBadDateError, croniter

        check_timezone(self.timezone)
        expr = self.expression
        if not isinstance(expr, str) or len(expr.split()) != 5:
            raise InvalidInput(
                f"cron expression must have 5 fields (minute hour day-of-month month "
                f"day-of-week), such as '0 3 * * *'; got {expr!r}",
                field="cron",
            )
        if not croniter.is_valid(expr):
            raise InvalidInput(f"not a valid cron expression: {expr!r}", field="cron")
        object.__setattr__(self, "expression", " ".join(expr.split()))
        try:  # a valid expression can still name no day (February 31st)
            self.next_after(datetime.now(UTC))
        except CroniterBadDateError:
            raise InvalidInput(f"cron expression {expr!r} never occurs", field="cron") from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after ``moment``."""
        from croniter import croniter

        found: datetime = croniter(self.expression, moment.astimezone(self.zone)).get_next(datetime)
        return found.astimezone(UTC)

    def latest_at(self, moment: datetime) -> datetime:
        """The newest occurrence at or before ``moment``."""
        from croniter import croniter

        minute = moment.astimezone(self.zone).replace(second=0, microsecond=0)
        # Occurrences are whole minutes: one second past the minute makes it count.
        found: datetime = croniter(self.expression, minute + timedelta(seconds=1)).get_prev(
            datetime
        )
        found = found.astimezone(UTC)
        # Going backwards, croniter can land early when clocks fall back (an hour, or the
        # day before); going forwards it does not, so walk on from there.
        while (following := self.next_after(found)) <= moment:
            found = following
        return found

    def due(self, after: datetime, now: datetime) -> tuple[datetime, int] | None:
        """The newest occurrence in ``(after, now]`` and how many earlier ones in that
        span were missed (counted up to :data:`MAX_COUNTED`); None when none is due."""
        first = self.next_after(after)
        if first > now:
            return None
        latest = self.latest_at(now)
        missed, moment = 0, first
        while moment < latest and missed < MAX_COUNTED:
            missed += 1
            moment = self.next_after(moment)
        return latest, missed

    def label(self, moment: datetime) -> str:
        """``EXPR@TIME``: the trigger of the occurrence at ``moment`` as runs record it
        (local time of the schedule's timezone, with its offset)."""
        local = moment.astimezone(self.zone).isoformat(timespec="minutes")
        return f"{self.expression}@{local}"


def from_ms(ms: int) -> datetime:
    """Milliseconds since the epoch as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def to_ms(moment: datetime) -> int:
    """An aware datetime as milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)
