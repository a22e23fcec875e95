"""Reading inputs: formats, directories, CSV type widening, and clear errors for bad input."""

from __future__ import annotations

import gzip
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import modelyard.datasets._csv as sources
from modelyard.datasets._csv import read_joined
from modelyard.datasets._describe import describe
from modelyard.errors import InvalidInput, NotFound


def _describe(data: object, **kwargs: object) -> object:
    return describe(data, profile=False, **kwargs)  # type: ignore[arg-type]


def test_compressed_csv_and_tsv_read_like_plain_csv(tmp_path: Path) -> None:
    text = "a,b\n1,x\n2,y\n"
    (tmp_path / "plain.csv").write_text(text)
    (tmp_path / "packed.csv.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "tabs.tsv").write_text(text.replace(",", "\t"))
    digests = {
        describe(tmp_path / n, profile=False).digest
        for n in ("plain.csv", "packed.csv.gz", "tabs.tsv")
    }
    assert len(digests) == 1


def test_csv_types_widen_when_a_later_block_disagrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "CSV_BLOCK_BYTES", 64)
    rows = ["a,b,c"] + [f"{i},,true" for i in range(50)] + ["1.5,hello,maybe"]
    (tmp_path / "late.csv").write_text("\n".join(rows) + "\n")
    found = describe(tmp_path / "late.csv", profile=False)
    assert [(c.name, c.arrow_type) for c in found.columns] == [
        ("a", "double"),
        ("b", "string"),
        ("c", "string"),
    ]
    assert found.num_rows == 51


def test_csv_files_of_a_directory_share_and_widen_types(tmp_path: Path) -> None:
    (tmp_path / "1.csv").write_text("a,b\n1,x\n2,y\n")
    (tmp_path / "2.csv").write_text("a,b\n3.5,z\n")
    found = describe(tmp_path, profile=False)
    assert [c.arrow_type for c in found.columns] == ["double", "string"]
    single = tmp_path / "single"
    single.mkdir()
    (single / "all.csv").write_text("a,b\n1,x\n2,y\n3.5,z\n")
    assert describe(single, profile=False).digest == found.digest


def test_hidden_and_underscore_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a\n1\n")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".part.crc").write_text("x")
    assert describe(tmp_path, profile=False).num_rows == 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: pd.DataFrame({"a": []}), "empty: it has no rows"),
        (lambda p: pd.DataFrame(), "has no columns"),
        (lambda p: pd.DataFrame([[1, 2]], columns=["a", "a"]), "duplicate column names: 'a'"),
        (lambda p: pd.DataFrame({"a": [1, "x", 2.5]}), "mixes value types"),
        (lambda p: 42, "got int"),
    ],
)
def test_bad_frames_are_invalid_input(tmp_path: Path, make: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        _describe(make(tmp_path))  # type: ignore[operator]


def test_duplicate_csv_header_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "dup.csv").write_text("a,b,a\n1,2,3\n")
    with pytest.raises(InvalidInput, match=r"dup\.csv.*duplicate column names: 'a'"):
        _describe(tmp_path / "dup.csv")


def test_non_utf8_csv_names_the_file_and_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("city,n\nOslo,1\nZürich,2\n".encode("latin-1"))
    with pytest.raises(InvalidInput) as info:
        _describe(path)
    assert "latin.csv" in info.value.message
    assert "byte offset 15 (line 3)" in info.value.message
    assert "encoding=" in info.value.message
    found = describe(path, encoding="latin-1", profile=False)
    assert found.num_rows == 2


def test_non_utf8_late_in_a_csv_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "CSV_BLOCK_BYTES", 64)
    body = "".join(f"row{i},{i}\n" for i in range(40)).encode()
    path = tmp_path / "late.csv"
    path.write_bytes(b"name,n\n" + body + b"caf\xe9,1\n")
    with pytest.raises(InvalidInput, match=rf"byte offset {7 + len(body) + 3} \(line 42\)"):
        _describe(path)


def test_unsupported_files_and_empty_directories(tmp_path: Path) -> None:
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(InvalidInput, match=r"unsupported file type 'data\.json'"):
        _describe(tmp_path / "data.json")
    with pytest.raises(InvalidInput, match=r"neither CSV nor Parquet: data\.json"):
        _describe(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput, match="holds no data files"):
        _describe(empty)
    with pytest.raises(NotFound, match="no such file or directory"):
        _describe(tmp_path / "missing.csv")


def test_a_directory_with_mismatched_schemas_is_refused(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1], "b": ["x"]}), tmp_path / "1.parquet")
    pq.write_table(pa.table({"a": [1.5], "b": ["y"]}), tmp_path / "2.parquet")
    with pytest.raises(InvalidInput, match=r"column 'a' is double in .*2\.parquet.* but int64"):
        _describe(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "1.csv").write_text("a,b\n1,2\n")
    (other / "2.csv").write_text("a,c\n1,2\n")
    with pytest.raises(InvalidInput, match=r"lacks \['b'\] and has \['c'\]"):
        _describe(other)


