"""The value objects of the prediction log (never table rows): what the prediction
service returns, the same embedded and through a server."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Segment"]


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment of a deployment's prediction log: a Parquet blob of answered
    predictions, with what its index row knows of it (its rows' time span, in ms since the
    epoch, and the ids of the model versions that answered them)."""

    id: str
    project: str
    deployment: str
    deployment_id: str
    digest: str
    rows: int
    bytes: int
    min_time: int
    max_time: int
    version_ids: tuple[str, ...]
    writer: str
    created_by: str
    created_at: int

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["version_ids"] = list(self.version_ids)
        return out
