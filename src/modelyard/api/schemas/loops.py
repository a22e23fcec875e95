"""The closed loop on the wire: a deployment's loop policy and its loop runs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.api.schemas._types import Description, Public, Text

__all__ = [
    "DecideBody",
    "LoopPolicyBody",
    "LoopPolicyPublic",
    "LoopRunPage",
    "LoopRunPublic",
    "LoopStepPublic",
    "ReasonBody",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoopPolicyBody(_Body):
    policy: dict[str, Any] | Text = Field(
        description="The policy: a mapping, or its YAML (checked whole; 422 names the field)."
    )


class LoopPolicyPublic(Public):
    deployment: str
    enabled: bool
    config: dict[str, Any] = Field(description="The policy with its defaults filled in.")
    updated_by: str
    updated_at: int


class ReasonBody(_Body):
    reason: Description = Field("", description="Why (kept with the run).")


class DecideBody(_Body):
    approve: bool = Field(description="true: approve what the run waits for; false: reject.")
    comment: Description = ""


class LoopStepPublic(Public):
    name: str = Field(
        description="retrain, register, evaluate, approve, canary, compare, promote, rollback."
    )
    status: str = Field(description="pending, running, waiting, done, failed or skipped.")
    started_at: int | None
    ended_at: int | None
    attempts: int
    detail: dict[str, Any]


class LoopRunPublic(Public):
    id: str
    project: str
    deployment: str
    trigger: dict[str, Any] = Field(
        description="What started it: kind alert (alert_id, monitor, finding), schedule or manual."
    )
    state: str = Field(
        description="running, waiting, promoted, rolled_back, rejected, failed or cancelled."
    )
    steps: list[LoopStepPublic]
    champion: str | None
    candidate: str | None
    decision: str | None
    created_by: str
    created_at: int
    updated_at: int
    ended_at: int | None


class LoopRunPage(Public):
    items: list[LoopRunPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
