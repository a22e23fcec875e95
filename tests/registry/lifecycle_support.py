"""Users with project roles for the card and lifecycle tests, in either SDK mode: the
registry service acting for them (embedded) or a client signed in with their token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sqlalchemy import insert

from modelyard._util import new_id, now_ms
from modelyard.config import Settings
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.registry.contract import ModelContract
from modelyard.sdk.client import Client
from modelyard.store import open_store
from modelyard.store.tables import alerts, projects

Users = Callable[[str, str], ModelContract]


@contextmanager
def users_of(client: Client, settings: Settings, store_url: str) -> Iterator[Users]:
    """``users(name, role)``: a new user with ``role`` on project ``lab`` and the registry
    as they reach it (through the server when ``settings`` point at one)."""
    store = open_store(store_url, auto_upgrade=True)
    governance = Governance(store)
    opened: list[Client] = []

    def make(username: str, role: str) -> ModelContract:
        account = governance.users.create_service_account(username, actor=SYSTEM)
        governance.roles.grant("lab", username, role, actor=SYSTEM)
        if settings.tracking.uri is None:
            return client.services.models.acting_as(Actor.of(account.principal()))
        token = governance.tokens.create(username, "t", actor=SYSTEM).secret
        tracking = settings.tracking.model_copy(update={"token": token})
        opened.append(Client(settings.model_copy(update={"tracking": tracking})))
        return opened[-1].model_service

    try:
        yield make
    finally:
        for other in opened:
            other.close()
        store.dispose()


def open_alert(store_url: str, project: str, kind: str, subject: str, severity: str) -> str:
    """An alert as the monitoring issue will raise one (the fixture the gate is tested with)."""
    store = open_store(store_url, auto_upgrade=True)
    try:
        with store.write() as conn:
            project_id = conn.execute(projects.select().where(projects.c.name == project)).one().id
            alert_id = new_id()
            conn.execute(
                insert(alerts).values(
                    id=alert_id,
                    project_id=project_id,
                    subject_kind=kind,
                    subject_id=subject,
                    monitor="drift-monitor",
                    severity=severity,
                    status="open",
                    opened_at=now_ms(),
                    resolved_at=None,
                )
            )
        return alert_id
    finally:
        store.dispose()


def frame(seed: int = 0, rows: int = 80) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"age": rng.integers(18, 80, rows), "spend": rng.random(rows)})
    return x, (x["spend"] > 0.5).astype(int)
