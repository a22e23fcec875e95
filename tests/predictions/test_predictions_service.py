"""The prediction log: segments indexed by time, labels joined by prediction id, the
registry's run for each version, rights, and garbage collection keeping segments."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from modelyard import Client, InvalidInput, NotFound, PermissionDenied
from modelyard.gc import collect_garbage
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.predictions._segments import to_parquet
from modelyard.predictions.service import LOG_COLUMNS
from modelyard.store.tables import audit_events
from prediction_support import model_files, request_id, segment

pytestmark = pytest.mark.local_only("the service itself; tests/api/test_predictions_api.py")

T0 = 1_780_000_000_000
EMPTY = pa.schema({"prediction_id": pa.string(), "version_id": pa.string(), "time": pa.int64()})


@pytest.fixture
def version(client: Client, tmp_path: Path) -> Any:
    client.create_project("shop")
    run = client.start_run(project="shop", name="train")
    run.end()
    return client.services.models.register(
        "churn",
        model_files(tmp_path / "m", b"model"),
        project="shop",
        flavor="sklearn",
        run_id=run.id,
    )


def _counting_reads(client: Client, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    read: list[str] = []
    blobs = client.services.blobs
    get_bytes = blobs.get_bytes

    def counted(digest: str) -> bytes:
        read.append(digest)
        return get_bytes(digest)

    monkeypatch.setattr(blobs, "get_bytes", counted)
    return read


def test_a_window_reads_only_the_segments_it_overlaps(
    client: Client, version: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = client.services.predictions
    early = service.write_segment(
        "shop",
        "churn-api",
        segment([request_id(i) for i in range(3)], version_id=version.id, start_ms=T0),
        deployment_id="d1",
        writer="host:8600",
    )
    late_rows = segment(
        [request_id(i) for i in range(10, 14)], version_id=version.id, start_ms=T0 + 3_600_000
    )
    late = service.write_segment("shop", "churn-api", to_parquet(late_rows), deployment_id="d1")
    assert (early.rows, early.min_time, early.max_time) == (3, T0, T0 + 2000)
    assert early.version_ids == (version.id,) and early.writer == "host:8600"
    read = _counting_reads(client, monkeypatch)

    window = service.load(
        "shop",
        "churn-api",
        since=datetime.fromtimestamp((T0 + 3_000_000) / 1000, UTC),
        until=T0 + 3_600_000 + 2000,
    )

    assert read == [late.digest]
    assert window["prediction_id"].tolist() == [f"{request_id(i)}-0" for i in (10, 11)]
    assert list(window.columns) == [
        "prediction_id", "deployment", "model", "version", "version_id", "run_id", "time",
        "latency_ms", "shadow", "input.x", "output", "label", "labelled_at",
    ]  # fmt: skip
    row = window.iloc[0]
    assert (row["deployment"], row["model"], row["version"]) == ("churn-api", "churn", 1)
    assert row["run_id"] == version.run_id  # lineage: prediction -> version -> run
    assert row["time"] == pd.Timestamp(T0 + 3_600_000, unit="ms", tz="UTC")
    assert row["label"] is None and pd.isna(row["labelled_at"])
    everything = service.load("shop", "churn-api")
    assert len(everything) == 7 and len(read) == 3


def test_the_same_segment_sent_again_is_logged_once(client: Client, version: Any) -> None:
    service = client.services.predictions
    data = to_parquet(segment([request_id(0)], version_id=version.id, start_ms=T0))
    first = service.write_segment("shop", "churn-api", data, writer="a")
    again = service.write_segment("shop", "churn-api", data, writer="a")
    assert again == first
    assert len(service.load("shop", "churn-api")) == 1
    assert service.write_segment("shop", "other", data).id != first.id


def test_labels_are_joined_and_a_later_label_replaces_the_earlier(
    client: Client, version: Any
) -> None:
    service = client.services.predictions
    ids = [request_id(i) for i in range(4)]
    service.write_segment("shop", "churn-api", segment(ids, version_id=version.id, start_ms=T0))

    # a bare request id is its row 0; a DataFrame works as well as a mapping
    assert service.add_labels("shop", "churn-api", {ids[0]: 1, f"{ids[1]}-0": {"y": 0}}) == 2
    labels = pd.DataFrame({"prediction_id": [f"{ids[0]}-0"], "label": [0]})
    assert service.add_labels("shop", "churn-api", labels) == 1

    frame = service.load("shop", "churn-api").set_index("prediction_id")
    assert frame.loc[f"{ids[0]}-0", "label"] == 0  # replaced
    assert frame.loc[f"{ids[1]}-0", "label"] == {"y": 0}
    assert frame.loc[f"{ids[2]}-0", "label"] is None
    assert frame["labelled_at"].notna().sum() == 2
    with client.services.store.read() as conn:
        summaries = [
            s
            for (s,) in conn.execute(
                audit_events.select()
                .with_only_columns(audit_events.c.summary)
                .where(audit_events.c.action == "predictions.labelled")
                .order_by(audit_events.c.seq)
            )
        ]
    assert summaries == [
        "2 labels of deployment churn-api in project shop",
        "1 labels of deployment churn-api in project shop, replacing 1 earlier ones",
    ]
    assert "label" not in service.load("shop", "churn-api", with_labels=False).columns


def test_a_version_filter_keeps_its_rows(client: Client, version: Any) -> None:
    service = client.services.predictions
    other = "f" * 32  # a version the registry does not know: its rows keep what they say
    service.write_segment(
        "shop",
        "churn-api",
        pa.concat_tables(
            [
                segment([request_id(0)], version_id=version.id, start_ms=T0),
                segment(
                    [request_id(1)],
                    version_id=other,
                    start_ms=T0 + 1,
                    model=["old"],
                    version=pa.array([7], pa.int64()),
                ),
            ],
            promote_options="permissive",
        ),
    )
    assert service.load("shop", "churn-api", version=version.id)["version"].tolist() == [1]
    old = service.load("shop", "churn-api", version=7)
    assert old[["model", "version", "run_id"]].values.tolist() == [["old", 7, None]]


def test_an_empty_window_has_the_columns_of_a_log(client: Client, version: Any) -> None:
    service = client.services.predictions
    service.write_segment(
        "shop", "churn-api", segment([request_id(0)], version_id=version.id, start_ms=T0)
    )
    for frame in (
        service.load("shop", "nothing-here"),
        service.load("shop", "churn-api", version=2),
        service.load("shop", "churn-api", since=T0 + 1),
    ):
        assert len(frame) == 0
        assert list(frame.columns)[:9] == list(LOG_COLUMNS)
        assert str(frame["time"].dtype) == "datetime64[ms, UTC]"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (b"not parquet", "must be a Parquet file"),
        (pa.table({"prediction_id": ["a"], "time": [1]}), "missing: version_id"),
        (
            pa.table({"prediction_id": ["a"], "version_id": ["v"], "time": [1], "secret": [1]}),
            "no column 'secret'",
        ),
        (pa.table({"prediction_id": ["a"], "version_id": ["v"], "time": ["now"]}), "'time'"),
        (
            pa.table(
                {
                    "prediction_id": pa.array([], pa.string()),
                    "version_id": pa.array([], pa.string()),
                    "time": pa.array([], pa.int64()),
                }
            ),
            "no rows",
        ),
        (
            pa.table({"prediction_id": ["a" * 200], "version_id": ["v"], "time": [1]}),
            "the limit is 128",
        ),
    ],
)
def test_what_is_not_a_segment_is_refused_and_nothing_is_stored(
    client: Client, table: Any, message: str
) -> None:
    client.create_project("shop")
    with pytest.raises(InvalidInput, match=message) as exc:
        client.services.predictions.write_segment("shop", "churn-api", table)
    assert exc.value.field == "segment"
    assert list(client.services.blobs.iter_digests()) == []


def test_labels_are_held_to_their_limits(client: Client) -> None:
    client.create_project("shop")
    service = client.services.predictions
    with pytest.raises(InvalidInput, match="the limit is 65536") as exc:
        service.add_labels("shop", "d", {"p-0": "x" * 70_000})
    assert exc.value.field == "label"
    with pytest.raises(InvalidInput, match="the limit is 10000"):
        service.add_labels("shop", "d", {f"p-{i}": i for i in range(10_001)})
    with pytest.raises(InvalidInput, match="JSON value"):
        service.add_labels("shop", "d", {"p-0": float("nan")})
    with pytest.raises(InvalidInput) as exc:
        service.add_labels("shop", "d", {"": 1})
    assert exc.value.field == "prediction_id"
    with pytest.raises(NotFound):
        service.add_labels("nowhere", "d", {"p-0": 1})


def test_writing_needs_contributor_and_reading_viewer(client: Client, version: Any) -> None:
    services = client.services
    gov = Governance(services.store)
    viewer, writer, outsider = (
        gov.users.create_service_account(name, actor=SYSTEM)
        for name in ("viewer", "writer", "outsider")
    )
    gov.roles.grant("shop", "viewer", "viewer", actor=SYSTEM)
    gov.roles.grant("shop", "writer", "contributor", actor=SYSTEM)
    as_viewer, as_writer, as_outsider = (
        services.predictions.acting_as(Actor.of(user.principal()))
        for user in (viewer, writer, outsider)
    )
    rows = segment([request_id(0)], version_id=version.id, start_ms=T0)
    before = set(services.blobs.iter_digests())
    with pytest.raises(PermissionDenied):
        as_viewer.write_segment("shop", "churn-api", rows)
    with pytest.raises(PermissionDenied):
        as_viewer.add_labels("shop", "churn-api", {request_id(0): 1})
    assert set(services.blobs.iter_digests()) == before  # refused before a byte is stored
    written = as_writer.write_segment("shop", "churn-api", rows)
    assert written.created_by == "writer"
    as_writer.add_labels("shop", "churn-api", {request_id(0): 1})
    assert as_viewer.load("shop", "churn-api")["label"].tolist() == [1]
    with pytest.raises(NotFound) as exc:
        as_outsider.load("shop", "churn-api")
    assert exc.value.field == "project"


def test_garbage_collection_keeps_indexed_segments(client: Client, version: Any) -> None:
    service = client.services.predictions
    kept = service.write_segment(
        "shop", "churn-api", segment([request_id(0)], version_id=version.id, start_ms=T0)
    )
    stray = client.services.blobs.put_bytes(b"a segment never indexed").digest

    removed = collect_garbage(client.services.blob_references(), client.services.blobs, min_age_s=0)

    assert stray in removed and kept.digest not in removed
    assert len(service.load("shop", "churn-api")) == 1


def test_the_sugar_labels_and_loads_with_the_active_settings(
    settings_env: Any, version: Any
) -> None:
    import modelyard as my

    with Client(settings_env) as client:
        client.services.predictions.write_segment(
            "shop", "churn-api", segment([request_id(0)], version_id=version.id, start_ms=T0)
        )
    assert my.predictions.add_labels("churn-api", {request_id(0): "yes"}, project="shop") == 1
    frame = my.predictions.load("churn-api", since=T0, project="shop")
    assert frame[["model", "label"]].values.tolist() == [["churn", "yes"]]
