"""Profiles agree with pandas and numpy: exactly on small data, within the sketches' bounds
on large data; every supported input gives the same profile; profiles round-trip JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelyard.data import ColumnProfile, Profile, profile
from modelyard.data._sketches import HLL_RELATIVE_ERROR
from modelyard.errors import InvalidInput, NotFound

PANDAS_QUANTILES = {"p1": 0.01, "p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}


def _diabetes() -> pd.DataFrame:
    """scikit-learn's bundled diabetes data (442 rows); sex recoded as text."""
    datasets = pytest.importorskip("sklearn.datasets")
    frame = datasets.load_diabetes(as_frame=True, scaled=False).frame
    return frame.assign(sex=frame["sex"].map({1.0: "f", 2.0: "m"}))


def _outliers(values: pd.Series) -> tuple[int, int | None]:
    q1, q3 = values.quantile([0.25, 0.75])
    iqr = q3 - q1
    by_iqr = int(((values < q1 - 1.5 * iqr) | (values > q3 + 1.5 * iqr)).sum())
    median = values.median()
    mad = (values - median).abs().median()
    by_mad = int(((values - median).abs() / (1.4826 * mad) > 3.5).sum()) if mad else None
    return by_iqr, by_mad


def test_numeric_columns_match_pandas_exactly_on_a_real_dataset() -> None:
    frame = _diabetes()
    result = profile(frame)
    assert result.rows == len(frame) == 442
    assert result.names == tuple(frame.columns)
    for name in frame.columns.drop("sex"):
        column, values = result[name], frame[name]
        assert column.kind == "numeric" and column.count == 442 and column.missing == 0
        assert column.distinct == values.nunique() and column.distinct_exact
        assert (column.min, column.max) == (values.min(), values.max())
        assert column.mean == pytest.approx(values.mean(), rel=1e-12)
        assert column.std == pytest.approx(values.std(), rel=1e-12)
        for key, probability in PANDAS_QUANTILES.items():
            assert column.quantiles is not None
            assert column.quantiles[key] == pytest.approx(values.quantile(probability), abs=1e-12)
        assert (column.outliers_iqr, column.outliers_mad) == _outliers(values)
        assert column.histogram is not None and sum(column.histogram.counts) == 442
        assert not column.constant and not column.id_like
        assert column.sketch is not None and column.sketch.rank_error == 0
    sex = result["sex"]
    assert sex.kind == "categorical" and sex.distinct == 2
    counts = frame["sex"].value_counts()
    assert [(item.value, item.count) for item in sex.top] == list(counts.items())
    assert sex.top[0].frequency == pytest.approx(counts.iloc[0] / 442)


def test_large_column_within_the_sketch_error() -> None:
    rng = np.random.default_rng(7)
    values = rng.gamma(2.0, 3.0, size=300_000)
    result = profile(pd.DataFrame({"x": values}), distinct_exact_limit=100_000)
    column = result["x"]
    assert column.sketch is not None
    bound = column.sketch.rank_error
    assert 0 < bound < 2e-4
    ordered = np.sort(values)
    assert column.quantiles is not None
    for key, probability in PANDAS_QUANTILES.items():
        rank = np.searchsorted(ordered, column.quantiles[key]) / values.size
        assert abs(rank - probability) <= bound + 1e-5
    assert column.mean == pytest.approx(values.mean(), rel=1e-12)
    assert column.std == pytest.approx(values.std(ddof=1), rel=1e-9)
    assert not column.distinct_exact
    assert abs(column.distinct / values.size - 1) < 3 * HLL_RELATIVE_ERROR
    by_iqr, by_mad = _outliers(pd.Series(values))
    assert abs(column.outliers_iqr - by_iqr) <= 2 * bound * values.size + 2
    assert by_mad is not None and column.outliers_mad is not None
    assert abs(column.outliers_mad - by_mad) <= 2 * bound * values.size + 2
    assert column.histogram is not None and sum(column.histogram.counts) == values.size
    exact, _ = np.histogram(values, bins=np.array(column.histogram.edges))
    assert np.abs(np.array(column.histogram.counts) - exact).max() <= 2 * bound * values.size


