"""Reports kept with dataset versions: a kind, a JSON blob and an optional HTML blob.

The profile computed at registration is the first (kind ``profile``); validation reports
are archived the same way. Reports are appended, never replaced: a version may carry
several validation reports over time, listed newest first. The JSON is stored canonically
(sorted keys), so equal reports share one blob.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from modelyard import limits
from modelyard._util import new_id, now_ms
from modelyard.datasets.entities import DatasetReport, DatasetVersion
from modelyard.errors import InvalidInput
from modelyard.store import Store
from modelyard.store.tables import dataset_reports

if TYPE_CHECKING:
    from modelyard.artifacts import BlobStore

__all__ = ["PROFILE", "REPORT_KINDS", "VALIDATION", "Reports", "json_bytes"]

PROFILE = "profile"
VALIDATION = "validation"
#: Report kinds Modelyard writes itself; others (short lowercase words) are allowed.
REPORT_KINDS = (PROFILE, VALIDATION)

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def json_bytes(data: Any, what: str) -> bytes:
    """Canonical JSON (sorted keys, no NaN) or InvalidInput."""
    try:
        return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{what} must be JSON (strings, numbers, lists, dicts; no NaN): {exc}", field="data"
        ) from None


def check_kind(kind: object) -> str:
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise InvalidInput(
            f"report kind must be a short lowercase word such as {' or '.join(REPORT_KINDS)}; "
            f"got {limits.preview(kind)}",
            field="kind",
        )
    return kind


class Reports:
    """Report rows and their blobs (no access checks: :class:`DatasetService` does them)."""

    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self.store = store
        self.blobs = blobs

    def store_blobs(self, data: dict[str, Any], html: str | None) -> tuple[str, str | None]:
        """Store a report's JSON (and HTML); returns their digests."""
        if not isinstance(data, dict):
            raise InvalidInput(
                f"report data must be a dict; got {type(data).__name__}", field="data"
            )
        if html is not None and not isinstance(html, str):
            raise InvalidInput("report html must be a string", field="html")
        data_digest = self.blobs.put_bytes(json_bytes(data, "report data")).digest
        html_digest = self.blobs.put_bytes(html.encode()).digest if html is not None else None
        return data_digest, html_digest

    def insert(
        self,
        conn: Connection,
        version_id: str,
        kind: str,
        digests: tuple[str, str | None],
        created_at: int | None = None,
    ) -> str:
        """Record a report whose blobs are stored; returns its id."""
        report_id = new_id()
        conn.execute(
            dataset_reports.insert().values(
                id=report_id,
                version_id=version_id,
                kind=check_kind(kind),
                data_digest=digests[0],
                html_digest=digests[1],
                created_at=created_at if created_at is not None else now_ms(),
            )
        )
        return report_id

    def first_digests(
        self, conn: Connection, version_id: str, kind: str
    ) -> tuple[str, str | None] | None:
        """The blobs of a version's oldest report of ``kind`` (to share with a twin)."""
        row = conn.execute(
            select(dataset_reports.c.data_digest, dataset_reports.c.html_digest)
            .where(dataset_reports.c.version_id == version_id, dataset_reports.c.kind == kind)
            .order_by(dataset_reports.c.created_at, dataset_reports.c.id)
            .limit(1)
        ).first()
        return (row.data_digest, row.html_digest) if row is not None else None

    def list(self, version: DatasetVersion, kind: str | None = None) -> list[DatasetReport]:
        """A version's reports, newest first, with their JSON read back."""
        stmt = select(dataset_reports).where(dataset_reports.c.version_id == version.id)
        if kind is not None:
            stmt = stmt.where(dataset_reports.c.kind == check_kind(kind))
        with self.store.read() as conn:
            rows = conn.execute(
                stmt.order_by(dataset_reports.c.created_at.desc(), dataset_reports.c.id)
            ).all()
        return [
            DatasetReport(
                id=r.id,
                version_id=r.version_id,
                kind=r.kind,
                data=json.loads(self.blobs.get_bytes(r.data_digest)),
                html_digest=r.html_digest,
                created_at=r.created_at,
            )
            for r in rows
        ]

    def html(self, report: DatasetReport) -> str | None:
        if report.html_digest is None:
            return None
        return self.blobs.get_bytes(report.html_digest).decode()

    def referenced_digests(self, conn: Connection) -> set[str]:
        found: set[str] = set()
        for data_digest, html_digest in conn.execute(
            select(dataset_reports.c.data_digest, dataset_reports.c.html_digest)
        ):
            found.add(data_digest)
            if html_digest is not None:
                found.add(html_digest)
        return found
