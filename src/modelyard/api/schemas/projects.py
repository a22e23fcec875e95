"""Projects on the wire."""

from __future__ import annotations

from pydantic import BaseModel, Field

from modelyard.api.schemas._types import Description, Public, Text

__all__ = ["ProjectCreate", "ProjectPage", "ProjectPublic"]


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
