"""Expectations: each kind passes and fails where it should, declared in Python or YAML;
YAML round-trips and its mistakes are named; suggestions from a real profile hold on fresh
data from the same source and catch broken data."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelyard.data import (
    Expectation,
    ExpectationResult,
    dump_expectations,
    expect,
    load_expectations,
    profile,
    suggest_expectations,
    validate,
)
from modelyard.data.expectations import (
    Fresh,
    InRange,
    InSet,
    MaxOutliers,
    NotNull,
    RowCount,
    Schema,
    Unique,
)
from modelyard.errors import InvalidInput, NotFound


def _one(data: object, rule: Expectation, **options: Any) -> ExpectationResult:
    (result,) = validate(data, [rule], **options).results
    assert result.message.startswith("observed ") and "; expected " in result.message
    return result


# -- each kind, passing and failing ---------------------------------------------------------


def test_schema() -> None:
    frame = pd.DataFrame(
        {
            "id": [1, 2],
            "price": [1.5, 2.0],
            "plan": pd.Categorical(["a", "b"]),
            "note": ["x", "y"],
            "empty": [None, None],
        }
    )
    types = {"id": "numeric", "price": "float", "plan": "string", "note": "categorical"}
    passing = _one(frame, expect.schema(["id", "price"], types=types | {"empty": "date"}))
    assert passing.passed and passing.observed == {"missing": [], "unexpected": [], "types": {}}
    assert passing.column is None
    exact = _one(frame, expect.schema(["id", "price", "plan"], exact=True, types={"id": "float"}))
    assert not exact.passed
    assert exact.observed == {
        "missing": [],
        "unexpected": ["note", "empty"],
        "types": {"id": "integer"},
    }
    assert "unexpected 'note', 'empty'" in exact.message and "id is integer" in exact.message
    missing = _one(frame, expect.schema(["id", "gone"]))
    assert not missing.passed and missing.observed["missing"] == ["gone"]
    assert missing.expected == {"columns": ["id", "gone"], "exact": False, "types": {}}


def test_not_null() -> None:
    frame = pd.DataFrame(
        {"a": [1.0, np.nan, 3.0, None], "b": ["x", None, "y", "z"], "c": [1, 2, 3, 4]}
    )
    assert _one(frame, expect.not_null("c")).passed
    a = _one(frame, expect.not_null("a"))
    assert not a.passed and a.failing_rows == 2 and a.example_rows == (1, 3)
    assert a.observed == 0.5 and a.expected == 0.0
    assert "2 nulls (50 % of 4 rows)" in a.message
    b = _one(frame, expect.not_null("b", max_share=0.25))
    assert b.passed and b.failing_rows == 1
    assert not _one(frame, expect.not_null("b", max_share=0.2)).passed


def test_in_range_of_numbers() -> None:
    frame = pd.DataFrame({"x": [0.0, 5.0, 10.0, np.nan, None], "n": [1, 2, 3, 4, 120]})
    assert _one(frame, expect.in_range("x", 0, 10)).passed
    exclusive = _one(frame, expect.in_range("x", 0, 10, inclusive=False))
    assert not exclusive.passed and exclusive.failing_rows == 2
    assert exclusive.examples == (0.0, 10.0) and exclusive.example_rows == (0, 2)
    assert exclusive.observed == {"min": 0.0, "max": 10.0}
    assert exclusive.expected == {"min": 0, "max": 10, "inclusive": False}
    above = _one(frame, expect.in_range("n", max=100))
    assert not above.passed and above.examples == (120,) and "values <= 100" in above.message
    assert _one(frame, expect.in_range("n", min=1)).passed
    infinite = _one(pd.DataFrame({"x": [1.0, np.inf]}), expect.in_range("x", 0, 1e300))
    assert not infinite.passed and infinite.examples == (np.inf,)


def test_in_range_of_times() -> None:
    stamps = pd.to_datetime(
        ["2024-01-01 00:00:00", "2024-01-31 23:59:59.5", None], format="ISO8601"
    )
    frame = pd.DataFrame({"t": stamps, "d": [dt.date(2024, 1, 1), dt.date(2024, 2, 1), None]})
    january = expect.in_range("t", "2024-01-01", dt.datetime(2024, 1, 31, 23, 59, 59, 500000))
    assert _one(frame, january).passed
    late = _one(frame, expect.in_range("t", max="2024-01-31T23:59:59"))
    assert not late.passed and late.failing_rows == 1 and late.example_rows == (1,)
    assert late.observed == {"min": "2024-01-01", "max": "2024-01-31T23:59:59.500"}
    dates = _one(frame, expect.in_range("d", min="2024-01-01T00:00:01"))
    assert not dates.passed and dates.examples == ("2024-01-01",)
    assert _one(frame, expect.in_range("d", "2023-12-31T23:00:00-01:00", "2024-02-01")).passed
    zoned = pd.DataFrame({"t": pd.to_datetime(["2024-01-01 01:00"]).tz_localize("Europe/Paris")})
    assert _one(zoned, expect.in_range("t", max="2024-01-01T00:00:00")).passed  # 00:00 UTC
    assert not _one(zoned, expect.in_range("t", max="2024-01-01T00:00:00", inclusive=False)).passed
    text = pa.table({"t": ["2024-05-01T10:00:00", "2023-01-01T00:00:00"]})
    assert _one(text, expect.in_range("t", min="2024-01-01")).failing_rows == 1
    mismatch = _one(frame, expect.in_range("t", 0, 1))
    assert not mismatch.passed and "which in_range cannot check" in mismatch.message


def test_in_set() -> None:
    frame = pd.DataFrame(
        {
            "plan": ["free", "pro", "team", None, "gold", "gold"],
            "n": [1, 2, 3, 4, 1, 2],
            "f": [1.0, 2.0, np.nan, 1.0, 2.0, 1.0],
            "cat": pd.Categorical(["a", "b", "a", "a", "b", "c"]),
        }
    )
    plans = _one(frame, expect.in_set("plan", ["free", "pro", "team"]))
    assert not plans.passed and plans.failing_rows == 2 and plans.observed == ["gold"]
    assert (
        plans.example_rows == (4, 5)
        and "2 rows with values outside the set: 'gold'" in plans.message
    )
    assert not _one(frame, expect.in_set("n", [1, 2, 3])).passed
    assert _one(frame, expect.in_set("f", [1, 2])).passed  # NaN is missing, not a value
    assert _one(frame, expect.in_set("cat", ["a", "b", "c"])).passed
    assert _one(frame, expect.in_set("cat", ["a", "b"])).observed == ["c"]
    wrong = _one(frame, expect.in_set("n", ["one", "two"]))
    assert not wrong.passed and "cannot be compared with a column of type int64" in wrong.message
    flags = pa.table({"ok": [True, False, None]})
    assert _one(flags, expect.in_set("ok", [True, False])).passed
    assert _one(flags, expect.in_set("ok", [True])).failing_rows == 1


def test_unique() -> None:
    frame = pd.DataFrame(
        {
            "id": [3, 1, 2, 1, None, None],
            "f": [0.0, -0.0, 1.5, np.nan, np.nan, 2.5],
            "s": ["a", "b", "c", "a", "a", None],
            "t": pd.to_datetime(
                ["2024-01-01", "2024-01-02", None, "2024-01-03", "2024-01-04", "2024-01-05"]
            ),
            "ok": [True, False, None, None, None, None],
        }
    )
    ids = _one(frame, expect.unique("id"))
    assert not ids.passed and ids.failing_rows == 1 and ids.examples == (1,)
    assert ids.example_rows == (3,) and ids.observed == 1 and ids.expected == 0
    floats = _one(frame, expect.unique("f"))
    assert floats.failing_rows == 1 and floats.example_rows == (1,)  # -0.0 == 0.0
    text = _one(frame, expect.unique("s"))
    assert text.failing_rows == 2 and text.examples == ("a",) and text.example_rows == (3, 4)
    assert _one(frame, expect.unique("t")).passed
    assert _one(frame, expect.unique("ok")).passed


def test_matches() -> None:
    frame = pd.DataFrame({"id": ["u-1", "u-22", "x-3", None, "u-4x"], "n": [1, 2, 3, 4, 5]})
    result = _one(frame, expect.matches("id", r"u-\d+"))
    assert not result.passed and result.failing_rows == 2
    assert result.examples == ("x-3", "u-4x") and result.example_rows == (2, 4)
    assert _one(frame, expect.matches("id", r"[ux]-\d+x?")).passed
    lookahead = _one(frame, expect.matches("id", r"(?!x).*"))  # RE2 lacks it: Python's re
    assert lookahead.failing_rows == 1 and lookahead.examples == ("x-3",)
    assert _one(pd.DataFrame({"s": pd.Categorical(["ab", "ab"])}), expect.matches("s", "a.")).passed
    numbers = _one(frame, expect.matches("n", r"\d"))
    assert not numbers.passed and "of type integer" in numbers.message


def test_row_count() -> None:
    frame = pd.DataFrame({"a": range(10)})
    assert _one(frame, expect.row_count(10, 10)).passed
    few = _one(frame, expect.row_count(min=11))
    assert not few.passed and few.observed == 10 and few.expected == {"min": 11, "max": None}
    assert few.message == "observed 10 rows; expected >= 11 rows"
    assert not _one(frame, expect.row_count(max=9)).passed


def test_fresh() -> None:
    now = dt.datetime(2024, 6, 2, 12, 0)
    frame = pd.DataFrame(
        {"t": pd.to_datetime(["2024-06-01T10:00", None, "2024-05-01"], format="ISO8601")}
    )
    fresh = _one(frame, expect.fresh("t", "1d 6h"), now=now)
    assert fresh.passed and fresh.observed == "2024-06-01T10:00"
    assert fresh.expected == "2024-06-01T06:00:00" and "(1d 2h old)" in fresh.message
    stale = _one(frame, expect.fresh("t", dt.timedelta(hours=12)), now=now)
    assert not stale.passed and stale.failing_rows is None
    aware_now = dt.datetime(2024, 6, 2, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert _one(frame, expect.fresh("t", 26 * 3600), now=aware_now).passed
    assert _one(frame, expect.fresh("t", "26h"), now="2024-06-02T12:00:00Z").passed
    dates = pd.DataFrame({"d": [dt.date(2024, 6, 1)]})
    assert _one(dates, expect.fresh("d", "36h"), now=now).passed
    text = pa.table({"t": ["2024-06-02T11:00:00"]})
    assert _one(text, expect.fresh("t", "2h"), now=now).passed
    future = pd.DataFrame({"t": [pd.Timestamp.now() + pd.Timedelta(days=3)]})
    assert "in the future" in _one(future, expect.fresh("t", "1h")).message  # default now
    nothing = _one(pd.DataFrame({"t": pd.to_datetime([None, None])}), expect.fresh("t", "1d"))
    assert not nothing.passed and "no times in 2 rows" in nothing.message
    bad_text = _one(pa.table({"t": ["soon"]}), expect.fresh("t", "1d"))
    assert not bad_text.passed and "not an ISO 8601 timestamp" in bad_text.message


def test_max_outliers_counts_as_the_profile_does(bikeshare: pd.DataFrame) -> None:
    reference = profile(bikeshare)
    for name in ("casual", "registered", "windspeed", "hum"):
        column = reference[name]
        values = column.count - column.missing - column.infinite
        for method, counted in (("iqr", column.outliers_iqr), ("mad", column.outliers_mad)):
            assert counted is not None
            share = counted / values
            result = _one(bikeshare, expect.max_outliers(name, share, method))
            assert result.passed and result.failing_rows == counted and result.observed == share
            assert result.exact and (0 < len(result.examples) <= 5) == (counted > 0)
            if counted:
                tighter = _one(bikeshare, expect.max_outliers(name, share * 0.99, method))
                assert not tighter.passed
    flat = pd.DataFrame({"x": [1.0] * 10 + [5.0, np.inf]})
    mad = _one(flat, expect.max_outliers("x", 0.0, "mad"))
    assert mad.passed and mad.observed is None and "MAD of 0" in mad.message
    iqr = _one(flat, expect.max_outliers("x", 0.05))
    assert not iqr.passed and iqr.failing_rows == 1 and iqr.examples == (5.0,)  # inf left out


def test_max_cardinality() -> None:
    frame = pd.DataFrame(
        {
            "city": ["a", "b", "c", "a", None],
            "n": [1.0, 2.0, 2.0, np.nan, np.inf],
            "d": pd.to_datetime(["2024-01-01"] * 5),
        }
    )
    assert _one(frame, expect.max_cardinality("city", 3)).passed
    over = _one(frame, expect.max_cardinality("city", 2))
    assert not over.passed and over.observed == 3 and over.expected == 2 and over.exact
    assert _one(frame, expect.max_cardinality("n", 2)).observed == 2  # finite values
    assert _one(frame, expect.max_cardinality("d", 1)).passed
    many = pa.table({"s": [f"v{i}" for i in range(150_000)]})
    estimated = _one(many, expect.max_cardinality("s", 120_000))
    assert not estimated.passed and not estimated.exact and estimated.observed > 120_000


def test_a_missing_column_fails_the_rule_and_the_others_go_on() -> None:
    report = validate(pd.DataFrame({"a": [1]}), [expect.not_null("b"), expect.not_null("a")])
    missing, present = report.results
    assert not missing.passed and missing.observed is None and missing.failing_rows is None
    assert missing.message == "observed no column 'b' (the columns: 'a'); expected no nulls"
    assert present.passed


# -- declaring expectations ---------------------------------------------------------------


def test_constructors_build_frozen_normalised_dataclasses() -> None:
    rule = expect.in_set("plan", ["a", "b", "a", 1, True], severity="warning")
    assert isinstance(rule, InSet) and rule.values == ("a", "b", 1, True)
    assert (
        rule.severity == "warning" and rule.column == "plan" and rule.describe() == "in_set 'plan'"
    )
    with pytest.raises(AttributeError):
        rule.column = "other"  # type: ignore[misc]
    assert expect.fresh("t", "90 minutes").max_age == dt.timedelta(minutes=90)
    assert expect.in_range("t", dt.date(2024, 1, 1)).min == "2024-01-01"
    assert isinstance(expect.row_count(1), RowCount) and expect.row_count(1).max is None
    assert expect.schema(["a", "a"], types={"b": "date"}).required == ("a", "b")
    assert hash(expect.schema(["a"])) == hash(expect.schema(["a"]))
    assert NotNull("a") == expect.not_null("a")


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: expect.not_null(""), "column"),
        (lambda: expect.not_null("a", max_share=1.5), "max_share"),
        (lambda: expect.not_null("a", severity="fatal"), "severity"),  # type: ignore[arg-type]
        (lambda: expect.in_range("a"), "min"),
        (lambda: expect.in_range("a", 5, 1), "min"),
        (lambda: expect.in_range("a", 0, "2024-01-01"), "max"),
        (lambda: expect.in_range("a", float("nan")), "min"),
        (lambda: expect.in_range("a", "yesterday"), "min"),
        (lambda: expect.in_set("a", []), "values"),
        (lambda: expect.in_set("a", "abc"), "values"),
        (lambda: expect.in_set("a", [None]), "values"),  # type: ignore[list-item]
        (lambda: expect.matches("a", "("), "pattern"),
        (lambda: expect.row_count(), "min"),
        (lambda: expect.row_count(-1), "min"),
        (lambda: expect.row_count(5, 2), "min"),
        (lambda: expect.fresh("a", "soon"), "max_age"),
        (lambda: expect.fresh("a", 0), "max_age"),
        (lambda: expect.max_outliers("a", 0.1, "zscore"), "method"),  # type: ignore[arg-type]
        (lambda: expect.max_cardinality("a", 0), "max"),
        (lambda: expect.schema([]), "columns"),
        (lambda: expect.schema(["a"], types={"a": "int"}), "types"),
        (lambda: expect.schema("abc"), "columns"),
    ],
)
def test_bad_declarations_name_the_field(build: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build()
    assert caught.value.field == field


SUITE_YAML = """\
# a suite as people write it
expectations:
  - kind: schema
    columns: [id, age, plan]
    types: {age: numeric, joined: datetime}
  - kind: not_null
    column: id
  - kind: in_range
    column: age
    min: 0
    max: 120
    severity: warning
  - {kind: in_range, column: joined, min: 2020-01-01}
  - kind: in_set
    column: plan
    values: [free, pro, "team ✓"]
  - {kind: unique, column: id}
  - {kind: matches, column: id, pattern: 'u-\\d+: "x"'}
  - {kind: row_count, min: 1}
  - {kind: fresh, column: joined, max_age: 2 days 12h}
  - {kind: max_outliers, column: age, max_share: 0.05, method: mad}
  - {kind: max_cardinality, column: plan, max: 10}
