"""validate(): streams any table or file in batches with bounded memory, gives defined results
on awkward data, and its report round-trips JSON, renders offline HTML and raises
DataValidationError listing every critical failure."""

from __future__ import annotations

import datetime as dt
import json
import re
import tracemalloc
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import modelyard
import modelyard.data
from modelyard import errors
from modelyard.data import (
    Expectation,
    ValidationReport,
    expect,
    validate,
)
from modelyard.data._report import SVG_NS
from modelyard.data._seen import SeenKeys
from modelyard.errors import DataValidationError, InvalidInput, NotFound

NOW = dt.datetime(2012, 1, 1, 12, 0)


def _bikeshare_rules() -> list[Expectation]:
    return [
        expect.schema(["season", "mnth", "hr", "weathersit"], types={"bikers": "integer"}),
        expect.not_null("bikers"),
        expect.in_range("hr", 0, 23),
        expect.in_range("temp", 0, 0.9, severity="warning"),
        expect.in_set("weathersit", ["clear", "cloudy/misty", "light rain/snow"]),
        expect.in_set("season", [1, 2, 3, 4]),
        expect.unique("registered", severity="warning"),
        expect.matches("mnth", r"[A-Z][a-z]+"),
        expect.row_count(8000, 9000),
        expect.max_outliers("casual", 0.05),
        expect.max_outliers("bikers", 0.05, "mad"),
        expect.max_cardinality("mnth", 12),
    ]


# -- streaming ------------------------------------------------------------------------------


def test_batches_give_the_same_report_as_one_table(bikeshare: pd.DataFrame) -> None:
    rules = [*_bikeshare_rules(), expect.fresh("ts", "2d"), expect.unique("ts")]
    table = pa.Table.from_pandas(bikeshare, preserve_index=False)
    whole = validate(bikeshare, rules, now=NOW)
    pulled: list[int] = []

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in table.to_batches(max_chunksize=500):
            pulled.append(batch.num_rows)
            yield batch

    streamed = validate(batches(), rules, now=NOW)
    assert len(pulled) == 18 and sum(pulled) == whole.rows == 8645
    assert streamed.to_dict() == whole.to_dict()
    failed = {(result.kind, result.column) for result in whole.failures}
    assert failed == {
        ("in_range", "temp"),
        ("in_set", "weathersit"),
        ("unique", "registered"),
        ("max_outliers", "casual"),
    }
    weather = whole.for_column("weathersit")[0]
    assert weather.failing_rows == 1 and weather.examples == ("heavy rain/snow",)
    assert bikeshare.loc[list(weather.example_rows), "weathersit"].tolist() == ["heavy rain/snow"]
    registered = whole.for_column("registered")[0]
    assert registered.failing_rows == len(bikeshare) - bikeshare["registered"].nunique()
    first_repeat = bikeshare["registered"].duplicated().to_numpy().nonzero()[0][:5]
    assert registered.example_rows == tuple(first_repeat)


def test_duplicates_across_batches_and_positions_in_the_stream() -> None:
    ids = np.arange(30_000, dtype=np.int64)
    ids[[12_000, 29_999]] = [5, 11_999]
    words = np.array([f"w{i}" for i in range(30_000)], dtype=object)
    words[25_000] = "w3"
    table = pa.table({"id": ids, "word": words})
    rules = [expect.unique("id"), expect.unique("word")]
    report = validate(table.to_batches(max_chunksize=7_000), rules)
    by_id, by_word = report.results
    assert by_id.failing_rows == 2 and by_id.example_rows == (12_000, 29_999)
    assert by_id.examples == (5, 11_999) and by_id.exact
    assert by_word.failing_rows == 1 and by_word.example_rows == (25_000,)
    assert by_word.examples == ("w3",)


def test_unique_past_its_limit_is_not_passed_silently() -> None:
    table = pa.table({"id": [*range(100), 3]})
    result = validate(table.to_batches(max_chunksize=10), [expect.unique("id")], unique_limit=45)
    (unique,) = result.results
    assert not unique.passed and not unique.exact and unique.failing_rows == 1
    assert "only the first 45 distinct values were remembered" in unique.message
    assert "raise unique_limit" in unique.message
    assert validate(table, [expect.unique("id")], unique_limit=200).results[0].exact


def _stream(batches: int, rows: int = 50_000) -> Iterator[pa.RecordBatch]:
    """Batches made on demand and dropped after use: the whole table never exists."""
    rng = np.random.default_rng(5)
    start = np.datetime64("2024-01-01T00:00:00", "s")
    plans = np.array(["free", "pro", "team"])
    for number in range(batches):
        yield pa.record_batch(
            {
                "x": rng.normal(size=rows),
                "plan": pa.array(plans[rng.integers(0, 3, rows)]),
                "t": start + np.arange(number * rows, (number + 1) * rows),
            }
        )


