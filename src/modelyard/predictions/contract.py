"""The prediction log's surface the SDK and the inference server use:
:class:`~modelyard.predictions.service.PredictionService` embedded, and
:class:`~modelyard.remote.predictions.RemotePredictions` through a server."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from modelyard.predictions.entities import Segment

__all__ = ["PredictionContract"]


class PredictionContract(Protocol):
    def write_segment(
        self,
        project: str,
        deployment: str,
        table: bytes | pa.Table,
        *,
        deployment_id: str = "",
        writer: str = "",
    ) -> Segment: ...

    def add_labels(
        self, project: str, deployment: str, labels: Mapping[str, Any] | pd.DataFrame
    ) -> int: ...

    def load(
        self,
        project: str,
        deployment: str,
        *,
        since: datetime | int | None = None,
        until: datetime | int | None = None,
        version: str | int | None = None,
        with_labels: bool = True,
    ) -> pd.DataFrame: ...
