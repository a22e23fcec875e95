"""Projects on the wire."""

from __future__ import annotations

from pydantic import BaseModel, Field

from modelyard.api.schemas._types import Description, Public, Text

__all__ = [
    "ProjectCreate",
    "ProjectPage",
    "ProjectPublic",
    "ProjectSettingUpdate",
    "ProjectSettings",
]


class ProjectCreate(BaseModel):
    name: Text = Field(description="Letters, digits, '.', '_' or '-'; 1-128 characters.")
    description: Description = ""


class ProjectPublic(Public):
    id: str
    name: str
    description: str
    created_at: int = Field(description="Milliseconds since the epoch.")


class ProjectPage(Public):
    items: list[ProjectPublic]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class ProjectSettings(Public):
    settings: dict[str, bool] = Field(
        description="Each project setting as the project set it (off unless turned on); "
        "each is capped by the installation's setting of the same name."
    )


class ProjectSettingUpdate(BaseModel):
    value: bool = Field(description="On or off.")
