"""Plain replicas: two ``modelyard serve`` processes over one PostgreSQL store and one
S3-compatible bucket behave as one server (docs/serving.md, "Scale-out")."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from replica_support import PROJECT, predict, register, start, stop, wait_ready

from modelyard.config import load_settings
from modelyard.registry.entities import ModelVersion
from modelyard.sdk.client import Client
from modelyard.serving.entities import Route, TrafficPlan
from modelyard.store import Store
from server_support import free_port


def _cached(cache: Path, version: ModelVersion) -> list[Path]:
    """The files of ``version`` in a replica's model cache."""
    return [p for p in (cache / version.tree_digest).rglob("*") if p.is_file()]


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.s3
def test_two_replicas_on_postgres_and_s3_answer_alike_and_fetch_on_their_own(
    empty_postgres_url: str, s3_artifacts: dict[str, str], tmp_path: Path
) -> None:
    store = Store(empty_postgres_url)
    store.upgrade()
    store.dispose()
    settings = load_settings(
        home=tmp_path / "home", store={"url": empty_postgres_url}, artifacts=s3_artifacts
    )
    with Client(settings) as client:
        client.projects.create(PROJECT)
        first, second = register(client, "churn", 0), register(client, "churn", 1)
        client.deployments.create("api", f"churn@{first}", project=PROJECT)
        versions = {
            n: client.model_service.get_version("churn", project=PROJECT, version=n)
            for n in (first, second)
        }
    env = {
        "MODELYARD_STORE_URL": empty_postgres_url,
        "MODELYARD_SERVING_AUTH": "open",
        **{f"MODELYARD_ARTIFACTS_{k.upper()}": v for k, v in s3_artifacts.items()},
    }
    replicas = []
    for name in ("a", "b"):
        port = free_port()
        log = tmp_path / f"{name}.log"
        cache = tmp_path / f"cache-{name}"
        own = {"MODELYARD_HOME": str(tmp_path / f"home-{name}")}
        own["MODELYARD_SERVING_CACHE_DIR"] = str(cache)
        args = ["serve", "--project", PROJECT, "--port", str(port)]
        replicas.append((start(args, {**env, **own}, log), f"http://127.0.0.1:{port}", log, cache))
    try:
        for proc, url, log, _ in replicas:
            wait_ready(proc, url, log, timeout=60)
        answers = [predict(url, "api") for _, url, _, _ in replicas]
        assert {a.headers["modelyard-model-version"] for a in answers} == {f"churn/{first}"}
        assert answers[0].json()["predictions"] == answers[1].json()["predictions"]
        # each replica fetched the version from the bucket into a cache of its own
        a_files, b_files = (_cached(cache, versions[first]) for *_, cache in replicas)
        assert a_files and len(a_files) == len(b_files)
        assert not (tmp_path / "home" / "artifacts").exists()  # the blobs live in S3 alone

        with Client(settings) as client:
            plan = TrafficPlan((Route("churn", str(second), 100),))
            client.deployments.set_traffic("api", plan, project=PROJECT)
        changed = time.monotonic()
        moved: set[str] = set()
        while len(moved) < 2 and time.monotonic() < changed + 2:
            for _, url, _, _ in replicas:
                if predict(url, "api").headers["modelyard-model-version"] == f"churn/{second}":
                    moved.add(url)
        assert len(moved) == 2, "the plan change did not reach both replicas in 2 s"
        for *_, cache in replicas:
            assert _cached(cache, versions[second])
    finally:
        statuses = [stop(proc) for proc, *_ in replicas]
    logs = [log.read_text() for _, _, log, _ in replicas]
    # Ctrl-C's status (uvicorn raises the signal again once it has drained)
    assert statuses == [130, 130], logs
    assert all("Application shutdown complete" in text for text in logs), logs
