"""``modelyard data validate`` and ``data suggest`` on ISLP's Bikeshare data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.config import Settings


@pytest.fixture
def cli(settings: Settings):
    runner = CliRunner()
    base = ["--store-url", settings.store_url, "--home", str(settings.home)]

    def invoke(*args: str):
        return runner.invoke(app, [*base, *args])

    return invoke


def test_suggest_validate_and_archive(cli, bikeshare_path: Path, tmp_path: Path) -> None:
    suite = tmp_path / "bikes.yaml"
    made = cli("data", "suggest", str(bikeshare_path), "--out", str(suite))
    assert made.exit_code == 0, made.output
    assert "kind: not_null" in suite.read_text() or "not_null" in suite.read_text()

    registered = cli("data", "register", "bikes", str(bikeshare_path), "-e", str(suite))
    assert registered.exit_code == 0, registered.output

    checked = cli("data", "validate", "bikes", "-e", str(suite), "--html", str(tmp_path / "v.html"))
    assert checked.exit_code == 0, checked.output
    assert "passed" in checked.output and (tmp_path / "v.html").read_text().startswith("<!")
    as_json = json.loads(cli("data", "validate", "bikes:1", "-e", str(suite), "--json").output)
    assert as_json["rows"] == 8645

    strict = tmp_path / "strict.yaml"
    strict.write_text("- kind: in_range\n  column: bikers\n  max: 100\n")
    failed = cli("data", "validate", "bikes", "-e", str(strict))
    assert failed.exit_code == 9, failed.output
    assert "FAIL" in failed.output and "bikers" in failed.output.splitlines()[-1]
    refused = cli("data", "register", "bikes2", str(bikeshare_path), "-e", str(strict))
    assert refused.exit_code == 9
    assert "bikes2" not in cli("data", "list").output


def test_validate_a_file_and_bad_suites(cli, bikeshare_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- kind: no_such_rule\n  column: bikers\n")
    answer = cli("data", "validate", str(bikeshare_path), "-e", str(bad))
    assert answer.exit_code == 2 and "no_such_rule" in answer.output
    assert len(answer.output.strip().splitlines()) == 1
    missing = cli("data", "validate", "nothing-here", "-e", str(bad))
    assert missing.exit_code in (2, 4)
