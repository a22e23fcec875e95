"""``modelyard data``: register, list, versions, show, load, profile, drift, diff."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from modelyard import Client
from modelyard.cli.data import parse_ref
from modelyard.cli.main import app
from modelyard.errors import InvalidInput

pytestmark = pytest.mark.local_only("datasets have no REST routes yet")


@pytest.fixture
def cli(settings):
    runner = CliRunner()
    base = ["--store-url", settings.store_url, "--home", str(settings.home)]

    def invoke(*args: str):
        return runner.invoke(app, [*base, *args])

    return invoke


@pytest.fixture
def csvs(tmp_path: Path) -> tuple[Path, Path]:
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    pd.DataFrame(
        {"id": [1, 2, 3, 4], "city": ["x", "y", "x", None], "t": [1.0, 2.0, 3.0, 4.0]}
    ).to_csv(a, index=False)
    pd.DataFrame({"id": [1.5, 2.5], "t": [10.0, 20.0], "extra": ["u", "v"]}).to_csv(b, index=False)
    return a, b


def test_parse_ref() -> None:
    assert parse_ref("bikes") == ("bikes", None, None)
    assert parse_ref("bikes:3") == ("bikes", 3, None)
    assert parse_ref("bikes@prod") == ("bikes", None, "prod")
    for bad in ("bikes:x", "a:1@b", "", "a@"):
        with pytest.raises(InvalidInput, match="not a dataset reference"):
            parse_ref(bad)


def test_register_list_versions_show(cli, csvs: tuple[Path, Path]) -> None:
    a, b = csvs
    assert cli("data", "list").output.startswith("no datasets (searched the store ")
    assert cli("projects", "create", "empty").exit_code == 0
    assert cli("data", "list", "-p", "empty").output.startswith("no datasets in project empty (")
    result = cli("data", "register", "weather", str(a), "-p", "w", "-a", "prod", "-d", "first")
    assert result.exit_code == 0, result.output
    assert "registered weather:1 in project w: 4 rows, 3 columns" in result.output
    again = cli("data", "register", "weather", str(a), "-p", "w", "--json")
    assert json.loads(again.output)["created"] is False
    assert json.loads(again.output)["version"] == 1
    result = cli("data", "register", "weather", str(b), "-p", "w", "--no-profile")
    assert "registered weather:2" in result.output
    listed = json.loads(cli("data", "list", "--json").output)
    assert [(d["project"], d["name"], d["latest_version"]) for d in listed] == [("w", "weather", 2)]
    assert "weather" in cli("data", "list", "-p", "w").output
    versions = json.loads(cli("data", "versions", "weather", "-p", "w", "--json").output)
    assert [(v["version"], v["aliases"]) for v in versions] == [(1, ["prod"]), (2, ["latest"])]
    shown = cli("data", "show", "weather@prod", "-p", "w")
    assert shown.exit_code == 0, shown.output
    for text in ("weather:1", "prod", "city", "string", "profile", "first"):
        assert text in shown.output
    data = json.loads(cli("data", "show", "weather:2", "-p", "w", "--json").output)
    assert [c["name"] for c in data["columns"]] == ["id", "t", "extra"]
    assert data["reports"] == [] and len(data["digest"]) == 64


def test_load_writes_parquet_and_csv(cli, csvs: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = csvs
    cli("data", "register", "weather", str(a))
    result = cli("data", "load", "weather:1", "--out", str(tmp_path / "out" / "w.parquet"))
    assert result.exit_code == 0, result.output
    assert "wrote 4 rows" in result.output
    assert pq.read_table(tmp_path / "out" / "w.parquet").num_rows == 4
    cli("data", "load", "weather", "-o", str(tmp_path / "w.csv"))
    written = pd.read_csv(tmp_path / "w.csv")
    pd.testing.assert_frame_equal(written, pd.read_csv(a), check_dtype=False)
    bad = cli("data", "load", "weather", "-o", str(tmp_path / "w.xlsx"))
    assert bad.exit_code == 2 and "must end with .parquet or .csv" in bad.output


def test_profile_of_a_dataset_and_of_a_file(cli, csvs: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = csvs
    cli("data", "register", "weather", str(a))
    result = cli("data", "profile", "weather", "--html", str(tmp_path / "p.html"))
    assert result.exit_code == 0, result.output
    assert "city" in result.output and "25.0%" in result.output
    assert "<html" in (tmp_path / "p.html").read_text().lower()
    data = json.loads(cli("data", "profile", str(a), "--json").output)
    assert data["rows"] == 4


def test_drift_between_a_dataset_and_a_file(cli, tmp_path: Path) -> None:
    ref = tmp_path / "ref.csv"
    cur = tmp_path / "cur.csv"
    pd.DataFrame({"x": range(500), "c": ["a", "b"] * 250}).to_csv(ref, index=False)
    pd.DataFrame({"x": range(1000, 1500), "c": ["a", "b"] * 250}).to_csv(cur, index=False)
    cli("data", "register", "baseline", str(ref))
    result = cli("data", "drift", "baseline", str(cur), "--html", str(tmp_path / "d.html"))
    assert result.exit_code == 0, result.output
    assert "drifted" in result.output
    report = json.loads(cli("data", "drift", "baseline", str(cur), "--json").output)
    assert [f["column"] for f in report["features"] if f["drifted"]] == ["x"]
    assert (tmp_path / "d.html").exists()


def test_diff_shows_schema_and_profile_changes(cli, csvs: tuple[Path, Path]) -> None:
    a, b = csvs
    cli("data", "register", "weather", str(a))
    cli("data", "register", "weather", str(b))
    result = cli("data", "diff", "weather:1", "weather:2")
    assert result.exit_code == 0, result.output
    for text in ("added", "extra", "removed", "city", "retyped", "int64", "double", "mean"):
        assert text in result.output
    data = json.loads(cli("data", "diff", "weather:1", str(b), "--json").output)
    assert [c["name"] for c in data["schema"]["added"]] == ["extra"]
    assert [c["name"] for c in data["schema"]["removed"]] == ["city"]
    assert data["schema"]["retyped"] == [{"name": "id", "a": "int64", "b": "double"}]
    assert data["columns"]["t"]["a"]["mean"] == 2.5 and data["columns"]["t"]["b"]["mean"] == 15.0
    assert data["rows"] == {"a": 4, "b": 2}
    same = cli("data", "diff", "weather:1", str(a))
    assert "schema: no changes" in same.output and "profile: no changes" in same.output


def test_errors_are_one_line(cli, tmp_path: Path) -> None:
    result = cli("data", "show", "ghost")
    assert result.exit_code == 4
    assert result.output.strip().count("\n") == 0 and "does not exist" in result.output
    (tmp_path / "x.json").write_text("{}")
    result = cli("data", "register", "bad", str(tmp_path / "x.json"))
    assert result.exit_code == 2 and "unsupported file type" in result.output
    (tmp_path / "latin.csv").write_bytes("a\nZürich\n".encode("latin-1"))
    result = cli("data", "register", "latin", str(tmp_path / "latin.csv"))
    assert result.exit_code == 2 and "byte offset" in result.output
    result = cli("data", "register", "latin", str(tmp_path / "latin.csv"), "--encoding", "latin-1")
    assert result.exit_code == 0, result.output
    result = cli("data", "show", "bad:ref:1")
    assert result.exit_code == 2 and "not a dataset reference" in result.output


def test_registered_data_loads_back_through_the_sdk(cli, settings, csvs: tuple[Path, Path]) -> None:
    a, _ = csvs
    cli("data", "register", "weather", str(a), "-p", "w")
    with Client(settings) as client:
        pd.testing.assert_frame_equal(client.datasets.load("weather", project="w"), pd.read_csv(a))


def test_validate_with_failed_warnings_says_so(
    cli, csvs: tuple[Path, Path], tmp_path: Path
) -> None:
    a, _ = csvs
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "- {kind: not_null, column: id}\n"
        "- {kind: in_set, column: city, values: [x], severity: warning}\n"
        "- {kind: in_range, column: t, max: 3, severity: warning}\n"
    )
    result = cli("data", "validate", str(a), "-e", str(suite))
    assert result.exit_code == 0, result.output
    assert "passed with 2 warnings" in " ".join(result.output.split())
    assert result.output.count("WARN") == 2 and "FAIL" not in result.output
    suite.write_text("- {kind: not_null, column: id}\n")
    clean = cli("data", "validate", str(a), "-e", str(suite))
    assert clean.exit_code == 0 and "passed" in clean.output and "warning" not in clean.output
    suite.write_text(
        "- {kind: in_set, column: city, values: [x]}\n"
        "- {kind: in_range, column: t, max: 3, severity: warning}\n"
    )
    failed = cli("data", "validate", str(a), "-e", str(suite))
    assert failed.exit_code == 9 and "FAILED" in failed.output
    assert "FAIL " in failed.output and "WARN" in failed.output
