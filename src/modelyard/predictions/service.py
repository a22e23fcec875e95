"""The prediction log (a service): segments of answered predictions and their labels.

The inference server gathers what it answers and writes it, a batch at a time, as one
Parquet segment per deployment (:meth:`PredictionService.write_segment`): the bytes are a
blob of the artifact store and a row of ``prediction_segments`` indexes them (the time
span of their rows and the model versions that answered), so a read opens only the
segments its window overlaps. Labels (ground truth, any JSON value) come later, by
prediction id (``<request id>-<row>``; a bare request id means its row 0), in batches: a
later label of a prediction replaces the earlier, and each batch is an audit event
saying how many it replaced. :meth:`PredictionService.load` reads a window of a
deployment's log as one DataFrame joined with the labels and, through the registry,
with each row's model, version number and the run that trained it (from there lineage
leads to the training data).

Rights: writing a segment and adding labels need ``contributor`` on the project (the
inference server's token holds it), reading needs ``viewer``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Column, Connection, and_, or_, select

from modelyard import limits
from modelyard._util import new_id, now_ms, validate_name
from modelyard.errors import InvalidInput, NotFound
from modelyard.governance.roles import Role, missing_project
from modelyard.predictions._segments import (
    check_segment,
    parse_parquet,
    read_segment,
    to_parquet,
)
from modelyard.predictions.entities import Segment
from modelyard.store.tables import prediction_labels, prediction_segments, projects

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from modelyard.artifacts import BlobStore
    from modelyard.governance.access import Access
    from modelyard.governance.identity import Actor
    from modelyard.registry.service import ModelService
    from modelyard.store import Store

__all__ = [
    "LABEL_COLUMNS",
    "LOG_COLUMNS",
    "PredictionService",
    "labels_of",
    "prediction_id",
    "to_ms",
]

#: The columns of a loaded log, before its inputs and outputs (and after them, the label
#: and when it was given).
LOG_COLUMNS = (
    "prediction_id",
    "deployment",
    "model",
    "version",
    "version_id",
    "run_id",
    "time",
    "latency_ms",
    "shadow",
)
LABEL_COLUMNS = ("label", "labelled_at")
_REQUEST_ID = re.compile(r"[0-9a-f]{32}")
#: Prediction ids asked for in one query of labels.
_IDS_PER_QUERY = 500


def prediction_id(value: object) -> str:
    """A prediction id as labels keep it: a bare request id (32 hex digits) is its row 0."""
    text = limits.check_text(value, "prediction_id", limits.PREDICTION_ID)
    if not text:
        raise InvalidInput("a prediction id is empty", field="prediction_id")
    return f"{text}-0" if _REQUEST_ID.fullmatch(text) else text


def to_ms(value: datetime | int | None, field: str) -> int | None:
    """A time given as a datetime (naive: UTC) or integer ms since the epoch, in ms."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(
            f"{field} must be a datetime or integer milliseconds since the epoch", field=field
        )
    return value


