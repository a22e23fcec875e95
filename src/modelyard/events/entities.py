"""What the webhook service returns: webhooks, their deliveries, and a worker's job."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Delivery", "Job", "Webhook"]


@dataclass(frozen=True, slots=True)
class Webhook:
    """A subscription of ``url`` to event kinds (``events``; ``*`` for all) of a project.
    ``format``: ``json`` (the event, signed) or ``slack`` (``{"text": ...}``, signed too).
    ``secret`` is the signing secret, given only by ``create`` (shown once): None
    otherwise."""

    id: str
    project: str
    url: str
    events: list[str]
    format: str
    created_by: str
    created_at: int
    secret: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event sent to one webhook: ``pending`` (waiting for its first or next attempt,
    at ``next_attempt_at``), ``delivered`` or ``dead`` (every attempt failed). Its id is
    the ``Modelyard-Delivery`` header of every attempt, so a receiver can drop
    duplicates. ``last_status``: the HTTP status of the last attempt (None when none was
    answered); ``last_error``: why the last attempt failed."""

    id: str
    webhook_id: str
    event_id: str
    project: str
    kind: str
    status: str
    attempts: int
    next_attempt_at: int
    last_status: int | None
    last_error: str | None
    created_at: int
    delivered_at: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Job:
    """A delivery a worker holds: what it sends, where, signed with what. ``attempt``:
    this attempt's number (1 for the first)."""

    delivery_id: str
    attempt: int
    url: str
    format: str
    secret: str
    event: dict[str, Any]
