"""The content digest depends on the values, never on the layout they arrived in."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelyard.datasets._describe import describe
from modelyard.datasets.digest import canonical_schema, digest_of, type_spec


def _frame(rows: int = 5_000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "x": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(size=rows).round(6)),
            "city": pd.Series(rng.choice(["oslo", "lima", "pune", None], rows), dtype=object),
            "n": rng.integers(0, 50, rows),
        }
    )


def _digest(data: object) -> str:
    return describe(data, profile=False).digest


def test_csv_directory_parquet_and_frame_have_one_digest(tmp_path: Path) -> None:
    frame = _frame()
    frame.to_csv(tmp_path / "one.csv", index=False)
    parts = tmp_path / "parts"
    parts.mkdir()
    for number, start in enumerate(range(0, len(frame), 1_300)):
        frame.iloc[start : start + 1_300].to_csv(parts / f"p{number:02d}.csv", index=False)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, tmp_path / "small-groups.parquet", row_group_size=333)
    pq.write_table(table, tmp_path / "one-group.parquet")
    nested = tmp_path / "nested"
    (nested / "b").mkdir(parents=True)
    pq.write_table(table.slice(0, 2_000), nested / "a.parquet")
    pq.write_table(table.slice(2_000), nested / "b" / "c.parquet", row_group_size=100)

    expected = _digest(frame)
    assert _digest(tmp_path / "one.csv") == expected
    assert _digest(parts) == expected
    assert _digest(tmp_path / "small-groups.parquet") == expected
    assert _digest(tmp_path / "one-group.parquet") == expected
    assert _digest(nested) == expected
    assert _digest(table) == expected
    assert _digest(table.to_batches(max_chunksize=77)) == expected
    assert _digest(pa.RecordBatchReader.from_batches(table.schema, table.to_batches(500))) == (
        expected
    )


def _close(left: object, right: object) -> bool:
    """Equal; floats to 1e-12 relative (batching changes the rounding of sums)."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_close(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_close, left, right))
    if isinstance(left, float) and isinstance(right, float):
        return left == pytest.approx(right, rel=1e-12, abs=1e-12)
    return left == right


def test_one_file_and_200_small_files_give_one_digest_and_profile(tmp_path: Path) -> None:
    frame = _frame(10_000)
    frame.to_csv(tmp_path / "one.csv", index=False)
    parts = tmp_path / "parts"
    for number, start in enumerate(range(0, len(frame), 50)):
        folder = parts / f"f{number // 64}"
        folder.mkdir(parents=True, exist_ok=True)
        frame.iloc[start : start + 50].to_csv(folder / f"p{number:03d}.csv", index=False)
    assert len(list(parts.rglob("*.csv"))) == 200

    whole = describe(tmp_path / "one.csv")
    split = describe(parts)
    assert split.digest == whole.digest == _digest(frame)
    assert split.num_rows == whole.num_rows == 10_000
    assert whole.profile is not None and split.profile is not None
    for ours, theirs in zip(split.profile.columns, whole.profile.columns, strict=True):
        exact = ("count", "missing", "min", "max", "distinct", "quantiles", "histogram", "top")
        for name in exact:
            assert getattr(ours, name) == getattr(theirs, name), (ours.name, name)
    assert _close(split.profile.to_dict(), whole.profile.to_dict())


def test_any_change_changes_the_digest() -> None:
    frame = _frame(200)
    base = _digest(frame)
    changed_value = frame.copy()
    changed_value.loc[17, "n"] += 1
    swapped = frame.iloc[[1, 0, *range(2, len(frame))]]
    retyped = frame.astype({"n": "int32"})
    renamed = frame.rename(columns={"n": "m"})
    reordered = frame[["x", "id", "city", "n"]]
    null_added = frame.copy()
    null_added.loc[frame["city"].first_valid_index(), "city"] = None
    fewer = frame.iloc[:-1]
    variants = [changed_value, swapped, retyped, renamed, reordered, null_added, fewer]
    digests = {_digest(v) for v in variants}
    assert base not in digests
    assert len(digests) == len(variants)


def test_nullability_is_part_of_the_digest() -> None:
    table = pa.table({"a": [1, 2, 3]})
    required = table.cast(pa.schema([pa.field("a", pa.int64(), nullable=False)]))
    assert digest_of(table) != digest_of(required)


def test_string_widths_views_and_dictionary_indices_do_not_matter() -> None:
    values = ["a", None, "bc", "a"]
    small = pa.table({"s": pa.array(values, pa.string())})
    large = pa.table({"s": pa.array(values, pa.large_string())})
    assert digest_of(small) == digest_of(large)
    dict8 = pa.table(
        {"s": pa.array(values).dictionary_encode().cast(pa.dictionary(pa.int8(), pa.string()))}
    )
    dict32 = pa.table({"s": pa.array(values).dictionary_encode()})
    assert digest_of(dict8) == digest_of(dict32)
    assert digest_of(dict32) != digest_of(small)  # categorical is a type of its own


def test_what_lies_under_nulls_does_not_matter() -> None:
    validity = pa.py_buffer(np.packbits([1, 0, 1], bitorder="little").tobytes())
    junk = pa.Array.from_buffers(
        pa.int64(), 3, [validity, pa.py_buffer(np.array([5, 999, 7], dtype=np.int64).tobytes())]
    )
    clean = pa.array([5, None, 7], pa.int64())
    assert digest_of(pa.table({"a": junk})) == digest_of(pa.table({"a": clean}))


def test_every_nan_is_the_same_nan() -> None:
    other_nan = np.array([0x7FF8000000000001], dtype=np.uint64).view(np.float64)
    assert math.isnan(other_nan[0])
    a = pa.table({"x": pa.array([1.0, float("nan")])})
    b = pa.table({"x": pa.array([1.0, other_nan[0]])})
    assert digest_of(a) == digest_of(b)


def test_nested_columns_are_chunking_independent() -> None:
    table = pa.table(
        {
            "l": pa.array([[1, 2], None, [], [3]]),
            "s": pa.array([{"x": 1, "y": "a"}, None, {"x": 3, "y": None}, {"x": 4, "y": "d"}]),
            "m": pa.array([[("k", 1)], None, [], [("j", 2)]], pa.map_(pa.string(), pa.int64())),
            "b": pa.array([b"\x00", None, b"", b"zz"]),
            "t": pa.array([1, None, 3, 4], pa.timestamp("ms", tz="UTC")),
            "f": pa.array([True, None, False, True]),
        }
    )
    split = pa.concat_tables([table.slice(0, 1), table.slice(1, 2), table.slice(3)])
    assert digest_of(table) == digest_of(split)
    assert digest_of(table) != digest_of(table.slice(1))


def test_type_names_are_stable_and_readable() -> None:
    schema = canonical_schema(
        pa.schema(
            [
                ("s", pa.string()),
                ("t", pa.timestamp("ns", tz="UTC")),
                ("l", pa.list_(pa.field("element", pa.int32()))),
                ("c", pa.dictionary(pa.int8(), pa.string())),
            ]
        )
    )
    assert [type_spec(f.type) for f in schema] == [
        "string",
        "timestamp[ns, UTC]",
        "list<int32>",
        "dictionary<string>",
    ]


@pytest.mark.parametrize("rows", [1, 65_536, 65_537])
def test_batch_boundaries_do_not_matter(rows: int) -> None:
    table = pa.table({"a": np.arange(rows), "s": [str(i) for i in range(rows)]})
    assert digest_of(table) == digest_of(
        pa.concat_tables([table.slice(0, rows // 2), table.slice(rows // 2)])
    )