class PredictionService:
    """The segments and labels of deployments' prediction logs in one metadata store and
    blob store."""

    #: Segments are blobs, for garbage collection.
    blob_columns: ClassVar[tuple[Column[Any], ...]] = (prediction_segments.c.digest,)

    def __init__(
        self, store: Store, blobs: BlobStore, access: Access, models: ModelService
    ) -> None:
        """``access``: the actor, its checks and the audit log; ``models``: the registry,
        asked for the model, version number and run of each version in a log."""
        self.store = store
        self.blobs = blobs
        self.access = access
        self.models = models

    def acting_as(self, actor: Actor) -> PredictionService:
        """This service acting for ``actor`` (a server makes one per request)."""
        view = copy.copy(self)
        view.access = self.access.acting_as(actor)
        view.models = self.models.acting_as(actor)
        return view

    def _project_id(self, conn: Connection, project: str, needed: Role) -> str:
        validate_name(project, "project")
        found = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
        if found is None:
            raise missing_project(project)
        self.access.require(conn, project, needed, hidden=missing_project(project))
        return str(found)

    # -- writing --------------------------------------------------------------------------

    def write_segment(
        self,
        project: str,
        deployment: str,
        table: bytes | pa.Table,
        *,
        deployment_id: str = "",
        writer: str = "",
    ) -> Segment:
        """Store ``table`` (Parquet bytes, or an Arrow table written as Parquet here) as a
        segment of ``deployment``'s log: checked as a segment (see
        :mod:`modelyard.predictions._segments`), at most
        ``limits.PREDICTION_SEGMENT_BYTES``, kept as a blob and indexed.
        ``deployment_id``: the deployment's id (a name may be used again after a
        deletion); ``writer``: which server wrote it (``host:port``). The same bytes sent
        again for the deployment are the segment already kept (a writer may retry a
        write whose answer it lost)."""
        validate_name(deployment, "deployment")
        limits.check_text(deployment_id, "deployment_id", 64)
        limits.check_text(writer, "writer", limits.SHORT_TEXT)
        with self.store.read() as conn:  # the rights before a byte is stored
            self._project_id(conn, project, Role.CONTRIBUTOR)
        if isinstance(table, bytes | bytearray | memoryview):
            data = bytes(table)
            _check_size(len(data))
            facts = check_segment(parse_parquet(data))
        else:
            facts = check_segment(table)
            data = to_parquet(table)
            _check_size(len(data))
        digest = self.blobs.put_bytes(data).digest
        with self.store.write() as conn:
            project_id = self._project_id(conn, project, Role.CONTRIBUTOR)
            seg = prediction_segments.c
            same = conn.execute(
                select(prediction_segments).where(
                    seg.project_id == project_id,
                    seg.deployment == deployment,
                    seg.digest == digest,
                )
            ).first()
            if same is not None:  # sent again (an answer lost on the way): logged once
                return _segment(project, same)
            row = {
                "id": new_id(),
                "project_id": project_id,
                "deployment": deployment,
                "deployment_id": deployment_id,
                "digest": digest,
                "rows": facts.rows,
                "bytes": len(data),
                "min_time": facts.min_time,
                "max_time": facts.max_time,
                "version_ids": json.dumps(list(facts.version_ids)),
                "writer": writer,
                "created_by": self.access.who(),
                "created_at": now_ms(),
            }
            conn.execute(prediction_segments.insert().values(**row))
        return _segment(project, row)

    def add_labels(
        self, project: str, deployment: str, labels: Mapping[str, Any] | pd.DataFrame
    ) -> int:
        """Keep the ground truth of predictions of ``deployment``: a mapping of prediction
        id to label, or a DataFrame with ``prediction_id`` and ``label`` columns; a label
        is any JSON value of at most ``limits.PREDICTION_LABEL`` characters, at most
        ``limits.PREDICTION_LABELS`` in one call. A later label of a prediction replaces
        the earlier; the batch is one audit event that says how many it replaced. The
        prediction need not be logged yet (labels may come first). Returns how many
        labels were kept."""
        validate_name(deployment, "deployment")
        pairs = labels_of(labels)
        if len(pairs) > limits.PREDICTION_LABELS:
            raise InvalidInput(
                f"{len(pairs)} labels in one call; the limit is {limits.PREDICTION_LABELS}",
                field="labels",
            )
        kept: dict[str, str] = {}
        for key, value in pairs:
            kept[prediction_id(key)] = _label_json(value)
        if not kept:
            with self.store.read() as conn:  # nothing to keep, but the same answer to who asks
                self._project_id(conn, project, Role.CONTRIBUTOR)
            return 0
        who = self.access.who()
        at = now_ms()
        with self.store.write() as conn:
            project_id = self._project_id(conn, project, Role.CONTRIBUTOR)
            replaced = sum(
                len(_labels_of(conn, project_id, deployment, chunk))
                for chunk in _chunks(list(kept), _IDS_PER_QUERY)
            )
            conn.execute(
                self.store.upsert_stmt(
                    prediction_labels,
                    ["project_id", "deployment", "prediction_id"],
                    ["label", "labelled_by", "labelled_at"],
                ),
                [
                    {
                        "project_id": project_id,
                        "deployment": deployment,
                        "prediction_id": key,
                        "label": value,
                        "labelled_by": who,
                        "labelled_at": at,
                    }
                    for key, value in kept.items()
                ],
            )
            summary = f"{len(kept)} labels of deployment {deployment} in project {project}"
            if replaced:
                summary += f", replacing {replaced} earlier ones"
            self.access.record(
                conn, "predictions.labelled", "deployment", f"{project}/{deployment}", summary
            )
        return len(kept)

    # -- reading --------------------------------------------------------------------------

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
        """The predictions of ``deployment`` answered from ``since`` (inclusive) to
        ``until`` (exclusive; datetimes, naive ones UTC, or ms since the epoch), by the
        model version ``version`` (its id, or its number) or any: one row per
        prediction, in the columns ``LOG_COLUMNS`` (``model``, ``version`` and
        ``run_id`` from the registry: follow ``run_id`` with lineage to the training
        data), then ``input.<name>`` (or ``input``), ``output`` (or ``output.<name>``),
        and with ``with_labels`` the ``label`` (None where none was given) and
        ``labelled_at``. Only the segments whose span overlaps the window are read."""
        frame, _ = self.page(
            project,
            deployment,
            since=since,
            until=until,
            version=version,
            with_labels=with_labels,
        )
        return frame

    def page(
        self,
        project: str,
        deployment: str,
        *,
        since: datetime | int | None = None,
        until: datetime | int | None = None,
        version: str | int | None = None,
        with_labels: bool = True,
        after: str | None = None,
        max_rows: int | None = None,
    ) -> tuple[pd.DataFrame, str | None]:
        """What :meth:`load` reads, a page of whole segments at a time (the server's
        reads): the segments after the cursor ``after`` until they hold ``max_rows``
        rows (at least one segment; None: all), and the cursor of the next page (None
        when this was the last)."""
        validate_name(deployment, "deployment")
        start, end = to_ms(since, "since"), to_ms(until, "until")
        if isinstance(version, bool) or not isinstance(version, str | int | None):
            raise InvalidInput("version must be a version id or number", field="version")
        cursor = _cursor(after)
        with self.store.read() as conn:
            project_id = self._project_id(conn, project, Role.VIEWER)
            rows = conn.execute(_segment_query(project_id, deployment, start, end, cursor)).all()
        picked: list[Any] = []
        held = 0
        next_cursor = None
        for row in rows:
            if isinstance(version, str) and version not in json.loads(row.version_ids):
                continue
            if picked and max_rows is not None and held + row.rows > max_rows:
                next_cursor = f"{picked[-1].min_time}:{picked[-1].id}"
                break
            picked.append(row)
            held += row.rows
        tables = [read_segment(self.blobs.get_bytes(row.digest), start, end) for row in picked]
        frame = self._frame(project, deployment, tables, version, with_labels, project_id)
        return frame, next_cursor

    def _frame(
        self,
        project: str,
        deployment: str,
        tables: list[pa.Table],
        version: str | int | None,
        with_labels: bool,
        project_id: str,
    ) -> pd.DataFrame:
        import pandas as pd
        import pyarrow as pa

        tables = [t for t in tables if t.num_rows]
        if tables:
            table = pa.concat_tables(tables, promote_options="permissive")
            frame = table.to_pandas(types_mapper=None)
        else:
            frame = pd.DataFrame(
                {
                    "prediction_id": pd.Series([], dtype=str),
                    "version_id": pd.Series([], dtype=str),
                    "time": pd.Series([], dtype="datetime64[ms, UTC]"),
                }
            )
        frame["deployment"] = deployment
        known = self._versions(frame["version_id"].unique().tolist())
        for name, at in (("model", 0), ("version", 1), ("run_id", 2)):
            stored = frame[name] if name in frame.columns else None
            values = [known[v][at] if v in known else None for v in frame["version_id"]]
            if stored is not None:
                values = [s if v is None else v for v, s in zip(values, stored, strict=True)]
            frame[name] = pd.Series(values, index=frame.index, dtype=object)
        if isinstance(version, int):
            same = [v == version for v in frame["version"]]
            frame = frame[pd.Series(same, index=frame.index, dtype=bool)]
        elif isinstance(version, str):
            frame = frame[frame["version_id"] == version]
        for name, default in (("latency_ms", float("nan")), ("shadow", False)):
            if name not in frame.columns:
                frame[name] = default
        io_columns = [c for c in frame.columns if c.startswith(("input", "output"))]
        inputs = [c for c in io_columns if c.startswith("input")]
        outputs = [c for c in io_columns if c.startswith("output")]
        frame = frame[[*LOG_COLUMNS, *inputs, *outputs]].reset_index(drop=True)
        if with_labels:
            found = self._labels(project_id, deployment, frame["prediction_id"].tolist())
            frame["label"] = pd.Series(
                [found[p][0] if p in found else None for p in frame["prediction_id"]],
                dtype=object,
            )
            frame["labelled_at"] = pd.to_datetime(
                pd.Series([found[p][1] if p in found else None for p in frame["prediction_id"]]),
                unit="ms",
                utc=True,
            ).astype("datetime64[ms, UTC]")
        return frame

    def _versions(self, version_ids: Iterable[str]) -> dict[str, tuple[str, int, str | None]]:
        """The model name, version number and run of each version the actor may read."""
        found = {}
        for version_id in version_ids:
            try:
                mv = self.models.get_version_by_id(version_id)
            except NotFound:
                continue
            found[version_id] = (mv.name, mv.version, mv.run_id)
        return found

    def _labels(
        self, project_id: str, deployment: str, ids: list[str]
    ) -> dict[str, tuple[Any, int]]:
        found: dict[str, tuple[Any, int]] = {}
        with self.store.read() as conn:
            for chunk in _chunks(sorted(set(ids)), _IDS_PER_QUERY):
                for row in _labels_of(conn, project_id, deployment, chunk):
                    found[row.prediction_id] = (json.loads(row.label), row.labelled_at)
        return found

    # -- garbage collection ---------------------------------------------------------------

    def referenced_digests(self) -> set[str]:
        """The blob of every indexed segment."""
        with self.store.read() as conn:
            return set(conn.execute(select(prediction_segments.c.digest)).scalars())

    def tree_digests(self) -> set[str]:
        """None: segments are files."""
        return set()


