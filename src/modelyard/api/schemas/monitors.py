"""Monitors, monitoring passes and window values on the wire."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard import limits
from modelyard.api.schemas._types import Public, ShortText, Text

__all__ = [
    "MonitorApply",
    "MonitorCreate",
    "MonitorPage",
    "MonitorPublic",
    "PassPublic",
    "WindowValuePage",
    "WindowValuePublic",
]

Name = Annotated[ShortText, Field(json_schema_extra={"maxLength": limits.NAME})]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MonitorCreate(_Body):
    name: Name
    kind: ShortText = Field(description="drift, prediction_drift, performance, volume, ...")
    config: dict[str, Any] | None = Field(
        default=None, description="The kind's settings (docs/monitoring.md lists them)."
    )
    window: ShortText = Field(default="hour", description="`hour` or `day`.")
    slide: ShortText | None = Field(
        default=None, description="`hour`: a day window sliding by an hour; none: tumbling."
    )
    severity: ShortText = Field(default="warning", description="info, warning or critical.")


class MonitorApply(_Body):
    spec: (
        Annotated[Text, Field(json_schema_extra={"maxLength": limits.SCHEDULE_PARAMS})]
        | (dict[str, Any])
    ) = Field(
        description="A YAML document (or its mapping): `{deployment, monitors: [{name, kind, "
        "window, slide, severity, ...config}]}`."
    )


class MonitorPublic(Public):
    id: str
    project: str
    deployment: str
    name: str
    kind: str
    config: dict[str, Any]
    window: str
    slide: str | None
    severity: str
    enabled: bool
    created_by: str
    created_at: int
    updated_at: int
    last_pass_at: int | None


class MonitorPage(Public):
    items: list[MonitorPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class PassPublic(Public):
    deployment: str
    segments: int
    rows: int
    windows: int
    labels: int
    values: int
    opened: list[str]
    resolved: list[str]
    errors: list[str]
    seconds: float
    unknown_labels: int
    repeated_labels: int


class WindowValuePublic(Public):
    monitor: str
    deployment: str
    version: str | None = Field(description="`model/3`, or null: all versions together.")
    window_start: int
    window_end: int
    value: float | None
    threshold: float | None
    status: str = Field(description="ok, breach or no_data.")
    rows: int
    details: dict[str, Any] = Field(description="The kind's details (per feature, metric).")
    computed_at: int


class WindowValuePage(Public):
    items: list[WindowValuePublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
