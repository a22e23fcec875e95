"""Registering, versioning, aliases, reports and lineage, on SQLite and PostgreSQL, with
the SDK embedded and through a server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import modelyard
from modelyard import Client
from modelyard.config import Settings
from modelyard.errors import InvalidInput, NotFound
from modelyard.lineage.edges import DATASET_VERSION, INPUT, OUTPUT, RUN


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"id": [1, 2, 3], "city": ["oslo", None, "lima"], "temp": [1.5, 2.5, None]})


@pytest.fixture
def stored_blobs(embedded_settings: Settings) -> Callable[[], set[str]]:
    """The digests in the artifact store (the server's, in remote mode)."""

    def digests() -> set[str]:
        with Client(embedded_settings) as local:
            return set(local.blobs.iter_digests())

    return digests


def test_register_and_load_round_trip(client: Client, frame: pd.DataFrame) -> None:
    version = client.datasets.register("weather", frame, project="demo", description="first")
    assert (version.dataset, version.version, version.project) == ("weather", 1, "demo")
    assert version.num_rows == 3 and version.num_columns == 3
    assert version.source == "pandas.DataFrame"
    assert version.description == "first"
    assert version.aliases == ("latest",)
    assert [(c.name, c.type, c.arrow_type, c.nullable) for c in version.columns] == [
        ("id", "integer", "int64", True),
        ("city", "string", "string", True),
        ("temp", "float", "double", True),
    ]
    assert version.size_bytes > 0 and version.created_by
    loaded = client.datasets.load("weather", project="demo")
    pd.testing.assert_frame_equal(loaded, frame)
    table = client.datasets.load("weather", project="demo", format="arrow", columns=["temp"])
    assert isinstance(table, pa.Table) and table.column_names == ["temp"]
    with pytest.raises(InvalidInput, match="has no column"):
        client.datasets.load("weather", project="demo", columns=["nope"])
    with pytest.raises(InvalidInput, match="format must be"):
        client.datasets.load("weather", project="demo", format="excel")  # type: ignore[arg-type]


def test_same_data_is_the_same_version_and_stores_nothing_new(
    client: Client, frame: pd.DataFrame, tmp_path: Path, stored_blobs: Callable[[], set[str]]
) -> None:
    first = client.datasets.register("weather", frame)
    stored = stored_blobs()
    frame.to_csv(tmp_path / "weather.csv", index=False)
    again = client.datasets.register("weather", tmp_path / "weather.csv", aliases=["csv"])
    assert again.id == first.id and again.version == 1
    assert again.aliases == ("latest", "csv")
    assert stored_blobs() == stored
    twin = client.datasets.register("weather-copy", frame)
    assert twin.version == 1 and twin.id != first.id
    assert twin.tree_digest == first.tree_digest and twin.digest == first.digest
    assert stored_blobs() == stored
    assert client.datasets.get_reports("weather-copy")[0].kind == "profile"


def test_versions_are_numbered_and_immutable(client: Client, frame: pd.DataFrame) -> None:
    v1 = client.datasets.register("w", frame)
    v2 = client.datasets.register("w", frame.iloc[:2])
    v3 = client.datasets.register("w", frame.iloc[1:])
    assert [v.version for v in (v1, v2, v3)] == [1, 2, 3]
    assert [v.version for v in client.datasets.list_versions("w")] == [1, 2, 3]
    assert client.datasets.get("w").version == 3
    assert client.datasets.get("w", alias="latest").version == 3
    assert client.datasets.get("w", 1).digest == v1.digest
    assert len(client.datasets.load("w", version=2)) == 2
    assert client.datasets.get("w", 1).aliases == ()
    with pytest.raises(NotFound, match="has no version 9 \\(the newest is 3\\)"):
        client.datasets.get("w", 9)
    with pytest.raises(InvalidInput, match="positive integer"):
        client.datasets.get("w", 0)
    with pytest.raises(InvalidInput, match="not both"):
        client.datasets.get("w", 1, "prod")


def test_aliases_move_and_refuse_numbers(client: Client, frame: pd.DataFrame) -> None:
    client.datasets.register("w", frame, aliases=["prod"])
    client.datasets.register("w", frame.iloc[:1])
    assert client.datasets.get("w", alias="prod").version == 1
    moved = client.datasets.set_alias("w", "prod", 2)
    assert moved.aliases == ("latest", "prod")
    assert client.datasets.get("w", alias="prod").version == 2
    assert client.datasets.get("w", 1).aliases == ()
    for bad in ("3", "v2", "1.5", "latest", "LATEST", "1e3", "bad name"):
        with pytest.raises(InvalidInput):
            client.datasets.set_alias("w", bad, 1)
    with pytest.raises(NotFound, match=r"has no alias 'prd' \(its aliases: latest, prod\)"):
        client.datasets.get("w", alias="prd")
    client.datasets.delete_alias("w", "prod")
    with pytest.raises(NotFound, match=r"has no alias 'prod' \(its aliases: latest\)"):
        client.datasets.get("w", alias="prod")
    with pytest.raises(NotFound, match=r"no alias 'prod' \(its aliases: latest; latest cannot"):
        client.datasets.delete_alias("w", "prod")
    with pytest.raises(InvalidInput, match="computed"):
        client.datasets.delete_alias("w", "latest")


def test_names_follow_the_project_rules(client: Client, frame: pd.DataFrame) -> None:
    for bad in ("", "has space", "../up", "-dash", "a" * 129, "x:1", "x@y"):
        with pytest.raises(InvalidInput, match=r"^dataset( must be|: 129 characters)"):
            client.datasets.register(bad, frame)
    with pytest.raises(InvalidInput, match="project must be"):
        client.datasets.register("ok", frame, project="no spaces")


def test_missing_things_are_not_found(client: Client, frame: pd.DataFrame) -> None:
    with pytest.raises(NotFound, match="project 'ghost' does not exist"):
        client.datasets.get("w", project="ghost")
    client.datasets.register("w", frame)
    with pytest.raises(NotFound, match="dataset 'other' does not exist in project 'default'"):
        client.datasets.get("other")


def test_list_datasets(client: Client, frame: pd.DataFrame) -> None:
    client.datasets.register("b", frame, project="p1", description="bees")
    client.datasets.register("a", frame, project="p1")
    client.datasets.register("a", frame.iloc[:1], project="p1")
    client.datasets.register("c", frame, project="p2")
    found = client.datasets.list_datasets("p1")
    assert [(d.name, d.latest_version, d.description) for d in found] == [
        ("a", 2, ""),
        ("b", 1, "bees"),
    ]
    assert [(d.project, d.name) for d in client.datasets.list_datasets()] == [
        ("p1", "a"),
        ("p1", "b"),
        ("p2", "c"),
    ]


def test_profile_is_stored_and_reports_are_kept(client: Client, frame: pd.DataFrame) -> None:
    client.datasets.register("w", frame)
    profile = client.datasets.get_profile("w")
    assert profile.rows == 3 and profile["temp"].missing == 1
    [stored] = client.datasets.get_reports("w", kind="profile")
    assert "<html" in (client.datasets.report_html(stored) or "").lower()
    report = client.datasets.add_report("w", 1, "validation", {"passed": True, "checks": 3})
    assert report.data == {"checks": 3, "passed": True}
    assert client.datasets.report_html(report) is None
    kinds = [r.kind for r in client.datasets.get_reports("w")]
    assert kinds[0] == "validation" and set(kinds) == {"profile", "validation"}
    with pytest.raises(InvalidInput, match="JSON"):
        client.datasets.add_report("w", 1, "validation", {"bad": float("nan")})
    with pytest.raises(InvalidInput, match="report kind"):
        client.datasets.add_report("w", 1, "Not A Kind", {})
    unprofiled = client.datasets.register("w2", frame.iloc[:2], profile=False)
    assert client.datasets.get_reports("w2") == []
    assert client.datasets.get_profile("w2", unprofiled.version).rows == 2


def test_lineage_inside_runs(client: Client, frame: pd.DataFrame) -> None:
    with client.start_run("bikes", capture=False) as run:
        made = client.datasets.register("clean", frame)
        client.datasets.load("clean")
    assert made.project == "bikes" and made.run_id == run.id
    edges = client.datasets.lineage("clean", project="bikes")
    assert {(e.source_kind, e.target_kind, e.relation) for e in edges} == {
        (RUN, DATASET_VERSION, OUTPUT),
        (DATASET_VERSION, RUN, INPUT),
    }
    up = client.datasets.lineage("clean", project="bikes", direction="up")
    assert [(e.source_id, e.relation, e.run_id) for e in up] == [(run.id, OUTPUT, run.id)]
    down = client.lineage_service.edges(RUN, run.id, "down")
    assert [e.target_id for e in down] == [made.id]
    with client.start_run("bikes", capture=False) as second:
        client.datasets.load("clean")
        client.datasets.load("clean")  # recorded once
    readers = [
        e.target_id for e in client.datasets.lineage("clean", project="bikes", direction="down")
    ]
    assert readers == [run.id, second.id]
    outside = client.datasets.register("elsewhere", frame)
    assert outside.run_id is None and outside.project == "default"


@pytest.mark.local_only("garbage collection runs where the stores are")
def test_gc_keeps_dataset_blobs(client: Client, frame: pd.DataFrame) -> None:
    client.datasets.register("w", frame)
    client.datasets.add_report("w", 1, "validation", {"ok": True}, "<p>ok</p>")
    stray = client.blobs.put_bytes(b"nobody points here").digest
    assert client.gc(min_age_s=0) == [stray]
    pd.testing.assert_frame_equal(client.datasets.load("w"), frame)
    assert client.datasets.get_reports("w", kind="validation")[0].data == {"ok": True}


def test_module_sugar(settings_env: Settings, frame: pd.DataFrame) -> None:
    version = modelyard.datasets.register("sugar", frame, project="p", aliases=["gold"])
    assert modelyard.datasets.get("sugar", alias="gold", project="p").id == version.id
    pd.testing.assert_frame_equal(modelyard.datasets.load("sugar", project="p"), frame)
    assert [d.name for d in modelyard.datasets.list_datasets("p")] == ["sugar"]
    assert [v.version for v in modelyard.datasets.list_versions("sugar", project="p")] == [1]
    modelyard.datasets.set_alias("sugar", "silver", 1, project="p")
    modelyard.datasets.delete_alias("sugar", "gold", project="p")
    modelyard.datasets.add_report("sugar", 1, "validation", {"ok": 1}, project="p")
    assert len(modelyard.datasets.get_reports("sugar", project="p")) == 2
    with modelyard.start_run("p") as run:
        modelyard.datasets.load("sugar", project="p")
    assert [e.target_id for e in modelyard.datasets.lineage("sugar", project="p")] == [run.id]


def test_bikeshare_from_csv_and_pandas_is_one_version(
    client: Client, tmp_path: Path, bikeshare_path: Path
) -> None:
    csv = bikeshare_path
    version = client.datasets.register("bikes-train", csv, project="bikes", aliases=["raw"])
    assert version.num_rows == 8645 and version.num_columns == 15
    assert {c.name: c.type for c in version.columns}["mnth"] == "string"
    again = client.datasets.register("bikes-train", pd.read_csv(csv), project="bikes")
    assert again.id == version.id
    frame = client.datasets.load("bikes-train", project="bikes", alias="raw")
    assert frame["bikers"].sum() == pd.read_csv(csv)["bikers"].sum()
    profile = client.datasets.get_profile("bikes-train", project="bikes")
    assert profile["bikers"].mean == pytest.approx(pd.read_csv(csv)["bikers"].mean())
    rows = client.datasets.export("bikes-train", tmp_path / "out.parquet", project="bikes")
    assert rows == 8645
    assert client.datasets.register(
        "bikes-train", tmp_path / "out.parquet", project="bikes"
    ).id == (version.id)


@pytest.mark.s3
def test_datasets_on_s3(tmp_path: Path, store_url: str, s3_artifacts: dict[str, str]) -> None:
    from modelyard.config import load_settings

    settings = load_settings(
        home=tmp_path / "home", store={"url": store_url}, artifacts=s3_artifacts
    )
    frame = pd.DataFrame({"a": range(100), "b": [str(i) for i in range(100)]})
    with Client(settings) as client:
        version = client.datasets.register("remote-blobs", frame)
        assert client.blobs.exists(version.tree_digest)
        pd.testing.assert_frame_equal(client.datasets.load("remote-blobs"), frame)
        assert client.datasets.register("remote-blobs", frame).id == version.id


def test_nested_and_typed_columns_round_trip(client: Client) -> None:
    table = pa.table(
        {
            "l": pa.array([[1, 2], None, [3]]),
            "s": pa.array([{"x": 1}, None, {"x": 3}]),
            "c": pa.array(["u", "v", "u"]).dictionary_encode(),
            "t": pa.array([1, None, 3], pa.timestamp("ms", tz="UTC")),
            "b": pa.array([b"\x00", None, b"z"]),
        }
    )
    version = client.datasets.register("typed", table)
    assert [c.type for c in version.columns] == [
        "nested",
        "nested",
        "categorical",
        "datetime",
        "binary",
    ]
    loaded = client.datasets.load("typed", format="arrow")
    assert loaded.to_pylist() == table.to_pylist()
    assert client.datasets.register("typed", loaded).id == version.id


def test_polars_frames(client: Client) -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"a": [1, 2, None], "s": ["x", None, "z"]})
    version = client.datasets.register("pl", frame)
    assert version.source == "polars.DataFrame"
    assert client.datasets.load("pl", format="polars").equals(frame)
    same = pd.DataFrame({"a": pd.array([1, 2, None], dtype="Int64"), "s": ["x", None, "z"]})
    assert client.datasets.register("pl", same).id == version.id