def _segment(project: str, row: Any) -> Segment:
    found = row if isinstance(row, dict) else row._mapping
    return Segment(
        id=found["id"],
        project=project,
        deployment=found["deployment"],
        deployment_id=found["deployment_id"],
        digest=found["digest"],
        rows=found["rows"],
        bytes=found["bytes"],
        min_time=found["min_time"],
        max_time=found["max_time"],
        version_ids=tuple(json.loads(found["version_ids"])),
        writer=found["writer"],
        created_by=found["created_by"],
        created_at=found["created_at"],
    )


def _check_size(size: int) -> None:
    if size > limits.PREDICTION_SEGMENT_BYTES:
        raise InvalidInput(
            f"a prediction segment is {size} bytes; the limit is {limits.PREDICTION_SEGMENT_BYTES}",
            field="segment",
        )


def labels_of(labels: Mapping[str, Any] | pd.DataFrame) -> list[tuple[Any, Any]]:
    """The (prediction id, label) pairs of a mapping or of a DataFrame's ``prediction_id``
    and ``label`` columns."""
    if isinstance(labels, Mapping):
        return list(labels.items())
    columns = getattr(labels, "columns", None)
    if columns is None:
        raise InvalidInput(
            "labels are a mapping of prediction id to label, or a DataFrame with the "
            "columns prediction_id and label",
            field="labels",
        )
    missing = [c for c in ("prediction_id", "label") if c not in columns]
    if missing:
        raise InvalidInput(
            f"a DataFrame of labels needs the columns prediction_id and label; missing: "
            f"{', '.join(missing)}",
            field="labels",
        )
    return list(zip(labels["prediction_id"].tolist(), labels["label"].tolist(), strict=True))