"""


def _every_kind() -> list[Expectation]:
    return [
        expect.schema(["id", "age", "plan"], exact=True, types={"age": "numeric"}),
        expect.not_null("id", 0.25, severity="warning"),
        expect.in_range("age", 0, 120.5, inclusive=False),
        expect.in_range("joined", "2020-01-01T00:00:00+02:00", None),
        expect.in_range("score", -np.inf, 0),
        expect.in_set("plan", ["free", 2, 2.5, False, "ünï 'quoted' \"x\""]),
        expect.unique("id"),
        expect.matches("id", r"^u-\d+: [a-z]{2,}$|#.*"),
        expect.row_count(1, 1_000_000_000),
        expect.fresh("joined", dt.timedelta(days=2, hours=12, seconds=0.25)),
        expect.max_outliers("age", 0.05, "mad", severity="warning"),
        expect.max_cardinality("plan", 10),
    ]


def test_yaml_round_trip_keeps_every_kind(tmp_path: Path) -> None:
    suite = _every_kind()
    text = dump_expectations(suite)
    assert text.startswith("format: modelyard.expectations/1\n")
    assert load_expectations(text) == suite
    path = tmp_path / "rules.yaml"
    assert dump_expectations(suite, path) == path.read_text(encoding="utf-8")
    assert load_expectations(path) == suite and load_expectations(str(path)) == suite
    assert load_expectations([rule.to_dict() for rule in suite]) == suite


def test_yaml_as_people_write_it() -> None:
    suite = load_expectations(SUITE_YAML)
    assert [rule.kind for rule in suite] == [
        "schema", "not_null", "in_range", "in_range", "in_set", "unique", "matches",
        "row_count", "fresh", "max_outliers", "max_cardinality",
    ]  # fmt: skip
    schema, _, age, joined, plan, *_ = suite
    assert isinstance(schema, Schema) and schema.required == ("id", "age", "plan", "joined")
    assert isinstance(age, InRange) and age.severity == "warning" and age.max == 120
    assert isinstance(joined, InRange) and joined.min == "2020-01-01" and joined.max is None
    assert isinstance(plan, InSet) and plan.values == ("free", "pro", "team ✓")
    fresh = suite[8]
    assert isinstance(fresh, Fresh) and fresh.max_age == dt.timedelta(days=2, hours=12)
    assert isinstance(suite[9], MaxOutliers) and suite[9].method == "mad"
    assert isinstance(suite[5], Unique)
    assert load_expectations("[{kind: unique, column: id}]") == [expect.unique("id")]
    assert load_expectations("expectations: []") == []


@pytest.mark.parametrize(
    ("text", "message", "field"),
    [
        (
            "- {kind: unique, column: a}\n- {kind: nope, column: a}",
            r"expectation 2 \(line 2, nope 'a'\): unknown kind 'nope'; kinds are schema, ",
            "kind",
        ),
        (
            "- {kind: not_null}",
            r"expectation 1 \(line 1, not_null\): missing field 'column'",
            "column",
        ),
        (
            "- kind: not_null\n  column: a\n  severity: fatal",
            r"\(line 1, not_null 'a'\): severity must be 'warning' or 'critical'; got 'fatal'",
            "severity",
        ),
        (
            "- {kind: not_null, column: a, max_share: lots}",
            r"max_share must be a number from 0 to 1; got 'lots'",
            "max_share",
        ),
        (
            "- {kind: in_set, column: a, values: x}",
            r"values must be a list of allowed values; got 'x'",
            "values",
        ),
        ("- {kind: schema, columns: a}", r"columns must be a list of column names", "columns"),
        ("- {kind: row_count, min: 1.5}", r"min must be a non-negative integer", "min"),
        (
            "- {kind: not_null, column: a, maximum: 1}",
            r"unknown field 'maximum' for not_null; its fields are column, max_share, severity",
            "maximum",
        ),
        ("- {kind: not_null, column: [a]}", r"column must be a non-empty string", "column"),
        (
            "- {kind: fresh, column: t, max_age: soon}",
            r"\(line 1, fresh 't'\): max_age must be a duration",
            "max_age",
        ),
        (
            "- just text",
            r"expectation 1 \(line 1\): an expectation must be a mapping with a 'kind'",
            None,
        ),
        (
            "format: other/1\nexpectations: []",
            r"format must be 'modelyard.expectations/1'",
            "format",
        ),
        ("rules: []", r"unknown top-level key 'rules'", "rules"),
        ("- {kind: [unique}", r"expectations is not valid YAML at line 1, column \d+", None),
        ("42", r"expectations must be a list of mappings, each with a 'kind'; got int", None),
        ("missing.yaml", r"no expectations file 'missing.yaml'", "path"),
    ],
)
def test_yaml_mistakes_name_the_entry_and_field(text: str, message: str, field: str | None) -> None:
    with pytest.raises((InvalidInput, NotFound), match=message) as caught:
        load_expectations(text)
    assert caught.value.field == field


def test_dump_refuses_what_is_not_an_expectation() -> None:
    with pytest.raises(InvalidInput, match="suite item 2 is a dict"):
        dump_expectations([expect.unique("a"), {"kind": "unique"}])  # type: ignore[list-item]


# -- suggestions ----------------------------------------------------------------------------


def test_suggestions_from_a_real_profile_hold_on_the_rest_of_the_data(
    bikeshare: pd.DataFrame,
) -> None:
    shuffled = bikeshare.sample(frac=1.0, random_state=7).reset_index(drop=True)
    shuffled.insert(0, "ride", [f"r-{i:05d}" for i in range(len(shuffled))])
    reference, current = shuffled.iloc[:4300], shuffled.iloc[4300:]
    suite = suggest_expectations(profile(reference))
    assert load_expectations(dump_expectations(suite)) == suite
    by_kind: dict[str, list[Expectation]] = {}
    for rule in suite:
        by_kind.setdefault(rule.kind, []).append(rule)
    schema = by_kind["schema"][0]
    assert isinstance(schema, Schema) and schema.columns == tuple(shuffled.columns)
    assert schema.types["casual"] == "numeric" and schema.types["mnth"] == "string"
    assert {rule.column for rule in by_kind["not_null"]} == set(shuffled.columns)  # type: ignore[attr-defined]
    assert [rule.column for rule in by_kind["unique"]] == ["ride"]  # type: ignore[attr-defined]
    sets = {rule.column: set(rule.values) for rule in by_kind["in_set"]}  # type: ignore[attr-defined]
    assert sets["weathersit"] <= {"clear", "cloudy/misty", "light rain/snow", "heavy rain/snow"}
    assert len(sets["mnth"]) == 12 and "ride" not in sets
    ranges = {rule.column: rule for rule in by_kind["in_range"] if isinstance(rule, InRange)}
    assert ranges["bikers"].min == 0 and isinstance(ranges["bikers"].max, int)
    assert ranges["bikers"].max >= reference["bikers"].max() and ranges["hr"].severity == "warning"
    assert "ride" not in ranges and "casual" in {r.column for r in by_kind["max_outliers"]}  # type: ignore[attr-defined]
    (rows,) = by_kind["row_count"]
    assert isinstance(rows, RowCount) and rows.min == 3870 and rows.max == 4730
    report = validate(current, suite)
    assert report.ok, report.summary()
    broken = current.assign(
        ride=current["ride"].where(current.index % 100 != 0, "r-00000"),
        weathersit=current["weathersit"].replace("clear", "sunny"),
        temp=current["temp"].where(current.index % 50 != 0, None),
        bikers=current["bikers"] * 10,
    ).drop(columns=["hum"])
    failed = validate(broken, suite)
    critical = {(result.kind, result.column) for result in failed.critical_failures}
    assert critical == {
        ("schema", None),
        ("not_null", "hum"),
        ("not_null", "temp"),
        ("unique", "ride"),
    }
    warned = {(result.kind, result.column) for result in failed.warnings}
    assert {("in_set", "weathersit"), ("in_range", "bikers"), ("max_outliers", "hum")} <= warned


def test_suggestions_for_other_column_kinds() -> None:
    frame = pd.DataFrame(
        {
            "city": [f"c{i % 40}" for i in range(400)],
            "flag": [True, False] * 200,
            "empty": [None] * 400,
            "x": np.linspace(-1.0, 1.0, 400),
            "some_null": [1.0, None] * 200,
        }
    )
    suite = suggest_expectations(frame, margin=0.5, max_set_size=10)
    kinds = {(rule.kind, rule.target) for rule in suite}
    assert ("max_cardinality", "city") in kinds and ("in_set", "city") not in kinds
    assert not any(target == "flag" for kind, target in kinds if kind == "in_set")
    assert not any(target == "empty" for _, target in kinds)
    assert ("not_null", "some_null") not in kinds
    (cities,) = [rule for rule in suite if rule.kind == "max_cardinality"]
    assert cities.max == 60  # type: ignore[attr-defined]
    (x_range,) = [rule for rule in suite if isinstance(rule, InRange)][:1]
    assert (x_range.min, x_range.max) == (-2.0, 2.0)
    with pytest.raises(InvalidInput, match="margin"):
        suggest_expectations(frame, margin=-1)


def test_suggested_bounds_are_round_numbers_that_hold_the_reference() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "weight": rng.normal(12.345678912, 0.5, 300),
            "share": [0.1 + 0.2] * 300,  # 0.30000000000000004
            "count": rng.integers(0, 12_345, 300),
            "spiky": np.r_[rng.normal(0, 1, 290), rng.normal(0, 30, 10)],
        }
    )
    suite = suggest_expectations(frame)
    ranges = {rule.column: rule for rule in suite if isinstance(rule, InRange)}
    for name, rule in ranges.items():
        assert rule.min <= frame[name].min() and rule.max >= frame[name].max()
    assert (ranges["weight"].min, ranges["weight"].max) == (10.6, 14.2)
    assert (ranges["share"].min, ranges["share"].max) == (0.2, 0.4)
    assert (ranges["count"].min, ranges["count"].max) == (0, 14_000)
    assert (ranges["spiky"].min, ranges["spiky"].max) == (-62.0, 45.0)
    outliers = {rule.column: rule.max_share for rule in suite if isinstance(rule, MaxOutliers)}
    assert outliers["spiky"] == 0.074
    text = dump_expectations(suite)
    assert "0000000" not in text and "9999999" not in text
    assert re.search(r"\d\.\d{4,}", text) is None, text