def _peak_memory(batches: int) -> tuple[ValidationReport, int]:
    rules = [
        expect.not_null("x"),
        expect.in_range("x", -10, 10),
        expect.in_set("plan", ["free", "pro", "team"]),
        expect.matches("plan", "[a-z]+"),
        expect.max_outliers("x", 0.02),
        expect.max_cardinality("plan", 3),
        expect.fresh("t", "30d"),
        expect.row_count(min=1),
    ]
    tracemalloc.start()
    try:
        report = validate(_stream(batches), rules, now=dt.datetime(2024, 1, 20))
        return report, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_bounded_while_streaming() -> None:
    _, small_peak = _peak_memory(4)  # past the exact phases: every sketch has taken over
    report, peak = _peak_memory(16)
    assert report.rows == 800_000 and report.ok, report.summary()
    assert peak < 1.5 * small_peak  # 4 times the rows, about the same memory (1.1x)
    assert peak < 8 << 20 < report.rows * 24  # under the numbers and times alone
    outliers = report.for_column("x")[2]
    assert outliers.kind == "max_outliers" and not outliers.exact  # sketched past 32,768
    assert outliers.observed == pytest.approx(0.007, abs=0.001)  # normal: 0.70 % outside


# -- files ----------------------------------------------------------------------------------


def test_csv_files_stream_from_disk(bikeshare_path: Path, bikeshare: pd.DataFrame) -> None:
    rules = _bikeshare_rules()
    from_file = validate(bikeshare_path, rules, now=NOW)
    from_text_path = validate(str(bikeshare_path), rules, now=NOW)
    in_memory = validate(bikeshare.drop(columns="ts"), rules, now=NOW)
    assert from_file.to_dict() == from_text_path.to_dict() == in_memory.to_dict()


def test_parquet_arrow_and_tsv_files(tmp_path: Path, bikeshare: pd.DataFrame) -> None:
    rules = [*_bikeshare_rules(), expect.fresh("ts", "2d")]
    expected = validate(bikeshare, rules, now=NOW).to_dict()
    table = pa.Table.from_pandas(bikeshare, preserve_index=False)
    pq.write_table(table, tmp_path / "bikes.parquet", row_group_size=1000)
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(table.slice(0, 5000), folder / "a.parquet")
    pq.write_table(table.slice(5000), folder / "b.parquet")
    feather.write_feather(table, tmp_path / "bikes.arrow")
    for path in (tmp_path / "bikes.parquet", folder, tmp_path / "bikes.arrow"):
        assert validate(path, rules, now=NOW).to_dict() == expected, path
    bikeshare.drop(columns="ts").to_csv(tmp_path / "bikes.tsv", sep="\t", index=False)
    tsv = validate(tmp_path / "bikes.tsv", rules[:-1], now=NOW)
    assert tsv.results == validate(bikeshare, rules[:-1], now=NOW).results


def test_unreadable_files_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotFound, match=r"data file '.*missing\.csv' does not exist"):
        validate(tmp_path / "missing.csv", [expect.row_count(1)])
    sheet = tmp_path / "data.xlsx"
    sheet.write_bytes(b"PK")
    with pytest.raises(InvalidInput, match=r"is not CSV \(.csv, .tsv\), Parquet"):
        validate(sheet, [expect.row_count(1)])
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput, match=r"broken\.parquet' cannot be read: "):
        validate(broken, [expect.row_count(1)])
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InvalidInput, match=r"empty\.csv' cannot be read: Empty CSV file"):
        validate(empty, [expect.row_count(1)])
    monkeypatch.setattr("modelyard.data._arrow.CSV_BLOCK_BYTES", 64)
    later = tmp_path / "later.csv"
    later.write_text("n\n" + "1\n" * 200 + "one\n")
    with pytest.raises(InvalidInput, match=r"later\.csv' cannot be read after row [\d,]+: .*one"):
        validate(later, [expect.not_null("n")])
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b\n")
    report = validate(header_only, [expect.schema(["a", "b"]), expect.row_count(max=0)])
    assert report.ok and report.rows == 0


# -- awkward data ---------------------------------------------------------------------------


EVERY_KIND = [
    expect.schema(["a", "b"]),
    expect.not_null("a"),
    expect.in_range("a", 0, 1),
    expect.in_set("b", ["x"]),
    expect.unique("a"),
    expect.matches("b", "x"),
    expect.row_count(min=1),
    expect.max_outliers("a", 0.1),
    expect.max_outliers("a", 0.1, "mad"),
    expect.max_cardinality("b", 1),
]


def _outcomes(frame: pd.DataFrame) -> dict[tuple[str, str | None], bool]:
    report = validate(frame, EVERY_KIND)
    return {(result.kind, result.rule.describe()): result.passed for result in report.results}


