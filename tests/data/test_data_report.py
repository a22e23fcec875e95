"""The HTML reports are single self-contained documents: inline SVG, nothing fetched."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd

from modelyard.data import drift, profile
from modelyard.data._report import SVG_NS


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.labels: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "svg":
            self.labels.append(dict(attrs).get("aria-label") or "")


def _parse(document: str) -> _Tags:
    parser = _Tags()
    parser.feed(document)
    return parser


def _offline(document: str) -> None:
    assert document.startswith("<!DOCTYPE html>")
    urls = re.findall(r"https?://[^\s\"'<>)]*", document)
    assert set(urls) <= {SVG_NS}
    assert "<script" not in document and "<link" not in document and "@import" not in document


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(31)
    reference = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 2000),
            "income <b>&": rng.lognormal(10, 1, 2000),
            "plan": rng.choice(["free", "pro", "team"], 2000),
            "ts": pd.date_range("2024-01-01", periods=2000, freq="h"),
            "empty": [None] * 2000,
        }
    )
    current = reference.assign(age=reference["age"] + 8, plan=rng.choice(["free", "pro"], 2000))
    return reference, current


def test_profile_html_has_a_chart_per_numeric_column_and_opens_offline() -> None:
    reference, _ = _frames()
    result = profile(reference, time_column="ts")
    document = result.to_html()
    _offline(document)
    parsed = _parse(document)
    for name in ("age", "income <b>&"):
        assert f"histogram of {name}" in parsed.labels
    assert "most frequent values of plan" in parsed.labels
    assert "rows per hour" in parsed.labels
    assert "income &lt;b&gt;&amp;" in document and "<b>&" not in document
    assert parsed.tags.count("b") == document.count("<b>")


def test_drift_html_overlays_reference_and_current_per_feature() -> None:
    reference, current = _frames()
    report = drift(reference, current)
    document = report.to_html()
    _offline(document)
    labels = _parse(document).labels
    assert "distribution of age" in labels and "distribution of income <b>&" in labels
    assert "category shares of plan" in labels
    assert report["age"].drifted and "Dataset drift detected" in document
    assert "datetime columns are not compared" in document
