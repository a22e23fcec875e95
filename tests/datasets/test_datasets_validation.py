"""Expectations with datasets: validate a stored version (the report is archived and can
be read back), and validate before registering (a critical failure registers nothing)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from modelyard import Client, DataValidationError
from modelyard.data import dump_expectations, expect, suggest_expectations


def test_a_versions_validation_is_archived(client: Client, bikeshare_path: Path) -> None:
    frame = pd.read_csv(bikeshare_path)
    client.datasets.register("bikes", frame, project="bikes")
    suite = [
        expect.schema(["season", "hr", "bikers", "weathersit"]),
        expect.not_null("bikers"),
        expect.in_range("hr", 0, 23),
        expect.in_range("bikers", 0, 500, severity="warning"),  # the busiest hour had 886
    ]
    report = client.datasets.validate("bikes", suite, project="bikes")
    assert report.ok and report.rows == len(frame)
    assert [r.passed for r in report.results] == [True, True, True, False]

    stored = client.datasets.validation_reports("bikes", project="bikes")
    assert len(stored) == 1 and stored[0].to_dict() == report.to_dict()
    archived = client.datasets.get_reports("bikes", kind="validation", project="bikes")[0]
    html = client.datasets.report_html(archived)
    assert html is not None and "bikers" in html and "<script src" not in html

    with pytest.raises(DataValidationError) as failed:
        client.datasets.validate(
            "bikes", [expect.in_range("bikers", 0, 500)], project="bikes", raise_on_critical=True
        )
    assert "bikers" in str(failed.value) and "500" in str(failed.value)
    assert len(client.datasets.validation_reports("bikes", project="bikes")) == 2


def test_critical_failures_register_nothing(client: Client, bikeshare_path: Path) -> None:
    frame = pd.read_csv(bikeshare_path)
    suite = suggest_expectations(frame)  # what the first month looks like, as YAML
    text = dump_expectations(suite)
    first = client.datasets.register("bikes", frame, project="bikes", expectations=text)
    assert [r.ok for r in client.datasets.validation_reports("bikes", project="bikes")] == [True]

    broken = frame.assign(bikers=frame["bikers"].where(frame.index % 7 != 0))  # nulls
    with pytest.raises(DataValidationError, match=r"not_null.*bikers"):
        client.datasets.register("bikes", broken, project="bikes", expectations=text)
    assert [v.version for v in client.datasets.list_versions("bikes", project="bikes")] == [
        first.version
    ]


def test_the_module_sugar(settings_env, bikeshare_path: Path) -> None:
    import modelyard as my

    my.datasets.register("bikes", bikeshare_path, project="bikes")
    report = my.datasets.validate("bikes", [expect.not_null("bikers")], project="bikes")
    assert report.ok
    assert my.datasets.validation_reports("bikes", project="bikes")[0].ok
    assert my.datasets.get_profile("bikes", project="bikes").rows == 8645
