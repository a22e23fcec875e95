"""The prediction log over HTTP: what ``client.predictions`` is in remote mode (and what
an inference server that reaches its control plane through a URL writes through).

``RemotePredictions`` has the methods of
:class:`~modelyard.predictions.contract.PredictionContract` with the same signatures,
results and errors: a segment goes as a Parquet body, labels as JSON, and a read comes a
page of whole segments at a time as Parquet, put together here.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from modelyard._util import validate_name
from modelyard.errors import InvalidInput
from modelyard.predictions.entities import Segment
from modelyard.predictions.service import (
    LABEL_COLUMNS,
    LOG_COLUMNS,
    labels_of,
    to_ms,
)
from modelyard.remote._http import HttpSession, entity

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["RemotePredictions"]

_PARQUET = "application/vnd.apache.parquet"
_NEXT_CURSOR = "Modelyard-Next-Cursor"


class RemotePredictions:
    """Deployments' prediction logs on a Modelyard server."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    def write_segment(
        self,
        project: str,
        deployment: str,
        table: bytes | pa.Table,
        *,
        deployment_id: str = "",
        writer: str = "",
    ) -> Segment:
        """Send a segment (Parquet bytes, or an Arrow table written as Parquet here); the
        server checks and keeps it."""
        from modelyard.predictions._segments import to_parquet

        data = bytes(table) if isinstance(table, bytes | bytearray | memoryview) else None
        if data is None:
            data = to_parquet(table)
        answer = self.http.call(
            "POST",
            f"{_path(project, deployment)}/predictions/segments",
            params={"deployment_id": deployment_id, "writer": writer},
            content=data,
            headers={"Content-Type": _PARQUET},  # the same bytes again are one segment
        )
        found = answer.json()
        return entity(Segment, found, version_ids=tuple(found["version_ids"]))

    def add_labels(
        self, project: str, deployment: str, labels: Mapping[str, Any] | pd.DataFrame
    ) -> int:
        """Send labels by prediction id (the server keeps the later of two)."""
        pairs = labels_of(labels)
        body = {"labels": [{"prediction_id": k, "label": _plain(v)} for k, v in pairs]}
        answer = self.http.call("POST", f"{_path(project, deployment)}/labels", json_body=body)
        return int(answer.json()["labelled"])

    def load(
        self,
        project: str,
        deployment: str,
        *,
        since: datetime | int | None = None,
        until: datetime | int | None = None,
        version: str | int | None = None,
        with_labels: bool = True,
    ) -> pd.DataFrame:
        """The log's window, read a page at a time: see
        :meth:`~modelyard.predictions.service.PredictionService.load`."""
        import pandas as pd
        import pyarrow.parquet as pq

        if isinstance(version, bool) or not isinstance(version, str | int | None):
            raise InvalidInput("version must be a version id or number", field="version")
        params: dict[str, Any] = {"with_labels": with_labels, "format": "parquet"}
        for name, value in (("since", to_ms(since, "since")), ("until", to_ms(until, "until"))):
            if value is not None:
                params[name] = value
        if version is not None:
            params["version"] = str(version)
        path = f"{_path(project, deployment)}/predictions"
        frames = []
        while True:
            answer = self.http.call("GET", path, params=params)
            frames.append(pq.read_table(io.BytesIO(answer.content)).to_pandas())
            cursor = answer.headers.get(_NEXT_CURSOR)
            if cursor is None:
                break
            params["cursor"] = cursor
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        for name in ("model", "version", "run_id"):
            frame[name] = pd.Series(
                [None if pd.isna(v) else v for v in frame[name].tolist()], dtype=object
            )
        frame["version"] = pd.Series(
            [None if v is None else int(v) for v in frame["version"]], dtype=object
        )
        if with_labels:
            frame["label"] = pd.Series(
                [None if v is None or v != v else json.loads(v) for v in frame["label"]],
                dtype=object,
            )
        ordered = [*LOG_COLUMNS]
        rest = [c for c in frame.columns if c not in ordered and c not in LABEL_COLUMNS]
        tail = [c for c in LABEL_COLUMNS if c in frame.columns]
        return frame[[*ordered, *rest, *tail]]


def _path(project: str, deployment: str) -> str:
    validate_name(project, "project")
    validate_name(deployment, "deployment")
    return f"/projects/{quote(project, safe='')}/deployments/{quote(deployment, safe='')}"


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)  # a NumPy scalar
    return item() if item is not None and callable(item) else value
