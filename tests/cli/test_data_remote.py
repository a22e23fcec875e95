"""``modelyard data`` through a server: the same commands and answers as embedded (each
test runs in both modes; ``test_data.py`` covers the commands in depth, embedded)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from modelyard import Client


@pytest.fixture
def csvs(tmp_path: Path) -> tuple[Path, Path]:
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    pd.DataFrame(
        {"id": [1, 2, 3, 4], "city": ["x", "y", "x", None], "t": [1.0, 2.0, 3.0, 4.0]}
    ).to_csv(a, index=False)
    pd.DataFrame({"id": [1.5, 2.5], "t": [10.0, 20.0], "extra": ["u", "v"]}).to_csv(b, index=False)
    return a, b


def test_register_list_show_and_load(
    cli, settings, csvs: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = csvs
    result = cli("data", "register", "weather", str(a), "-p", "w", "-a", "prod", "-d", "first")
    assert result.exit_code == 0, result.output
    assert "registered weather:1 in project w: 4 rows, 3 columns" in result.output
    again = json.loads(cli("data", "register", "weather", str(a), "-p", "w", "--json").output)
    assert again["created"] is False and again["version"] == 1
    assert again["source"] == str(a.resolve())
    assert "registered weather:2" in cli("data", "register", "weather", str(b), "-p", "w").output
    listed = json.loads(cli("data", "list", "--json").output)
    assert [(d["project"], d["name"], d["latest_version"]) for d in listed] == [("w", "weather", 2)]
    versions = json.loads(cli("data", "versions", "weather", "-p", "w", "--json").output)
    assert [(v["version"], v["aliases"]) for v in versions] == [(1, ["prod"]), (2, ["latest"])]
    shown = json.loads(cli("data", "show", "weather@prod", "-p", "w", "--json").output)
    assert shown["description"] == "first" and [r["kind"] for r in shown["reports"]] == ["profile"]

    loaded = cli("data", "load", "weather:1", "-p", "w", "--out", str(tmp_path / "w.parquet"))
    assert loaded.exit_code == 0 and "wrote 4 rows" in loaded.output
    assert pq.read_table(tmp_path / "w.parquet").num_rows == 4
    cli("data", "load", "weather@prod", "-p", "w", "-o", str(tmp_path / "w.csv"))
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "w.csv"), pd.read_csv(a), check_dtype=False
    )
    with Client(settings) as client:
        pd.testing.assert_frame_equal(
            client.datasets.load("weather", version=1, project="w"), pd.read_csv(a)
        )


def test_profile_diff_and_errors(cli, csvs: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = csvs
    cli("data", "register", "weather", str(a))
    cli("data", "register", "weather", str(b))
    result = cli("data", "profile", "weather:1", "--html", str(tmp_path / "p.html"))
    assert result.exit_code == 0, result.output
    assert "city" in result.output and "25.0%" in result.output
    assert "<html" in (tmp_path / "p.html").read_text().lower()
    diff = json.loads(cli("data", "diff", "weather:1", "weather:2", "--json").output)
    assert [c["name"] for c in diff["schema"]["added"]] == ["extra"]
    missing = cli("data", "show", "ghost")
    assert missing.exit_code == 4 and "does not exist" in missing.output
    assert missing.output.strip().count("\n") == 0 and "Traceback" not in missing.output
