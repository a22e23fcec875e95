"""The story's timeline: what happened when, on the data's clock, as a list of events the
story appends to and the CLI prints (``cli/quickstart.py``). What the monitoring parts do
(drift detected, the loop's retraining, canary and promotion, the health recovering)
waits as placeholders until those parts :meth:`Timeline.fill` them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

#: Events the monitoring parts add when they exist; until then the story shows them as
#: waiting (kind -> what the event will say).
PLACEHOLDERS = {
    "drift": "drift detected",
    "performance": "performance fell",
    "retrained": "loop retrained",
    "canary": "canary",
    "promoted": "promoted",
    "recovered": "health recovered",
}


@dataclass(slots=True)
class Event:
    """Something that happened in the story: its ``kind``, when on the data's clock (ms
    since the epoch; None: before the replay, or not yet), what, and whether it is a
    placeholder still waiting for the part that makes it happen."""

    kind: str
    what: str
    at_ms: int | None = None
    waiting: bool = False

    @property
    def when(self) -> str:
        if self.at_ms is None:
            return ""
        return datetime.fromtimestamp(self.at_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


@dataclass(slots=True)
class Timeline:
    """The story's events in the order they happened; placeholders for what the monitoring
    parts will do (:data:`PLACEHOLDERS`) until they :meth:`fill` them."""

    events: list[Event] = field(default_factory=list)
    #: Placeholders that will not wait any more: what happened instead was told.
    settled: set[str] = field(default_factory=set)

    def add(self, kind: str, what: str, at_ms: int | None = None) -> Event:
        event = Event(kind, what, at_ms)
        self.events.append(event)
        return event

    def wait_for(self, kinds: Sequence[str] = tuple(PLACEHOLDERS)) -> None:
        """Placeholders for ``kinds`` (those not in the timeline yet), in that order."""
        present = {e.kind for e in self.events} | self.settled
        for kind in kinds:
            if kind not in present:
                self.events.append(Event(kind, PLACEHOLDERS[kind], None, waiting=True))

    def fill(
        self, kind: str, what: str, at_ms: int | None, *, replaces: str | None = None
    ) -> Event:
        """The placeholder of ``kind`` made an event that happened (moved to where it
        happened among the others); added when there is no placeholder of it.
        ``replaces``: a placeholder this event happened instead of (a rollback instead of
        the promotion), which then waits no more."""
        gone = {kind} if replaces is None else {kind, replaces}
        self.settled |= gone
        self.events = [e for e in self.events if not (e.kind in gone and e.waiting)]
        event = Event(kind, what, at_ms)
        later = [
            i
            for i, e in enumerate(self.events)
            if at_ms is not None and (e.waiting or (e.at_ms is not None and e.at_ms > at_ms))
        ]
        self.events.insert(later[0] if later else len(self.events), event)
        return event

    def waiting(self) -> list[str]:
        return [e.kind for e in self.events if e.waiting]
