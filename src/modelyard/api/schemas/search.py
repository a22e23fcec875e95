"""Run search on the wire."""

from __future__ import annotations

from pydantic import BaseModel, Field

from modelyard.api.schemas._types import Public, Text
from modelyard.api.schemas.runs import RunPublic
from modelyard.tracking.service import MAX_RESULTS

__all__ = ["RunPagePublic", "RunSearch"]


class RunSearch(BaseModel):
    project: Text
    filter: Text | None = Field(
        None, description="e.g. \"metrics.auc > 0.8 and params.max_depth = '8'\"."
    )
    order_by: list[Text] | None = Field(None, description='e.g. ["metrics.auc DESC"].')
    max_results: int = Field(1000, ge=1, le=MAX_RESULTS, description="Page size, 1-50,000.")
    page_token: Text | None = Field(None, description="next_page_token of the previous page.")
    include_deleted: bool = False


class RunPagePublic(Public):
    runs: list[RunPublic]
    next_page_token: str | None