def test_empty_and_broken_files_are_invalid_input(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InvalidInput, match="is empty"):
        _describe(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(InvalidInput, match="no rows"):
        _describe(tmp_path / "header.csv")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(InvalidInput, match=r"ragged\.csv.*Expected 2 columns, got 3"):
        _describe(tmp_path / "ragged.csv")
    (tmp_path / "fake.parquet").write_text("not parquet")
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        _describe(tmp_path / "fake.parquet")


def test_encoding_only_applies_to_csv(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="encoding applies to CSV files only"):
        describe(pd.DataFrame({"a": [1]}), encoding="latin-1")


def test_pandas_index_columns_in_parquet_are_dropped(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3]}, index=[10, 20, 30])
    frame.to_parquet(tmp_path / "indexed.parquet")
    found = describe(tmp_path / "indexed.parquet", profile=False)
    assert [c.name for c in found.columns] == ["a"]
    assert found.digest == describe(frame.reset_index(drop=True), profile=False).digest


def test_progress_reports_source_bytes(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(1000)))
    seen: list[tuple[int, int | None]] = []
    describe(path, profile=False, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)


def test_small_csv_files_read_joined_give_the_rows_of_each_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small files that start with the first file's header line are read through one
    reader; files that start otherwise, compressed ones and big ones are read alone, and
    the rows, types and digest are those of one file holding them all."""
    folder = tmp_path / "parts"
    folder.mkdir()
    texts = {
        "00.csv": "id,x,s\n0,1,a\n1,2,b\n",
        "01.csv": 'id,x,s\n2,3,c\n3,4,"d,e"',  # no final line break, a quoted comma
        "02.csv": "id,x,s",  # a header and no rows
        "03.csv": "id,x,s\n4,5,f\n",
        "04.csv": "id,x,s\r\n5,6,g\r\n",  # another line end: read alone, then joined again
        "05.csv": "id,x,s\n6,7.5,h\n",  # widens x from int64 to double
        "06.csv": "id,x,s\n7,8,\n8,,i\n",
        "08.csv": "id,x,s\n11,12,l\n",
    }
    for name, text in texts.items():
        (folder / name).write_text(text)
    with gzip.open(folder / "07.csv.gz", "wt") as handle:
        handle.write("id,x,s\n9,10,j\n10,11,k\n")
    rows = '0,1,a\n1,2,b\n2,3,c\n3,4,"d,e"\n4,5,f\n5,6,g\n6,7.5,h\n7,8,\n8,,i\n'
    rows += "9,10,j\n10,11,k\n11,12,l\n"
    (tmp_path / "all.csv").write_text("id,x,s\n" + rows)
    joined: list[list[str]] = []

    def spy(files: list[Path], *args: Any) -> Generator[pa.RecordBatch, None, int]:
        read = yield from read_joined(files, *args)
        joined.append([f.name for f in files[:read]])
        return read

    monkeypatch.setattr("modelyard.datasets._sources.read_joined", spy)
    seen: list[tuple[int, int | None]] = []
    found = describe(folder, profile=False, progress=lambda d, t: seen.append((d, t)))
    # the last pass (the first stopped at 05.csv to widen x): 04.csv and 07.csv.gz alone
    assert joined[-3:] == [["01.csv", "02.csv", "03.csv"], [], ["05.csv", "06.csv"]]
    assert [c.arrow_type for c in found.columns] == ["int64", "double", "string"]
    assert found.num_rows == 12
    assert found.digest == describe(tmp_path / "all.csv", profile=False).digest
    total = sum(f.stat().st_size for f in folder.iterdir())
    assert seen[-1] == (total, total)


def test_errors_in_joined_csv_files_name_the_file(tmp_path: Path) -> None:
    for number in range(6):
        (tmp_path / f"{number}.csv").write_text(f"a,b\n{number},x\n")
    (tmp_path / "3.csv").write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(InvalidInput, match=r"3\.csv.*Expected 2 columns, got 3"):
        _describe(tmp_path)
    (tmp_path / "3.csv").write_bytes(b"a,b\n1,\xff\n")
    with pytest.raises(InvalidInput, match=r"3\.csv.*not valid UTF-8 at byte offset 6"):
        _describe(tmp_path)
    (tmp_path / "3.csv").write_text("b,a\n1,x\n")
    with pytest.raises(InvalidInput, match=r"3\.csv.*columns are in another order"):
        _describe(tmp_path)
    (tmp_path / "3.csv").write_text("")
    with pytest.raises(InvalidInput, match=r"3\.csv.*is empty"):
        _describe(tmp_path)


def test_a_file_ending_inside_quotes_is_not_joined_with_the_next(tmp_path: Path) -> None:
    """Read alone, a file whose last value opens a quote ends the value at its end; joined,
    the value would swallow the next files' rows. Such a file is read alone."""
    texts = [
        "a,b\n0,z\n",
        'a,b\n1,"x\n',
        "a,b\n2,y\n",
        'a,b\n3,"q""r"\n',
        'a,b\n4,s"t\n5,"u\n',
        "a,b\n6,v\n",
    ]
    for number, text in enumerate(texts):
        (tmp_path / f"{number}.csv").write_text(text)
    found = describe(tmp_path, profile=False)
    assert found.num_rows == 7
    expected = pa.table({"a": list(range(7)), "b": ["z", "x\n", "y", 'q"r', 's"t', "u\n", "v"]})
    assert found.digest == describe(expected, profile=False).digest
