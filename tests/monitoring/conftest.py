from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from modelyard import Client
from modelyard.monitoring import checks
from modelyard.monitoring.service import MonitorService
from monitoring_support import (
    HOUR,
    SIGNATURE,
    T0,
    Clock,
    CountSummarizer,
    HitsSummarizer,
    Lab,
    ProfileRowsCheck,
    RowsCheck,
)
from prediction_support import model_files


@pytest.fixture
def lab(client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """Project ``shop``: model ``churn`` version 1 (trained on dataset ``train``, which has
    a profile; production, the champion of deployment ``churn-api``) and version 2 (no
    training data; staging, the only route of deployment ``bare-api``)."""
    monkeypatch.setitem(checks.CHECKS, "volume", RowsCheck())
    monkeypatch.setitem(checks.CHECKS, "drift", ProfileRowsCheck())
    services = client.services
    services.projects.create("shop")
    data = services.datasets.register(
        "train",
        pd.DataFrame({"x": [float(i) for i in range(50)], "y": [i % 2 for i in range(50)]}),
        project="shop",
    )
    run = client.start_run(project="shop", name="train")
    services.datasets.record_input(data, run.id)
    run.end()
    models = services.models
    version = models.register(
        "churn",
        model_files(tmp_path / "v1", b"one"),
        project="shop",
        flavor="sklearn",
        signature=SIGNATURE,
        run_id=run.id,
    )
    bare = models.register(
        "churn",
        model_files(tmp_path / "v2", b"two"),
        project="shop",
        flavor="sklearn",
        signature=SIGNATURE,
    )
    models.request_transition("churn", project="shop", to="production", version=1)
    models.request_transition("churn", project="shop", to="staging", version=2)
    models.set_alias("churn", "champion", 1, project="shop")
    services.deployments.create("churn-api", "churn@champion", project="shop")
    services.deployments.create("bare-api", "churn/2", project="shop")
    clock = Clock(T0 + 48 * HOUR)
    monitors = MonitorService(
        services.store,
        services.blobs,
        services.access,
        services.deployments,
        models,
        services.datasets,
        services.predictions,
        services.settings,
        summarizer=CountSummarizer(),
        performance=HitsSummarizer(),
        clock=clock,
        label_settle_ms=0,
        retry_waits_s=(0.0, 0.0, 0.0),
    )
    yield Lab(client, monitors, clock, version, bare)
