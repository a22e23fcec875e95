"""The health the UI's pages show (project home, monitoring overview, a deployment's
monitoring): the score now; when nothing was judged in the lookback before now but the
monitors passed earlier (a replay of past data, as the quickstart's story, or monitoring
that stopped), the score at the newest window judged by that pass, with its time beside
it; and "not judged" when no monitor ever passed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alert_support import DAY, HOUR, Served, add_monitor, add_value, serve_churn, store_at
from sqlalchemy import update

from modelyard._util import now_ms
from modelyard.api import create_app
from modelyard.api.auth import no_auth
from modelyard.config import Settings
from modelyard.sdk.client import Client
from modelyard.store import Store
from modelyard.store.tables import monitors

pytestmark = pytest.mark.local_only("seeds the embedded store's monitoring tables")

#: The last whole hour ten days ago: older than the health score's two-day lookback.
PAST = now_ms() // HOUR * HOUR - 10 * DAY
PAGES = ("/projects/lab", "/projects/lab/monitoring", "/projects/lab/monitoring/api")


@pytest.fixture
def churn(embedded_settings: Settings, tmp_path: Path) -> Served:
    with Client(embedded_settings) as client:
        return serve_churn(client, tmp_path)


@pytest.fixture
def store(embedded_settings: Settings) -> Iterator[Store]:
    with store_at(embedded_settings.store_url) as opened:
        yield opened


@pytest.fixture
def pages(
    embedded_settings: Settings, churn: Served, live_server: Callable[..., Any]
) -> Iterator[httpx.Client]:
    url = live_server(create_app(embedded_settings, auth=no_auth)).url
    with httpx.Client(base_url=url, timeout=30) as client:
        yield client


def _drift_days_ago(store: Store, churn: Served, last_pass: int | None) -> None:
    """A drift monitor with hourly windows over the day ending at :data:`PAST` (a
    quarter of the features drifted in the last, half before), its last pass at
    ``last_pass``."""
    drift = add_monitor(store, churn.deployment_id, "drift", "drift")
    for k in range(24, 0, -1):
        add_value(store, drift, PAST - k * HOUR, 0.5)
    add_value(store, drift, PAST, 0.25)
    with store.write() as conn:
        conn.execute(update(monitors).where(monitors.c.id == drift).values(last_pass_at=last_pass))


def _stamp(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def test_a_past_pass_shows_the_health_of_its_newest_window_with_its_time(
    pages: httpx.Client, store: Store, churn: Served
) -> None:
    _drift_days_ago(store, churn, last_pass=PAST + 30 * 60_000)
    as_of = f"as of {_stamp(PAST)}"
    badge = f'<span class="health fair">75</span> <span class="muted">{as_of}</span>'
    for path in PAGES[:2]:
        assert badge in pages.get(path).text, path
    page = pages.get("/projects/lab/monitoring/api").text
    assert f"the health shown is as of {_stamp(PAST)} UTC" in page
    assert f'Health score: 75 <small class="muted">{as_of}</small>' in page
    assert "No judged windows in the last week." not in page  # the week up to PAST
    assert f"the week up to {_stamp(PAST)}" in page


def test_no_pass_is_not_judged_and_a_pass_now_is_not_as_of(
    pages: httpx.Client, store: Store, churn: Served
) -> None:
    _drift_days_ago(store, churn, last_pass=None)
    for path in PAGES:
        html = pages.get(path).text
        assert "as of" not in html and '<span class="health' not in html, path
    page = pages.get("/projects/lab/monitoring").text
    assert '<span class="muted">not judged</span>' in page
    with store.write() as conn:  # a pass now: nothing in the lookback is not judged now
        conn.execute(update(monitors).values(last_pass_at=now_ms()))
    page = pages.get("/projects/lab/monitoring/api").text
    assert "Health score: not judged" in page and "as of" not in page
