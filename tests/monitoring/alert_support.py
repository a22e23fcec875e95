"""A project with a served model and what a monitoring pass leaves in the store, for the
alert and health tests: monitors, their values per window and the hours' label counts,
inserted as the pass writes them, and alerts opened with ``_raise`` as the pass opens
them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from modelyard.monitoring._raise import Raised, clear_alert, raise_alert
from modelyard.sdk.client import Client
from modelyard.store import Store, open_store
from modelyard.store.tables import monitor_windows, projects
from monitoring_support import HOUR, insert_monitor, insert_value

DAY = 24 * HOUR
#: A fixed "now" on the hour (2026-12-01 00:00 UTC).
NOW = 1_796_083_200_000


@dataclass(frozen=True)
class Served:
    """Project ``lab``: model ``churn`` versions 1 (champion) and 2, deployment ``api``
    (all traffic to version 1)."""

    deployment_id: str
    v1: str
    v2: str
    model_id: str


def serve_churn(client: Client, tmp_path: Path) -> Served:
    models = client.model_service
    client.projects.create("lab")
    for number in (1, 2):
        folder = tmp_path / f"v{number}"
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "model.skops").write_bytes(f"model {number}".encode())
        models.register("churn", folder, project="lab", flavor="sklearn")
    models.request_transition("churn", project="lab", to="production", version=1)
    models.set_alias("churn", "champion", 1, project="lab")
    made = client.deployments.create("api", "churn@champion", project="lab")
    v1 = models.get_version("churn", project="lab", version=1)
    v2 = models.get_version("churn", project="lab", version=2)
    return Served(made.id, v1.id, v2.id, models.get_model("churn", project="lab").id)


@contextmanager
def store_at(url: str) -> Iterator[Store]:
    store = open_store(url)
    try:
        yield store
    finally:
        store.dispose()


def add_monitor(store: Store, deployment_id: str, name: str, kind: str, **config: Any) -> str:
    with store.write() as conn:
        project_id = conn.execute(select(projects.c.id).where(projects.c.name == "lab")).scalar()
        return insert_monitor(conn, project_id, deployment_id, name, kind, config)


def add_value(
    store: Store,
    monitor_id: str,
    end: int,
    value: float | None,
    *,
    version_id: str = "",
    status: str = "ok",
    rows: int = 100,
    threshold: float | None = None,
    **details: Any,
) -> None:
    """One window's finding (an hour ending at ``end``), as the pass writes it."""
    with store.write() as conn:
        insert_value(
            conn,
            monitor_id,
            end,
            value,
            version_id=version_id,
            status=status,
            rows=rows,
            threshold=threshold,
            details=details,
        )


def add_hour(
    store: Store, deployment_id: str, version_id: str, end: int, rows: int, labelled: int
) -> None:
    """One hour's summary of a version's log: its rows and how many are labelled."""
    with store.write() as conn:
        conn.execute(
            monitor_windows.insert().values(
                deployment_id=deployment_id,
                version_id=version_id,
                window_start=end - HOUR,
                window_end=end,
                rows=rows,
                labelled=labelled,
                summary=b"",
                performance=None,
                outputs_digest=None,
                updated_at=end,
            )
        )


def breach(
    store: Store,
    *,
    subject_kind: str,
    subject_id: str,
    subject: str,
    monitor: str = "drift",
    severity: str = "critical",
    at: int = NOW,
    monitor_id: str | None = None,
) -> Raised:
    """A breach found by ``monitor``, raised as a pass raises it."""
    with store.write() as conn:
        return raise_alert(
            conn,
            project="lab",
            subject_kind=subject_kind,
            subject_id=subject_id,
            subject=subject,
            monitor=monitor,
            severity=severity,
            title=f"{monitor}: 4 of 10 features drifted",
            details={"share": 0.4},
            at=at,
            monitor_id=monitor_id,
        )


def cleared(
    store: Store, *, subject_kind: str, subject_id: str, monitor: str = "drift"
) -> str | None:
    with store.write() as conn:
        return clear_alert(
            conn,
            project="lab",
            subject_kind=subject_kind,
            subject_id=subject_id,
            subject="s",
            monitor=monitor,
            at=NOW + HOUR,
        )
