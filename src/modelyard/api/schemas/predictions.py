"""The prediction log on the wire: a segment's index row, labels."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from modelyard import limits
from modelyard.api.schemas._types import NUL_FREE, Public

__all__ = ["LabelIn", "LabelsIn", "LabelsOut", "SegmentPublic"]

PredictionId = Annotated[
    str, StringConstraints(min_length=1, max_length=limits.PREDICTION_ID, pattern=NUL_FREE)
]


class LabelIn(BaseModel):
    """The ground truth of one prediction."""

    model_config = ConfigDict(extra="forbid")

    prediction_id: PredictionId = Field(
        description="`<request id>-<row>` (a bare request id means its row 0)."
    )
    label: Any = Field(description="Any JSON value.")


class LabelsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: list[LabelIn] = Field(max_length=limits.PREDICTION_LABELS)


class LabelsOut(BaseModel):
    labelled: int = Field(description="How many labels were kept.")


class SegmentPublic(Public):
    id: str
    project: str
    deployment: str
    deployment_id: str
    digest: str
    rows: int
    bytes: int
    min_time: int
    max_time: int
    version_ids: list[str]
    writer: str
    created_by: str
    created_at: int
