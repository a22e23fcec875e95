"""Alerts and health scores on the wire."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.api.schemas._types import Description, Public

__all__ = [
    "AlertList",
    "AlertNotePublic",
    "AlertPublic",
    "CommentBody",
    "HealthComponentPublic",
    "HealthList",
    "HealthPublic",
    "NoteBody",
]


class _Body(BaseModel):
    """A request body: an unknown field is refused, never dropped."""

    model_config = ConfigDict(extra="forbid")


class NoteBody(_Body):
    comment: Description = Field("", description="Why (kept in the alert's history).")


class CommentBody(_Body):
    comment: Description = Field(min_length=1, description="The comment (not empty).")


class AlertNotePublic(Public):
    action: str = Field(
        description="opened, seen (again: the last sighting), acknowledged, commented, "
        "resolved (by a person) or cleared (its condition cleared)."
    )
    by: str
    at: int
    comment: str


class AlertPublic(Public):
    id: str
    project: str
    subject_kind: str = Field(description="deployment, model_version, model or project.")
    subject_id: str
    subject: str = Field(description="The subject's readable name (`churn-rf/3`).")
    monitor: str
    severity: str = Field(description="info, warning or critical.")
    status: str = Field(description="open, acknowledged or resolved.")
    title: str
    details: dict[str, Any]
    opened_at: int
    last_seen_at: int | None
    occurrences: int
    acknowledged_at: int | None
    acknowledged_by: str | None
    resolved_at: int | None
    resolved_by: str | None
    history: list[AlertNotePublic] = Field(description="Empty in a listing.")


class AlertList(Public):
    items: list[AlertPublic]


class HealthComponentPublic(Public):
    name: str
    score: float | None = Field(description="0-100; null: nothing to judge (left out).")
    weight: float
    details: dict[str, Any]


class HealthPublic(Public):
    subject_kind: str = Field(description="deployment or model_version.")
    subject: str
    score: float | None = Field(description="0-100; null when no component could be judged.")
    components: list[HealthComponentPublic]
    formula: str
    at: int


class HealthList(Public):
    items: list[HealthPublic]
