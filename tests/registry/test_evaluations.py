"""Evaluations kept with model versions: ``client.models.evaluate`` on each kind of data,
stored as JSON and HTML, read back later, audited, role-checked, kept by garbage
collection."""

from __future__ import annotations

import dataclasses
import operator
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import modelyard as my
from modelyard import limits
from modelyard.config import Settings, load_settings
from modelyard.errors import InvalidInput, NotFound, PermissionDenied
from modelyard.gc import collect_garbage
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.sdk.client import Client

LOCAL = pytest.mark.local_only("reports from a caller are kept only where the store is")

#: What skops does not trust by default in the strong model: a function it calls.
TRUSTED = ["_operator.neg"]


@pytest.fixture
def embedded_settings(embedded_settings: Settings) -> Settings:
    """The installation (and its server) trusts the strong model's function: a model is
    loaded where the store is to be evaluated."""
    registry = embedded_settings.registry.model_copy(update={"trusted_types": TRUSTED})
    return embedded_settings.model_copy(update={"registry": registry})


def _data() -> tuple[pd.DataFrame, pd.DataFrame]:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = x.iloc[:, :6].assign(size=pd.cut(x["mean area"], 3, labels=["s", "m", "l"]).astype(str))
    frame["diagnosis"] = y
    return frame[:350], frame[350:]


def _log_two(client: Client, train: pd.DataFrame) -> None:
    features = train.columns[:6]
    with client.start_run("clinic"):
        weak = LogisticRegression(max_iter=2000).fit(train[features[:1]], train["diagnosis"])
        client.models.log(weak, "tumour", input_example=train[features[:1]][:5])
    with client.start_run("clinic"):
        strong = make_pipeline(
            FunctionTransformer(operator.neg), StandardScaler(), LogisticRegression(max_iter=2000)
        )
        strong.fit(train[features], train["diagnosis"])
        client.models.log(strong, "tumour", input_example=train[features][:5])
    client.models.set_alias("tumour", "champion", 1, project="clinic")


def test_evaluate_a_version_on_a_dataset_against_the_champion(
    client: Client, embedded_settings: Settings
) -> None:
    train, test = _data()
    _log_two(client, train)
    client.datasets.register("tumours-test", test, project="clinic")
    found = client.models.evaluate(
        "tumour/2",
        client.datasets.get("tumours-test", project="clinic"),
        "diagnosis",
        baseline="tumour@champion",
        slices=["size", "mean radius"],
        project="clinic",
    )
    assert (found.ref, found.baseline, found.task, found.rows) == (
        "tumour/2",
        "tumour/1",
        "classification",
        len(test),
    )
    assert found.source == "dataset clinic/tumours-test version 1"
    assert found.metrics == found.report["metrics"] and found.metrics["roc_auc"] > 0.9
    assert found.report["model"] == {"project": "clinic", "name": "tumour", "version": 2}
    assert found.report["comparison"]["metrics"]["accuracy"]["model"] == found.metrics["accuracy"]
    # the model got only the columns its signature names (the slice column "size" is not one)
    assert found.report["features"] == list(train.columns[:6])
    assert {s["column"] for s in found.report["slices"]} == {"size", "mean radius"}

    later = client.models.evaluations("tumour/2", project="clinic")
    assert later == [found]
    again = client.models.evaluate("tumour/2", test, "diagnosis", project="clinic")
    assert client.models.evaluations("tumour/2", project="clinic") == [again]
    assert client.models.evaluations("tumour/2", project="clinic", limit=None) == [again, found]
    assert client.models.evaluations("tumour@champion", project="clinic") == []

    page = client.models.evaluation_html(found)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "clinic/tumour/2" in page
    assert not re.search(r"(https?:)?//|<script|<link|src=", page)

    with Client(embedded_settings) as local:  # the audit log, read where it is
        events = Governance(local.services.store).audit.list_events(actor=SYSTEM, limit=1000)
    evaluated = [e for e in events if e.action == "model.evaluated"]
    assert len(evaluated) == 2 and "against clinic/tumour/1" in evaluated[0].summary


def test_evaluate_reads_parquet_csv_and_arrow_streams(client: Client, tmp_path: Path) -> None:
    train, test = _data()
    _log_two(client, train)
    test.to_parquet(tmp_path / "test.parquet", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    table = pa.Table.from_pandas(test, preserve_index=False)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=50))
    generator = (batch for batch in table.to_batches(max_chunksize=40))
    sources = (tmp_path / "test.parquet", str(tmp_path / "test.csv"), table, reader, generator)
    results = [
        client.models.evaluate("tumour", data, "diagnosis", project="clinic") for data in sources
    ]
    assert len({r.metrics["accuracy"] for r in results}) == 1
    assert all(r.rows == len(test) for r in results)
    assert "test.parquet" in results[0].source and "test.csv" in results[1].source