def test_categories_ids_constants_and_top_k() -> None:
    n = 5000
    frame = pd.DataFrame(
        {
            "id": [f"user-{i}" for i in range(n)],
            "number": np.arange(n),
            "same": ["x"] * n,
            "color": np.random.default_rng(8).permutation(
                np.repeat(["red", "green", "blue", "grey"], [2000, 1500, 1000, 500])
            ),
            "flag": np.arange(n) % 3 == 0,
            "category": pd.Categorical(np.array(["lo", "hi"])[np.arange(n) % 2]),
        }
    )
    result = profile(frame, top_k=2)
    assert result["id"].id_like and result["number"].id_like
    assert result["id"].distinct == n and not result["id"].constant
    assert result["same"].constant and result["same"].distinct == 1 and not result["same"].id_like
    color = result["color"]
    assert len(color.top) == 2
    counts = frame["color"].value_counts()
    assert [item.value for item in color.top] == list(counts.index[:2])
    assert color.frequencies is not None and color.frequencies.exact
    assert sum(color.frequencies.counts) + color.frequencies.other == n
    flag = result["flag"]
    assert flag.type == "boolean" and {item.value for item in flag.top} == {"true", "false"}
    assert result["category"].type == "categorical" and result["category"].distinct == 2


def test_high_cardinality_strings_are_estimated() -> None:
    ids = pa.array([f"order-{i:07d}" for i in range(200_000)])
    result = profile(pa.table({"order": ids}), distinct_exact_limit=50_000)
    column = result["order"]
    assert not column.distinct_exact
    assert abs(column.distinct / 200_000 - 1) < 3 * HLL_RELATIVE_ERROR
    assert column.id_like
    assert column.frequencies is not None and not column.frequencies.exact


def _batches(table: pa.Table) -> Iterator[pa.RecordBatch]:
    yield from table.to_batches(max_chunksize=1000)