def _label_json(value: Any) -> str:
    item = getattr(value, "item", None)  # a NumPy scalar
    if item is not None and callable(item):
        value = item()
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"a label must be a JSON value: {exc}", field="label") from None
    if len(text) > limits.PREDICTION_LABEL:
        raise InvalidInput(
            f"label: {len(text)} characters of JSON, the limit is {limits.PREDICTION_LABEL}",
            field="label",
        )
    return text


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _labels_of(conn: Connection, project_id: str, deployment: str, ids: list[str]) -> list[Any]:
    return list(
        conn.execute(
            select(prediction_labels).where(
                prediction_labels.c.project_id == project_id,
                prediction_labels.c.deployment == deployment,
                prediction_labels.c.prediction_id.in_(ids),
            )
        )
    )


def _cursor(after: str | None) -> tuple[int, str] | None:
    if after is None:
        return None
    at, _, segment = after.partition(":")
    try:
        return int(at), limits.check_text(segment, "cursor", 32)
    except ValueError:
        raise InvalidInput(f"a bad cursor: {limits.preview(after)}", field="cursor") from None


def _segment_query(
    project_id: str,
    deployment: str,
    since: int | None,
    until: int | None,
    cursor: tuple[int, str] | None,
) -> Any:
    """The segments of a deployment whose span overlaps the window, after the cursor, in
    the order pages follow (their first time, then id)."""
    seg = prediction_segments.c
    where = [seg.project_id == project_id, seg.deployment == deployment]
    if since is not None:
        where.append(seg.max_time >= since)
    if until is not None:
        where.append(seg.min_time < until)
    if cursor is not None:
        at, segment = cursor
        where.append(or_(seg.min_time > at, and_(seg.min_time == at, seg.id > segment)))
    return (
        select(seg.id, seg.digest, seg.rows, seg.min_time, seg.version_ids)
        .where(*where)
        .order_by(seg.min_time, seg.id)
    )
