"""Runs on the wire."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from modelyard.api.schemas._types import (
    NUL_FREE,
    EntryPoint,
    Int64,
    Key,
    NonNegative,
    Public,
    RunName,
    ShortText,
    TagValue,
    Text,
)

__all__ = [
    "ExplanationPublic",
    "LastStepsPublic",
    "RunCreate",
    "RunEnd",
    "RunPublic",
    "RunRef",
    "StepExplanationPublic",
]


class RunCreate(BaseModel):
    project: Text = Field(description="Created when it does not exist yet.")
    name: RunName | None = Field(None, description="Default: run-<first 8 digits of the id>.")
    parent_id: Annotated[str, StringConstraints(max_length=64, pattern=NUL_FREE)] | None = None
    user: ShortText = ""
    host: ShortText = ""
    entry_point: EntryPoint = ""
    tags: dict[Key, TagValue] = {}


class RunEnd(BaseModel):
    status: Text = Field(description="finished, failed or killed.")
    error: Text | None = Field(
        None, description="The traceback of a failed run (its last 65,536 characters are kept)."
    )
    wall_time_s: NonNegative | None = Field(None, description="Seconds, >= 0.")
    cpu_time_s: NonNegative | None = Field(None, description="CPU-seconds, >= 0.")
    peak_rss_bytes: Int64 | None = None
    gpu_time_s: NonNegative | None = Field(None, description="GPU-seconds, >= 0.")
    cost: NonNegative | None = Field(None, description="In the server's currency, >= 0.")


class RunPublic(Public):
    id: str
    project: str
    name: str
    status: str = Field(description="running, finished, failed, killed or lost.")
    start_time: int
    end_time: int | None
    duration_s: float | None
    parent_id: str | None
    user: str
    host: str
    entry_point: str
    error: str | None
    wall_time_s: float | None
    cpu_time_s: float | None
    peak_rss_bytes: int | None
    gpu_time_s: float | None
    cost: float | None
    params: dict[str, str]
    metrics: dict[str, float] = Field(description="The latest value of each metric.")
    tags: dict[str, str]
    deleted_at: int | None = Field(
        None, description="When the run was deleted (hidden from lists until restored)."
    )


class RunRestored(Public):
    restored: int = Field(description="How many runs were restored (0: it was not deleted).")


class RunRef(Public):
    id: str = Field(description="The full run id.")


class LastStepsPublic(Public):
    steps: dict[str, int] = Field(description="The highest step logged for each metric.")


class StepExplanationPublic(Public):
    step: str
    run_id: str = Field(description="The step's own run.")
    outcome: str = Field(description="ran, failed or cached (or the step run's status).")
    reasons: list[str] = Field(description="Why, in words.")


class ExplanationPublic(BaseModel):
    steps: list[StepExplanationPublic] = Field(description="In the order they were recorded.")
