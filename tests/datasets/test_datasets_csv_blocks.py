"""A large CSV file parsed in parallel blocks reads exactly as one streaming reader does."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pyarrow as pa
import pytest

import modelyard.datasets._csv as csv_module
from modelyard.datasets._csv import WidenColumn, open_csv
from modelyard.errors import InvalidInput


def _read(path: Path, in_blocks: bool, types: dict[str, pa.DataType] | None = None):
    """(table, None) or (None, the error's class and message)."""
    seen: list[int] = []
    try:
        schema, batches = open_csv(
            path, (",", None), None, None, types or {}, seen.append, in_blocks
        )
        table = pa.Table.from_batches(list(batches), schema=schema)
    except (InvalidInput, WidenColumn) as exc:
        return None, (type(exc).__name__, str(exc), getattr(exc, "type", None)), seen
    return table, None, seen


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Blocks of 96 bytes, every file parsed in blocks; counts the files read in blocks
    and those handed on to a streaming reader part-way."""
    monkeypatch.setattr(csv_module, "CSV_BLOCK_BYTES", 96)
    monkeypatch.setattr(csv_module, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(csv_module, "_workers", lambda: 3)
    used = {"_blocks": 0, "_read_on": 0}
    for name in used:
        real = getattr(csv_module, name)

        def counted(*args, _name=name, _real=real, **kwargs):
            used[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(csv_module, name, counted)
    return used


def test_a_plain_file_is_parsed_in_blocks_with_the_same_rows_types_and_progress(
    tmp_path: Path, small_blocks: dict[str, int]
) -> None:
    rows = "".join(f"{i},{i * 0.5},name {i % 7},2024-01-{1 + i % 28:02d}\n" for i in range(500))
    path = tmp_path / "plain.csv"
    path.write_text("id,x,name,day\n" + rows)
    serial, error, serial_progress = _read(path, in_blocks=False)
    blocks, error_b, progress = _read(path, in_blocks=True)
    assert error is None and error_b is None
    assert small_blocks == {"_blocks": 1, "_read_on": 0}
    assert blocks.num_rows == 500 and blocks.equals(serial)
    assert str(blocks.schema.field("day").type) == "date32[day]"
    assert sum(progress) == sum(serial_progress) == path.stat().st_size


def test_a_value_that_needs_a_wider_type_late_in_the_file_widens_the_column(
    tmp_path: Path, small_blocks: dict[str, int]
) -> None:
    path = tmp_path / "late.csv"
    path.write_text("a,b\n" + "".join(f"{i},x\n" for i in range(200)) + "1.5,y\n")
    for in_blocks in (False, True):
        table, error, _ = _read(path, in_blocks)
        assert table is None and error[0] == "WidenColumn" and error[2] == pa.float64()
    widened, error, _ = _read(path, True, {"a": pa.float64()})
    assert error is None and widened.column("a")[-1].as_py() == 1.5


def test_a_bad_row_late_in_the_file_gives_the_streaming_readers_error(
    tmp_path: Path, small_blocks: dict[str, int]
) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n" + "".join(f"{i},x\n" for i in range(200)) + "1,x,extra\n")
    serial = _read(path, in_blocks=False)[1]
    blocks = _read(path, in_blocks=True)[1]
    assert serial is not None and blocks == serial
    assert "Expected 2 columns, got 3" in blocks[1]


_TOKENS = [
    "1", "-7", "0x10", " 5", "2.5", "1e3", "inf", "NaN", "NA", "", "null", "x", "cat",
    '"quoted"', '"a,b"', '"line\nbreak"', '""', '"say ""hi"""', "true", "2024-02-03",
    "2024-02-03 04:05:06", "é", "9223372036854775808",
]  # fmt: skip


def _random_csv(rng: random.Random) -> str:
    """A small CSV text: without quotes half the time (read in parallel blocks to the end),
    now and then with rows longer than a block, empty lines, extra fields, CR line ends."""
    columns = rng.randint(1, 4)
    tokens = _TOKENS if rng.random() < 0.5 else [t for t in _TOKENS if '"' not in t]
    if rng.random() < 0.1:
        tokens = [*tokens, "y" * rng.randint(90, 300)]
    lines = [",".join(f"c{i}" for i in range(columns))]
    kinds = [rng.sample(tokens, rng.randint(1, 3)) for _ in range(columns)]
    for _ in range(rng.randint(0, 80)):
        roll = rng.random()
        if roll < 0.03:
            lines.append("")
        elif roll < 0.04:
            lines.append(",".join(rng.choice(tokens) for _ in range(columns + 1)))
        else:
            lines.append(",".join(rng.choice(kind) for kind in kinds))
    end = rng.choice(["\n", "\r\n", "\r"])
    return end.join(lines) + rng.choice([end, ""])


def test_random_files_read_in_blocks_exactly_as_serially(
    tmp_path: Path, small_blocks: dict[str, int]
) -> None:
    rng = random.Random(20261204)
    compared = 0
    for case in range(400):
        path = tmp_path / f"case{case}.csv"
        path.write_bytes(_random_csv(rng).encode())
        serial_table, serial_error, _ = _read(path, in_blocks=False)
        table, error, _ = _read(path, in_blocks=True)
        assert error == serial_error, path.read_text()
        if serial_table is not None:
            assert table.equals(serial_table), path.read_text()
            compared += 1
    assert compared > 100 and small_blocks["_blocks"] > 100 and small_blocks["_read_on"] > 10


class _Blocking:
    """A raw file whose reads wait for ``release``."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.reading = threading.Event()
        self.closed = False

    def readinto(self, buffer: memoryview) -> int:
        self.reading.set()
        self.release.wait(5)
        buffer[:1] = b"x"
        return 1

    def close(self) -> None:
        self.closed = True


def test_closing_a_file_waits_for_the_read_in_progress_and_later_reads_find_the_end() -> None:
    raw = _Blocking()
    counted = csv_module._Counting(raw, lambda n: None)  # type: ignore[arg-type]
    reader = threading.Thread(target=counted.read, args=(8,))
    reader.start()
    assert raw.reading.wait(5)
    closer = threading.Thread(target=counted.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive() and not raw.closed
    raw.release.set()
    reader.join(5)
    closer.join(5)
    assert raw.closed and counted.readinto(bytearray(8)) == 0
