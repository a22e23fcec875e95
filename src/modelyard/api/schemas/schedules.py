"""Schedules and their fires on the wire."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from modelyard import limits
from modelyard.api.schemas._types import NUL_FREE, Public, ShortText

__all__ = ["FireList", "FirePublic", "ScheduleCreate", "SchedulePage", "SchedulePublic"]

PipelineRef = Annotated[
    str, StringConstraints(min_length=1, max_length=limits.PIPELINE_REF, pattern=NUL_FREE)
]


class ScheduleCreate(BaseModel):
    """A new schedule: one trigger, ``cron`` (with ``timezone``) or ``dataset``."""

    # Strict: a JSON value of another type (``"enabled": "yes"``) is refused, not coerced.
    model_config = ConfigDict(extra="forbid", strict=True)

    name: ShortText = Field(description="Unique in the project: letters, digits, '.', '_', '-'.")
    pipeline: PipelineRef = Field(
        description="MODULE:PIPELINE, or FILE.py:PIPELINE resolved against the server's "
        "working directory; the server imports it to check it and the parameters."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="The pipeline's parameters (JSON values)."
    )
    cron: ShortText | None = Field(None, description="Five-field cron expression.")
    timezone: ShortText | None = Field(
        None, description="IANA timezone of the cron expression (default UTC)."
    )
    dataset: ShortText | None = Field(
        None, description="Fire on each new version of this dataset of the project."
    )
    enabled: bool = True


class SchedulePublic(Public):
    id: str
    project: str
    name: str
    pipeline: str = Field(description="As stored: a file reference has its absolute path.")
    params: dict[str, Any]
    cron: str | None
    timezone: str | None
    dataset: str | None
    enabled: bool
    created_by: str
    created_at: int
    updated_at: int
    next_fire_at: int | None = Field(description="The next cron occurrence (ms), if enabled.")
    seen_version: int | None = Field(
        description="The newest dataset version a dataset schedule has handled."
    )
    requested_at: int | None = Field(
        description="A run asked for now (ms) that no worker has claimed yet."
    )
    requested_by: str | None = Field(description="Who asked for that run.")
    trigger: str = Field(description="In words: `cron 0 3 * * * (UTC)` or `dataset sales`.")


class SchedulePage(Public):
    items: list[SchedulePublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class FirePublic(Public):
    id: str
    schedule_id: str
    schedule: str
    project: str
    trigger: str = Field(
        description="`cron:EXPR@TIME`, `dataset:NAME:VERSION` or `manual:USER@TIME`."
    )
    due_at: int | None
    dataset_version_id: str | None
    missed: int = Field(description="Earlier cron occurrences skipped for this one.")
    status: str = Field(description="running, finished or failed.")
    worker: str
    attempts: int
    lease_until: int
    run_id: str | None
    error: str | None
    claimed_at: int
    finished_at: int | None


class FireList(Public):
    items: list[FirePublic] = Field(description="Newest first, at most `limit`.")