def test_an_empty_frame() -> None:
    frame = pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype=str)})
    report = validate(frame, EVERY_KIND)
    assert report.rows == 0
    assert [result.kind for result in report.failures] == ["row_count"]
    assert report.results[1].observed == 0.0 and report.results[7].observed == 0.0
    with pytest.raises(InvalidInput, match="data has no columns"):
        validate(pd.DataFrame(), EVERY_KIND)


def test_all_null_columns() -> None:
    report = validate(pd.DataFrame({"a": [None, None], "b": [None, None]}), EVERY_KIND)
    assert [result.kind for result in report.failures] == ["not_null"]
    assert "the column is all null" in report.results[2].message
    assert not validate(pd.DataFrame({"t": [None]}), [expect.fresh("t", "1d")]).ok


def test_nan_inf_and_a_single_row() -> None:
    frame = pd.DataFrame({"a": [np.nan, np.inf, -np.inf, 0.5], "b": ["x", "x", None, "x"]})
    report = validate(frame, EVERY_KIND)
    failed = {result.rule.describe(): result for result in report.failures}
    assert set(failed) == {"not_null 'a'", "in_range 'a'"}
    assert failed["not_null 'a'"].failing_rows == 1  # NaN is missing; ±inf are values
    assert failed["in_range 'a'"].examples == (np.inf, -np.inf)
    assert failed["in_range 'a'"].observed == {"min": -np.inf, "max": np.inf}
    single = validate(pd.DataFrame({"a": [0.5], "b": ["x"]}), EVERY_KIND)
    assert single.ok and not single.failures


def test_mixed_type_object_columns_and_other_bad_arguments() -> None:
    with pytest.raises(InvalidInput, match=r"column 'b' mixes value types \(int, str\)") as caught:
        validate(pd.DataFrame({"a": [1, 2], "b": [1, "x"]}), EVERY_KIND)
    assert caught.value.field == "b"
    frame = pd.DataFrame({"a": [1]})
    with pytest.raises(InvalidInput, match="got list"):
        validate([1, 2], EVERY_KIND)
    with pytest.raises(InvalidInput, match="expectation 2 is a dict, not an Expectation"):
        validate(frame, [expect.unique("a"), {"kind": "unique"}])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="expectations must be a list"):
        validate(frame, 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="now must be an ISO 8601 time"):
        validate(frame, EVERY_KIND, now="tomorrow")
    with pytest.raises(InvalidInput, match="unique_limit"):
        validate(frame, EVERY_KIND, unique_limit=0)
    assert validate(frame, expect.unique("a")).ok  # one expectation alone
    assert validate(frame, "- {kind: unique, column: a}").ok  # YAML text
    other = pa.table({"l": pa.array([[1], [1]])})
    result = validate(other, [expect.unique("l"), expect.not_null("l")])
    assert not result.results[0].passed and "of type other" in result.results[0].message
    assert result.results[1].passed


# -- the report -----------------------------------------------------------------------------


def _report() -> ValidationReport:
    frame = pd.DataFrame(
        {
            "id <b>&": [1, 2, 2, 4],
            "age": [31.0, np.inf, 45.0, 200.0],
            "plan": ["free", "pro", "gold", "free"],
            "t": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]),
        }
    )
    rules = [
        expect.unique("id <b>&"),
        expect.in_range("age", 0, 120),
        expect.in_set("plan", ["free", "pro"], severity="warning"),
        expect.fresh("t", "1d"),
        expect.not_null("age"),
        expect.row_count(1, 10),
    ]
    return validate(frame, rules, now="2024-01-10T00:00:00+01:00")


def test_ok_failures_and_warnings() -> None:
    report = _report()
    assert not report.ok and report.now == "2024-01-09T23:00:00Z"
    assert [r.kind for r in report.critical_failures] == ["unique", "in_range", "fresh"]
    assert [r.kind for r in report.warnings] == ["in_set"]
    summary = "2 of 6 expectations passed; 3 critical failures, 1 warning (4 rows)"
    assert report.summary() == summary
    age = report.for_column("age")[0]
    assert age.observed == {"min": 31.0, "max": np.inf} and age.examples == (np.inf, 200.0)
    warnings_only = validate(pd.DataFrame({"a": [1, 1]}), [expect.unique("a", severity="warning")])
    assert warnings_only.ok and len(warnings_only.warnings) == 1
    warnings_only.raise_for_critical()


