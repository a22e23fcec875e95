"""Artifacts on the wire (their bytes travel as octet streams and tar streams)."""

from __future__ import annotations

from pydantic import Field

from modelyard.api.schemas._types import Public

__all__ = ["ArtifactPage", "ArtifactPublic"]


class ArtifactPublic(Public):
    path: str
    digest: str = Field(description="BLAKE3 of the file, or of the tree's manifest.")
    kind: str = Field(description="file or tree.")
    size: int = Field(description="Bytes (of every file, for a tree).")
    created_at: int


class ArtifactPage(Public):
    items: list[ArtifactPublic]
    next_cursor: str | None