@LOCAL
def test_evaluating_needs_contributor_and_reading_viewer(client: Client) -> None:
    train, _ = _data()
    _log_two(client, train)
    version = client.models.get_version("tumour", 2, project="clinic")
    report = {"task": "classification", "target": "diagnosis", "rows": 3, "metrics": {"a": 1.0}}
    services = client.services
    gov = Governance(services.store)
    viewer, writer, outsider = (
        gov.users.create_service_account(name, actor=SYSTEM)
        for name in ("viewer", "writer", "outsider")
    )
    gov.roles.grant("clinic", "viewer", "viewer", actor=SYSTEM)
    gov.roles.grant("clinic", "writer", "contributor", actor=SYSTEM)
    as_viewer, as_writer, as_outsider = (
        services.models.acting_as(Actor.of(user.principal())) for user in (viewer, writer, outsider)
    )
    with pytest.raises(PermissionDenied):
        as_viewer.check_evaluate(version)
    with pytest.raises(PermissionDenied):
        as_viewer.record_evaluation(version, report)
    kept = as_writer.record_evaluation(version, report, source="three rows")
    assert kept.created_by == "writer"
    assert as_viewer.evaluations("tumour", project="clinic") == [kept]
    assert "three rows" in as_viewer.evaluation_html(kept.id)
    with pytest.raises(NotFound):
        as_outsider.evaluations("tumour", project="clinic")
    with pytest.raises(NotFound):
        as_outsider.evaluation_html(kept.id)
    with pytest.raises(NotFound):
        as_outsider.check_evaluate(version)
    # The version's id decides, not the project it claims to be in.
    client.create_project("mine")
    gov.roles.grant("mine", "outsider", "contributor", actor=SYSTEM)
    with pytest.raises(NotFound):
        as_outsider.record_evaluation(dataclasses.replace(version, project="mine"), report)
    assert as_writer.check_evaluate(dataclasses.replace(version, project="mine")) == version


@LOCAL
def test_a_report_without_its_parts_is_refused(client: Client) -> None:
    train, _ = _data()
    _log_two(client, train)
    service = client.models.service
    version = service.get_version("tumour", project="clinic")
    good = {"task": "regression", "target": "y", "rows": 3, "metrics": {"rmse": 1.0}}
    for change, field in (
        ({"task": "ranking"}, "report.task"),
        ({"rows": 0}, "report.rows"),
        ({"metrics": {"rmse": "low"}}, "report.metrics"),
        ({"target": None}, "report.target"),
    ):
        with pytest.raises(InvalidInput) as exc:
            service.record_evaluation(version, {**good, **change})
        assert exc.value.field == field
    with pytest.raises(InvalidInput) as exc:
        service.record_evaluation(version, {**good, "extra": float("nan")})
    assert exc.value.field == "data"
    with pytest.raises(InvalidInput) as exc:
        service.record_evaluation(version, {**good, "extra": "x" * limits.EVALUATION_JSON})
    assert exc.value.field == "report"
    assert service.evaluations("tumour", project="clinic", limit=None) == []
    with pytest.raises(InvalidInput) as exc:
        service.evaluations("tumour", project="clinic", limit=0)
    assert exc.value.field == "limit"
    with pytest.raises(NotFound):
        service.evaluation_html("0" * 32)


@LOCAL
def test_garbage_collection_keeps_the_blobs_of_evaluations(client: Client) -> None:
    train, test = _data()
    _log_two(client, train)
    found = client.models.evaluate("tumour/1", test, "diagnosis", project="clinic")
    collect_garbage(client.services.blob_references(), client.blobs, min_age_s=0)
    assert client.models.evaluations("tumour/1", project="clinic")[0].report == found.report
    assert "<svg" in client.models.evaluation_html(found.id)


def test_the_module_sugar(settings_env: Settings) -> None:
    train, test = _data()
    with my.start_run(project="clinic"):
        model = LogisticRegression(max_iter=2000).fit(train[["mean radius"]], train["diagnosis"])
        my.models.log(model, "tumour", input_example=train[["mean radius"]][:3])
    found = my.models.evaluate("tumour/1", test, "diagnosis", project="clinic")
    assert my.models.evaluations("tumour/1", project="clinic") == [found]
    assert "<svg" in my.models.evaluation_html(found)


@LOCAL
def test_in_this_process_the_caller_may_vouch_for_types(tmp_path: Path, store_url: str) -> None:
    settings = load_settings(
        home=tmp_path / "home",
        store={"url": store_url},
        tracking={"system_metrics_interval_s": 0, "capture_packages": False},
    )
    train, test = _data()
    with Client(settings) as client:
        _log_two(client, train)
        with pytest.raises(InvalidInput, match=r"_operator\.neg.*registry\.trusted_types"):
            client.models.evaluate("tumour/2", test, "diagnosis", project="clinic")
        found = client.models.evaluate(
            "tumour/2", test, "diagnosis", project="clinic", trusted=TRUSTED
        )
        assert found.rows == len(test)


def test_through_a_server_the_server_loads_the_model_by_its_own_settings(
    client: Client,
) -> None:
    if not client.is_remote:
        pytest.skip("the server's rules")
    train, test = _data()
    _log_two(client, train)
    with pytest.raises(InvalidInput, match=r"registry\.trusted_types") as exc:
        client.models.evaluate("tumour/2", test, "diagnosis", project="clinic", trusted=TRUSTED)
    assert exc.value.field == "trusted"
    with pytest.raises(InvalidInput) as exc:
        client.models.evaluate("tumour/2", test, "diagnosis", project="clinic", bootstrap=10**6)
    assert exc.value.field == "bootstrap"
    with pytest.raises(InvalidInput) as exc:
        client.models.evaluate("tumour/2", test, "no-such-column", project="clinic")
    assert exc.value.field == "target"
    assert client.models.evaluations("tumour/2", project="clinic", limit=None) == []