def test_json_round_trip_keeps_every_value() -> None:
    report = _report()
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert '{"$float": "inf"}' in text
    again = ValidationReport.from_dict(json.loads(text))
    assert again == report and again.results[1].observed["max"] == np.inf
    with pytest.raises(InvalidInput, match="not a stored validation report"):
        ValidationReport.from_dict({"rows": 1})
    broken = report.to_dict()
    broken["results"][0]["passed"] = "yes"
    with pytest.raises(InvalidInput, match="malformed"):
        ValidationReport.from_dict(broken)
    unknown = report.to_dict()
    unknown["results"][0]["rule"]["kind"] = "nope"
    with pytest.raises(InvalidInput, match="unknown kind 'nope'"):
        ValidationReport.from_dict(unknown)


def test_critical_failures_raise_data_validation_error() -> None:
    report = _report()
    with pytest.raises(DataValidationError) as caught:
        report.raise_for_critical()
    error = caught.value
    lines = error.message.splitlines()
    assert lines[0] == "data validation failed: 3 critical expectations of 6 failed on 4 rows"
    assert lines[1] == (
        "- unique on column 'id <b>&': observed 1 duplicate row among 4 values; expected no "
        "duplicates (1 failing row, e.g. 2)"
    )
    assert lines[2] == (
        "- in_range on column 'age': observed 2 of 4 values out of range (min 31, max inf); "
        "expected values in [0, 120] (2 failing rows, e.g. inf, 200)"
    )
    assert lines[3] == (
        "- fresh on column 't': observed newest 2024-01-04 (5d 23h old); expected newest at or "
        "after 2024-01-08T23:00:00 (at most 1d old)"
    )
    assert len(lines) == 4 and "plan" not in error.message  # warnings are not listed
    assert error.report is report and error.field == "id <b>&"
    assert isinstance(error, InvalidInput) and isinstance(error, ValueError)
    assert (error.http_status, error.exit_code, error.code) == (422, 9, "data_validation_failed")
    assert error.to_dict()["error"]["code"] == "data_validation_failed"
    assert modelyard.DataValidationError is errors.DataValidationError
    assert "DataValidationError" in modelyard.__all__ and "DataValidationError" in errors.__all__
    with pytest.raises(DataValidationError, match="1 critical expectation of 1 failed"):
        validate(pd.DataFrame({"a": [None]}), [expect.not_null("a")], raise_on_critical=True)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.labels: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "svg":
            self.labels.append(dict(attrs).get("aria-label") or "")


def test_html_is_one_offline_document() -> None:
    report = _report()
    document = report.to_html()
    assert document.startswith("<!DOCTYPE html>")
    assert set(re.findall(r"https?://[^\s\"'<>)]*", document)) <= {SVG_NS}
    assert "<script" not in document and "<link" not in document and "@import" not in document
    parsed = _Tags()
    parsed.feed(document)
    assert parsed.labels == ["expectations by outcome"]
    assert "id &lt;b&gt;&amp;" in document and "<b>&" not in document
    assert parsed.tags.count("b") == document.count("<b>")
    assert document.count('<tr id="r-') == 6
    assert document.count("flag bad") == 1 + 3 + 3 and document.count("flag warn") == 1 + 1
    assert "Failed: 3 critical expectations failed (1 warning)" in document
    assert "observed 1 duplicate row among 4 values" in document
    passing = validate(pd.DataFrame({"a": [1]}), [expect.unique("a")]).to_html()
    assert "Passed: no critical failures" in passing and "<h2>Failures</h2>" not in passing


def test_public_names() -> None:
    for name in (
        "validate",
        "suggest_expectations",
        "load_expectations",
        "dump_expectations",
        "expect",
        "Expectation",
        "ExpectationResult",
        "ValidationReport",
    ):
        assert name in modelyard.data.__all__ and hasattr(modelyard.data, name)
    assert set(expect.__all__) == {
        "schema", "not_null", "in_range", "in_set", "unique", "matches", "row_count",
        "fresh", "max_outliers", "max_cardinality",
    }  # fmt: skip


@pytest.mark.parametrize("wide", [False, True])
def test_the_set_behind_unique_matches_a_python_set(wide: bool) -> None:
    rng = np.random.default_rng(9)
    seen = SeenKeys(wide=wide, limit=10**6)
    reference: set[tuple[int, int]] = set()
    for _ in range(60):
        first = rng.integers(0, 40, size=rng.integers(0, 300)).astype(np.uint64)
        second = rng.integers(0, 3, size=first.size).astype(np.uint64) if wide else None
        repeated = seen.add(first, second)
        expected = []
        for i, key in enumerate(first.tolist()):
            pair = (key, int(second[i]) if second is not None else 0)
            expected.append(pair in reference)
            reference.add(pair)
        assert repeated.tolist() == expected
    assert seen.size == len(reference) and not seen.full


def test_printing_a_report_gives_its_summary() -> None:
    report = _report()
    assert str(report) == report.summary()
    assert repr(report) == f"<ValidationReport: {report.summary()}>"
