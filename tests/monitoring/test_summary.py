"""Window summaries: the summary of the union is the merge of the parts', the encoding
reads back, features missing from the log are counted, not fatal."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from modelyard.data._accumulators import CategoricalAccumulator, NumericAccumulator
from modelyard.errors import InvalidInput
from modelyard.monitoring._parts import Reference
from modelyard.monitoring.summary import (
    FORMAT_VERSION,
    MAGIC,
    Summarizer,
    Summary,
    distinct_count,
    load,
)

FEATURES = ("age", "plan", "spend")


def _log(rows: int, seed: int, *, classes: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, rows)
    age[rng.random(rows) < 0.05] = np.nan
    spend = rng.gamma(2.0, 30.0, rows)
    spend[:2] = [np.inf, -np.inf]
    plan = rng.choice(["basic", "pro", "team", None], rows, p=[0.5, 0.3, 0.15, 0.05])
    columns: dict[str, pa.Array] = {
        "prediction_id": pa.array([f"p{seed}-{i}" for i in range(rows)]),
        "input.age": pa.array(age),
        "input.plan": pa.array(plan.tolist(), pa.string()),
        "input.spend": pa.array(spend),
        "latency_ms": pa.array(rng.gamma(2.0, 3.0, rows)),
    }
    if classes:
        proba = rng.dirichlet([1, 1], rows)
        columns["output"] = pa.array((proba[:, 1] > 0.5).astype(np.int64))
        columns["output.proba"] = pa.array(proba.tolist(), pa.list_(pa.float64()))
    else:
        columns["output"] = pa.array(rng.normal(100, 20, rows))
    return pa.table(columns)


def _reference(task: str | None = None) -> Reference:
    return Reference("v1", "churn/1", FEATURES, task=task, classes=("no", "yes"))


def _numeric(summary: Summary, name: str) -> NumericAccumulator:
    column = summary.feature(name)
    assert isinstance(column, NumericAccumulator)
    return column


def _state(summary: Summary) -> dict[str, object]:
    """Everything a summary holds, in plain values, to compare two summaries."""
    state: dict[str, object] = {"rows": summary.rows, "absent": dict(summary.absent)}
    columns = {**summary.inputs, **{f"out:{k}": v for k, v in summary.outputs.items()}}
    columns["latency"] = summary.latency
    for name, column in columns.items():
        entry: dict[str, object] = {"count": column.count, "missing": column.missing}
        if isinstance(column, NumericAccumulator):
            values, weights = column.sketch.items()
            entry |= {
                "infinite": column.infinite,
                "n": column.moments.n,
                "mean": round(column.moments.mean, 9),
                "m2": round(column.moments.m2, 6),
                "min": column.moments.min,
                "max": column.moments.max,
                "values": values.tolist(),
                "weights": weights.tolist(),
            }
        elif isinstance(column, CategoricalAccumulator):
            entry |= {
                "frequencies": sorted(column.frequencies.most_common()),
                "distinct": distinct_count(column),
            }
        state[name] = entry
    return state


def test_summary_counts_rows_features_outputs_and_latency() -> None:
    table = _log(500, 1)
    summary = Summarizer().summarize(table, _reference())
    assert summary.rows == 500
    age = _numeric(summary, "age")
    ages = table.column("input.age").to_numpy()
    assert age.count == 500
    assert age.missing == int(np.isnan(ages).sum())
    assert age.moments.mean == pytest.approx(np.nanmean(ages))
    assert _numeric(summary, "spend").infinite == 2
    plan = summary.feature("plan")
    assert isinstance(plan, CategoricalAccumulator)
    expected = {
        k: v
        for k, v in zip(
            *np.unique(table.column("input.plan").drop_null(), return_counts=True), strict=True
        )
    }
    assert dict(plan.frequencies.most_common()) == expected
    assert plan.missing == table.column("input.plan").null_count
    assert distinct_count(plan) == len(expected)
    assert summary.outputs["output"].count == 500
    assert summary.latency.sketch.n == 500


def test_merge_equals_the_summary_of_the_union_exactly_for_small_data() -> None:
    parts = [_log(300, seed) for seed in (1, 2, 3)]
    summarizer = Summarizer()
    merged = summarizer.summarize(parts[2], _reference())
    merged.merge(summarizer.summarize(parts[0], _reference()))
    merged.merge(summarizer.summarize(parts[1], _reference()))
    whole = summarizer.summarize(pa.concat_tables(parts), _reference())
    assert _state(merged) == _state(whole)


def test_merge_of_large_data_is_within_the_sketch_error() -> None:
    summarizer = Summarizer()
    parts = [_log(20_000, seed) for seed in range(4)]
    merged = Summary()
    for part in parts:
        merged.merge(summarizer.summarize(part, _reference()))
    values = np.concatenate([part.column("input.spend").to_numpy() for part in parts])
    values = values[np.isfinite(values)]
    sketch = _numeric(merged, "spend").sketch
    assert not sketch.exact and 0 < sketch.rank_error < 0.01
    probabilities = np.array([0.01, 0.1, 0.5, 0.9, 0.99])
    estimated = sketch.quantiles(probabilities)
    ranks = np.searchsorted(np.sort(values), estimated) / values.size
    assert np.abs(ranks - probabilities).max() <= sketch.rank_error + 1e-3
    assert _numeric(merged, "spend").moments.n == values.size


def test_high_cardinality_categories_switch_to_estimates_and_still_merge() -> None:
    summarizer = Summarizer()
    reference = Reference("v1", "m/1", ("id",))
    first = pa.table({"input.id": pa.array([f"u{i}" for i in range(8000)])})
    second = pa.table({"input.id": pa.array([f"u{i}" for i in range(4000, 14000)])})
    merged = summarizer.summarize(first, reference).merge(summarizer.summarize(second, reference))
    column = merged.feature("id")
    assert isinstance(column, CategoricalAccumulator)
    assert not column.frequencies.exact
    assert distinct_count(column) == pytest.approx(14_000, rel=0.05)
    again = load(merged.to_bytes()).merge(summarizer.summarize(first, reference))
    assert distinct_count(again.feature("id")) == pytest.approx(14_000, rel=0.05)  # type: ignore[arg-type]


def test_encoding_round_trips() -> None:
    summarizer = Summarizer()
    summary = summarizer.summarize(_log(2000, 5, classes=True), _reference("classification"))
    summary.merge(summarizer.summarize(_log(50_000, 6, classes=True), _reference("classification")))
    data = summary.to_bytes()
    assert data[:4] == MAGIC
    assert b"pickle" not in data
    restored = summarizer.load(data)
    assert _state(restored) == _state(summary)
    assert restored.to_bytes() == data


def test_probability_outputs_get_one_sketch_per_class_and_labels_are_categories() -> None:
    table = _log(400, 7, classes=True)
    summary = Summarizer().summarize(table, _reference("classification"))
    assert set(summary.outputs) == {"output", "output.proba[no]", "output.proba[yes]"}
    labels = summary.outputs["output"]
    assert isinstance(labels, CategoricalAccumulator)
    assert sum(dict(labels.frequencies.most_common()).values()) == 400
    yes = summary.outputs["output.proba[yes]"]
    assert isinstance(yes, NumericAccumulator)
    assert yes.moments.mean == pytest.approx(
        np.mean([p[1] for p in table.column("output.proba").to_pylist()])
    )


def test_a_feature_missing_from_the_log_is_counted_not_fatal() -> None:
    table = _log(100, 8).drop_columns(["input.plan"])
    summary = Summarizer().summarize(table, _reference())
    assert summary.feature("plan") is None
    assert summary.absent == {"plan": 100}
    summary.merge(Summarizer().summarize(_log(50, 9), _reference()))
    assert summary.absent == {"plan": 100}
    assert summary.feature("plan") is not None
    assert load(summary.to_bytes()).absent == {"plan": 100}


def test_a_feature_logged_with_another_kind_counts_as_missing_when_merged() -> None:
    reference = Reference("v1", "m/1", ("x",))
    numbers = Summarizer().summarize(pa.table({"input.x": pa.array([1.0, 2.0])}), reference)
    text = Summarizer().summarize(pa.table({"input.x": pa.array(["a", None, "b"])}), reference)
    merged = numbers.merge(text)
    column = merged.feature("x")
    assert column is not None
    assert (column.count, column.missing) == (5, 3)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"nope",
        MAGIC + b"\x01\x00\xff\xff\xff\x00",
        pytest.param(None, id="newer format"),
        pytest.param(b"cut", id="cut short"),
    ],
)
def test_load_refuses_what_is_not_a_summary(data: bytes | None) -> None:
    summary = Summarizer().summarize(_log(20, 1), _reference()).to_bytes()
    if data is None:
        data = summary[:4] + (FORMAT_VERSION + 1).to_bytes(2, "little") + summary[6:]
    elif data == b"cut":
        data = summary[:-3]
    with pytest.raises(InvalidInput):
        load(data)


def test_merge_refuses_another_kind_of_summary() -> None:
    with pytest.raises(InvalidInput):
        Summary().merge(object())  # type: ignore[arg-type]


def test_many_merges_equal_the_union_and_leave_the_merged_summaries_unchanged() -> None:
    summarizer = Summarizer()
    parts = [_log(40, seed) for seed in range(70)]  # past the merges gathered before settling
    hours = [summarizer.summarize(part, _reference()) for part in parts]
    before = [_state(hour) for hour in hours]
    day = Summary()
    for hour in hours:
        day.merge(hour)
    assert _state(day) == _state(summarizer.summarize(pa.concat_tables(parts), _reference()))
    assert [_state(hour) for hour in hours] == before
    hours[0].merge(hours[1])  # a summary merged into another is still its own
    assert _state(day) == _state(summarizer.summarize(pa.concat_tables(parts), _reference()))