def _same(left: object, right: object) -> bool:
    """Equal, floats to 1e-12 relative (batching changes the rounding of sums)."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, float) and isinstance(right, float):
        return left == pytest.approx(right, rel=1e-12, abs=1e-12)
    return left == right


def test_every_input_kind_gives_the_same_profile() -> None:
    frame = _diabetes()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    expected = profile(frame).to_dict()
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=100))
    inputs = (
        table,
        reader,
        _batches(table),
        table.to_batches(max_chunksize=50),
        table.to_batches()[0],
    )
    for data in inputs:
        assert _same(profile(data).to_dict(), expected)


def test_polars_frames_are_accepted() -> None:
    polars = pytest.importorskip("polars")
    frame = _diabetes()
    assert _same(profile(polars.from_pandas(frame)).to_dict(), profile(frame).to_dict())


def test_round_trip_through_json_keeps_every_number() -> None:
    frame = pd.DataFrame(
        {
            "x": [1.0, np.nan, np.inf, -np.inf, 2.0, 3.0],
            "huge": [1e308, -1e308, 1e308, 1.0, 2.0, 3.0],
            "s": ["a", None, "b", "a", "a", "c"],
            "t": pd.to_datetime(
                ["2024-01-01", None, "2024-01-02", "2024-01-03", "2024-01-03", "2024-02-01"]
            ),
            "nothing": [None] * 6,
        }
    )
    result = profile(frame, time_column="t")
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert Profile.from_dict(json.loads(text)) == result
    assert result["x"].missing == 1 and result["x"].infinite == 2
    assert result["x"].mean == pytest.approx(2.0) and result["x"].max == 3.0
    assert result["huge"].std is not None and not np.isfinite(result["huge"].std)
    assert result["t"].min == "2024-01-01" and result["t"].max == "2024-02-01"
    with pytest.raises(InvalidInput, match="not a stored profile"):
        Profile.from_dict({"rows": 1})
    broken = result.to_dict()
    broken["columns"][0]["count"] = "many"
    with pytest.raises(InvalidInput, match="malformed"):
        Profile.from_dict(broken)
    with pytest.raises(NotFound):
        result.column("absent")


# -- bad input (issue 4, item 8) -------------------------------------------------------------


def test_empty_frames() -> None:
    with pytest.raises(InvalidInput, match="no columns"):
        profile(pd.DataFrame())
    result = profile(pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype=str)}))
    assert result.rows == 0
    for column in result.columns:
        assert column.count == 0 and column.mean is None and column.quantiles is None
        assert column.top == () and column.constant
    with pytest.raises(InvalidInput, match="empty iterable"):
        profile(iter([]))


def test_all_null_columns_have_a_defined_profile() -> None:
    frame = pd.DataFrame({"none": [None, None], "nan": [np.nan, np.nan], "ok": [1, 2]})
    result = profile(frame)
    for name in ("none", "nan"):
        column = result[name]
        assert column.missing == column.count == 2 and column.present == 0
        assert column.constant and column.mean is None and column.histogram is None
    assert result["none"].type == "null"


def test_mixed_type_object_columns_are_named() -> None:
    frame = pd.DataFrame({"fine": [1, 2, 3], "mixed": [1, "two", 3.0]})
    with pytest.raises(
        InvalidInput, match=r"column 'mixed' mixes value types \(float, int, str\)"
    ) as caught:
        profile(frame)
    assert caught.value.field == "mixed"


def test_duplicate_column_names_are_rejected() -> None:
    frame = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    with pytest.raises(InvalidInput, match="duplicate column names: 'a'"):
        profile(frame)
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["x", "x"])
    with pytest.raises(InvalidInput, match="duplicate"):
        profile(table)


def test_a_single_row() -> None:
    column: ColumnProfile = profile(pd.DataFrame({"x": [4.5], "s": ["a"]}))["x"]
    assert column.mean == 4.5 and column.std is None
    assert column.quantiles == dict.fromkeys(["p1", "p5", "p25", "p50", "p75", "p95", "p99"], 4.5)
    assert column.outliers_iqr == 0 and column.outliers_mad is None and column.constant


def test_unsupported_inputs_and_arguments() -> None:
    with pytest.raises(InvalidInput, match="got list"):
        profile([1, 2, 3])
    with pytest.raises(InvalidInput, match="got str"):
        profile("data.csv")
    batches = [pa.record_batch({"a": [1]}), pa.record_batch({"a": ["x"]})]
    with pytest.raises(InvalidInput, match="record batch 1 has a different schema"):
        profile(batches)
    with pytest.raises(InvalidInput, match="top_k"):
        profile(pd.DataFrame({"a": [1]}), top_k=-1)
    with pytest.raises(InvalidInput, match="distinct_exact_limit"):
        profile(pd.DataFrame({"a": [1]}), distinct_exact_limit=1.5)  # type: ignore[arg-type]


def test_small_batches_are_combined_in_order() -> None:
    from modelyard.data._arrow import BATCH_ROWS, SMALL_BATCH_ROWS, coalesce

    ids = pa.array(np.arange(200_000, dtype=np.int64))
    table = pa.table({"id": ids, "s": pa.array([str(i % 7) for i in range(200_000)])})
    sizes = [32] * 3_000 + [SMALL_BATCH_ROWS] + [5] * 10 + [70_000, 1]
    batches, start = [], 0
    for size in sizes:
        batches.append(table.slice(start, size).to_batches()[0])
        start += size
    out = list(coalesce(batches))
    assert [b.num_rows for b in out] == [
        BATCH_ROWS,
        3_000 * 32 - BATCH_ROWS,
        SMALL_BATCH_ROWS,
        50,
        70_000,
        1,
    ]
    assert out[-2] is batches[-2]  # large batches pass through untouched
    assert pa.Table.from_batches(out).equals(table.slice(0, start))
    assert list(coalesce([])) == []
    none = pa.RecordBatch.from_pylist([], schema=table.schema)  # empty batches are dropped
    assert list(coalesce([none, none])) == []
    assert [b.num_rows for b in coalesce([none, batches[0], none, batches[1]])] == [64]


def test_profiles_of_tiny_and_whole_batches_agree() -> None:
    frame = _diabetes()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    expected = profile(table).to_dict()  # one batch of 442 rows, fed inline
    assert _same(profile(table.to_batches(max_chunksize=3)).to_dict(), expected)
    tall = pa.concat_tables([table] * 40)  # 17,680 rows: one batch, fed through the pool
    tall_expected = profile(tall).to_dict()
    assert _same(profile(tall.to_batches(max_chunksize=7)).to_dict(), tall_expected)
    assert _same(profile(iter(tall.to_batches(max_chunksize=9_000))).to_dict(), tall_expected)


def test_ascending_check_finds_any_step_down() -> None:
    from modelyard.data._accumulators import _ascending

    values = np.arange(10_000, dtype=np.float64)
    assert _ascending(values) and _ascending(values[:1]) and _ascending(values[:0])
    assert _ascending(np.array([-0.0, 0.0, -0.0, 1.0, 1.0]))  # equal values are in order
    swapped = values.copy()
    swapped[[5_001, 5_002]] = swapped[[5_002, 5_001]]  # between the sampled positions
    assert not _ascending(swapped)
    assert not _ascending(values[::-1].copy())


def test_sorted_input_and_batching_change_no_exact_figure() -> None:
    """Already-sorted batches skip the sort; batch sizes change only what the bounds allow."""
    rng = np.random.default_rng(8)
    n = 300_000
    ids = np.arange(n)  # sorted in every batch
    steps = np.sort(rng.integers(0, 500, n)).astype(np.float64)  # sorted, many repeats
    noisy = rng.normal(size=n).round(3)
    noisy[rng.choice(n, 50, replace=False)] = np.inf
    nulls = rng.random(n) < 0.01
    table = pa.table(
        {
            "id": ids,
            "steps": steps,
            "noisy": pa.array(noisy, mask=nulls),
            "shuffled_steps": rng.permutation(steps),
            "city": pa.array([f"c{i}" for i in rng.zipf(1.5, n) % 2_000], mask=nulls),
        }
    )
    profiles = [
        profile(table.to_batches(max_chunksize=size), distinct_exact_limit=n)
        for size in (n, 65_536, 40_000, 9_999)
    ]
    for name, values in (("id", ids), ("steps", steps), ("shuffled_steps", steps)):
        ordered = np.sort(values.astype(np.float64))
        for result in profiles:
            column = result[name]
            assert (column.count, column.missing, column.infinite) == (n, 0, 0)
            assert (column.min, column.max) == (ordered[0], ordered[-1])
            assert column.distinct == np.unique(values).size and column.distinct_exact
            assert column.mean == pytest.approx(values.mean(), rel=1e-12)
            assert column.sketch is not None and 0 < column.sketch.rank_error < 2e-4
            assert column.quantiles is not None
            for key, probability in PANDAS_QUANTILES.items():
                low = np.searchsorted(ordered, column.quantiles[key], side="left") / n
                high = np.searchsorted(ordered, column.quantiles[key], side="right") / n
                assert low - 1e-5 <= probability + column.sketch.rank_error
                assert high + 1e-5 >= probability - column.sketch.rank_error
    finite = noisy[~nulls & np.isfinite(noisy)]
    for result in profiles:
        column = result["noisy"]
        assert (column.count, column.missing) == (n, int(nulls.sum()))
        assert column.infinite == int(np.isinf(noisy[~nulls]).sum())
        assert (column.min, column.max) == (finite.min(), finite.max())
        assert column.distinct == np.unique(finite).size and column.distinct_exact
    cities = pd.Series(table.column("city").to_pylist()).value_counts()
    for result in profiles:
        column = result["city"]
        assert (column.missing, column.distinct) == (int(nulls.sum()), cities.size)
        assert column.frequencies is not None and column.frequencies.exact
        assert [(item.value, item.count) for item in column.top] == [
            (value, int(count))
            for value, count in sorted(cities.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        ]


def test_infinite_and_missing_counted_whatever_the_sum() -> None:
    """Finiteness is read off the batch sum: a finite sum proves every value finite, and an
    overflowing sum of finite values still counts nothing as infinite."""
    overflow = profile(pd.DataFrame({"x": [1e308, 1e308, -1e308, 1.0]}))["x"]
    assert (overflow.count, overflow.missing, overflow.infinite) == (4, 0, 0)
    assert (overflow.min, overflow.max, overflow.distinct) == (-1e308, 1e308, 3)
    mixed = profile(pd.DataFrame({"x": [np.inf, -np.inf, np.nan, 2.0, None, 3.0]}))["x"]
    assert (mixed.count, mixed.missing, mixed.infinite) == (6, 2, 2)
    assert (mixed.min, mixed.max, mixed.distinct) == (2.0, 3.0, 2)
    nothing_finite = profile(pd.DataFrame({"x": [np.inf, np.nan]}))["x"]
    assert (nothing_finite.missing, nothing_finite.infinite, nothing_finite.min) == (1, 1, None)
