"""CSV files read as a stream of record batches, with type widening and clear errors.

Column types are inferred from the first block (``CSV_BLOCK_BYTES``) of the first file and
then apply to every file; when a later value does not fit (``1.5`` in a column inferred
as integers), the read raises :class:`WidenColumn` and the caller starts again with that
column widened (integer to float to string; null to the value's type). Text that is not
UTF-8 (without an ``encoding``) is reported with the file, byte offset and line.

One streaming reader parses on one core. A large uncompressed UTF-8 file is therefore
read in the streaming reader's blocks, and while they hold no quote character (so every
line end ends a row) the blocks after the first are parsed in a pool of threads, in order,
with the first block's types (:func:`_parallel_blocks`); the rows, types, digest and
errors are the same as from one reader, which takes over from the first block with a
quote.

Small files of a directory that start with the first file's header line are read through
one reader (:func:`read_joined`): the header once, then each file's rows. Opening a
reader costs more than parsing a 1 KiB file, and the rows, types and so the digest are
the same; an error in the joined text is traced back to its file by reading the files
one at a time.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa

from modelyard.datasets.digest import canonical_schema, conform, type_spec
from modelyard.errors import InvalidInput

__all__ = [
    "CSV_BLOCK_BYTES",
    "JOIN_BYTES",
    "PARALLEL_BYTES",
    "WidenColumn",
    "check_columns",
    "csv_format",
    "first_line",
    "header_line",
    "open_csv",
    "read_joined",
]

#: Bytes of CSV text parsed per block; the first block of a file decides its column types.
CSV_BLOCK_BYTES = 1024 * 1024
#: Files of a directory up to this size may be read through one joined reader.
JOIN_BYTES = 1024 * 1024
#: Uncompressed UTF-8 files of at least this size are parsed in parallel blocks.
PARALLEL_BYTES = 8 * CSV_BLOCK_BYTES

_CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}
_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to ([^:]+): invalid value '(.*)'",
    re.DOTALL,
)


class WidenColumn(Exception):
    """A CSV value does not fit its column's inferred type: read again with ``type``."""

    def __init__(self, column: str, data_type: pa.DataType) -> None:
        super().__init__(column)
        self.column = column
        self.type = data_type


def csv_format(path: Path) -> tuple[str, str | None] | None:
    """(delimiter, compression) for a CSV file name, None for anything else."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    compression = _COMPRESSION.get(suffixes[-1]) if suffixes else None
    if compression is not None:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _CSV_SUFFIXES:
        return _CSV_SUFFIXES[suffixes[-1]], compression
    return None


class _Guarded(io.RawIOBase):
    """A raw binary file that pyarrow reads from its own I/O thread; subclasses fill a
    buffer in ``_fill`` and close what they read from in ``_release``. A read and closing
    exclude each other, and a read after closing finds the end: closing a file while
    pyarrow's read-ahead is inside a read would free the descriptor, and the next file
    opened would get it and lose the bytes that read then takes."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with self._lock:
            return 0 if self._done else self._fill(memoryview(buffer).cast("B"))

    def _fill(self, buffer: memoryview) -> int:
        """Fill ``buffer``, return the byte count (0: the end); nothing here."""
        return 0

    def _release(self) -> None:
        """Close what the file reads from (once, with no read in progress); nothing here."""

    def close(self) -> None:
        with self._lock:
            if not self._done:
                self._done = True
                self._release()
        super().close()


class _Counting(_Guarded):
    """A file that reports how many bytes were read from it (until ``muted``)."""

    def __init__(self, raw: io.RawIOBase | io.BufferedReader, advance: Callable[[int], None]):
        super().__init__()
        self._raw = raw
        self._advance = advance
        self.count = 0
        self.muted = False

    def _fill(self, buffer: memoryview) -> int:
        n = self._raw.readinto(buffer) or 0
        if n and not self.muted:
            self.count += n
            self._advance(n)
        return n

    def _release(self) -> None:
        self._raw.close()


def open_csv(
    path: Path,
    fmt: tuple[str, str | None],
    expected: pa.Schema | None,
    encoding: str | None,
    csv_types: dict[str, pa.DataType],
    advance: Callable[[int], None],
    in_blocks: bool = True,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The canonical schema and batches of one CSV file; with ``in_blocks``, a large
    uncompressed UTF-8 file is parsed in parallel blocks (see :func:`_parallel_blocks`)."""
    import pyarrow.csv as pcsv

    delimiter, compression = fmt
    types = dict(csv_types)
    if expected is not None:
        types = {f.name: f.type for f in expected} | types
    raw = _Counting(open(path, "rb", buffering=0), advance)  # noqa: SIM115 - closed below
    stream: Any = raw
    if compression is not None:
        stream = pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), compression)
    # One thread: a parse error then names its row (the threaded reader counts no rows),
    # and parsing costs less CPU; large files are parsed in parallel blocks instead.
    read = pcsv.ReadOptions(
        block_size=CSV_BLOCK_BYTES, encoding=encoding or "utf8", use_threads=False
    )
    parse = pcsv.ParseOptions(delimiter=delimiter)
    convert = pcsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    try:
        reader = pcsv.open_csv(
            stream, read_options=read, parse_options=parse, convert_options=convert
        )
    except UnicodeDecodeError:
        raw.close()
        raise _not_utf8(path, compression) from None
    except (pa.ArrowException, LookupError) as exc:
        raw.close()
        header = _csv_header(path, compression, delimiter, encoding)
        forced = pa.schema([(name, types.get(name, pa.large_string())) for name in header])
        raise _csv_error(path, compression, exc, forced) from None
    except BaseException:
        raw.close()
        raise
    check_columns(reader.schema.names, repr(str(path)))
    if encoding is None and any(pa.types.is_binary(f.type) for f in reader.schema):
        raw.close()
        raise _not_utf8(path, compression)
    schema = canonical_schema(reader.schema)
    in_blocks = (
        in_blocks
        and compression is None
        and (encoding or "utf8").replace("-", "").lower() == "utf8"
        and path.stat().st_size >= PARALLEL_BYTES
        and _workers() > 1
    )

    def next_batch() -> pa.RecordBatch | None:
        try:
            return reader.read_next_batch()
        except StopIteration:
            return None
        except pa.ArrowException as exc:
            raise _csv_error(path, compression, exc, reader.schema) from None

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            first = next_batch()
            if first is None:
                return
            yield conform(first, schema)
            if in_blocks:
                blocks = _parallel_blocks(
                    path, delimiter, reader.schema, schema, first, raw, advance
                )
                if blocks is not None:
                    yield from blocks
                    return
            while (batch := next_batch()) is not None:
                yield conform(batch, schema)
        finally:
            raw.close()

    return schema, batches()


def _workers() -> int:
    return min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _last_newline(data: bytes) -> int:
    return max(data.rfind(b"\n"), data.rfind(b"\r"))


def _parallel_blocks(
    path: Path,
    delimiter: str,
    inferred: pa.Schema,
    schema: pa.Schema,
    first: pa.RecordBatch,
    raw: _Counting,
    advance: Callable[[int], None],
) -> Iterator[pa.RecordBatch] | None:
    """The batches after ``first`` (the streaming reader's first batch) parsed a block at a
    time in a pool of threads and yielded in file order; None (read on serially) unless the
    first block, cut after its last line end, parses to exactly ``first``.

    The streaming reader reads ``CSV_BLOCK_BYTES`` at a time and parses the rows that end
    in each read, carrying the rest into the next. While the text holds no quote character
    every line end ends a row, so each read cut after its last line end is a whole number
    of rows and parses alone, with the first block's types, to the same values and errors.
    From the first read that holds a quote (a quoted value may hold a line end) or no line
    end (a row longer than a block), the rest of the file goes through a streaming reader
    that sees the same reads from the same state (see :class:`_Resumed`).
    """
    import pyarrow.csv as pcsv

    with open(path, "rb") as file:
        head = file.read(CSV_BLOCK_BYTES)
    cut = _last_newline(head) + 1
    if cut == 0 or b'"' in head:
        return None
    types = {f.name: f.type for f in inferred}
    try:
        check = _parse_block(head[:cut], pcsv.ParseOptions(delimiter=delimiter), types, None)
    except pa.ArrowException:
        return None
    if not check.equals(pa.Table.from_batches([first])):
        return None
    raw.muted = True
    return _blocks(path, cut, head[cut:], delimiter, inferred, schema, raw.count, advance)


def _parse_block(
    block: bytes, parse: Any, types: dict[str, pa.DataType], names: list[str] | None
) -> pa.Table:
    """One block of CSV text parsed in one go (``names``: the text has no header line)."""
    import pyarrow.csv as pcsv

    read = pcsv.ReadOptions(column_names=names, block_size=len(block) + 1, use_threads=False)
    convert = pcsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    return pcsv.read_csv(
        pa.BufferReader(block), read_options=read, parse_options=parse, convert_options=convert
    )


def _blocks(
    path: Path,
    start: int,
    carry: bytes,
    delimiter: str,
    inferred: pa.Schema,
    schema: pa.Schema,
    reported: int,
    advance: Callable[[int], None],
) -> Iterator[pa.RecordBatch]:
    """The rows of ``path`` from byte ``start`` on, where ``carry`` (the text after the first
    block's last line end) was read already; ``reported`` bytes were counted already."""
    import pyarrow.csv as pcsv

    parse = pcsv.ParseOptions(delimiter=delimiter)
    types = {f.name: f.type for f in schema}
    workers = _workers()
    pending: deque[Future[pa.Table]] = deque()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="modelyard-csv")
    position = start + len(carry)

    def collect() -> Iterator[pa.RecordBatch]:
        try:
            table = pending.popleft().result()
        except pa.ArrowException as exc:
            raise _block_error(path, delimiter, exc, inferred) from None
        for batch in table.to_batches():
            yield conform(batch, schema)

    def count(n: int) -> None:
        nonlocal position, reported
        position += n
        if position > reported:
            advance(position - reported)
            reported = position

    try:
        with open(path, "rb") as file:
            file.seek(position)
            while True:
                data = file.read(CSV_BLOCK_BYTES)
                count(len(data))
                end = _last_newline(data) + 1
                if data and (end == 0 or b'"' in data):
                    while pending:
                        yield from collect()
                    resumed = _Resumed(carry, data, file, count)
                    yield from _read_on(path, resumed, parse, inferred, schema)
                    return
                block, carry = (carry + data[:end], data[end:]) if data else (carry, b"")
                if block.strip(b"\r\n"):
                    pending.append(pool.submit(_parse_block, block, parse, types, schema.names))
                while len(pending) > 2 * workers or (pending and not data):
                    yield from collect()
                if not data:
                    return
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)


class _Resumed(_Guarded):
    """The rest of a file as the streaming reader would go on reading it: first the text
    after the last line end it parsed (``carry``, returned as one short read), then the
    read that stopped the blocks (``data``), then reads of ``CSV_BLOCK_BYTES``. Closing it
    leaves ``file`` open (its owner closes it)."""

    def __init__(
        self, carry: bytes, data: bytes, file: io.BufferedReader, count: Callable[[int], None]
    ) -> None:
        super().__init__()
        self._queued = [piece for piece in (carry, data) if piece]
        self._file = file
        self._count = count

    def _fill(self, buffer: memoryview) -> int:
        if self._queued:
            piece = self._queued[0]
            n = min(len(piece), len(buffer))
            buffer[:n] = piece[:n]
            self._queued[0] = piece[n:]
            if not self._queued[0]:
                self._queued.pop(0)
            return n
        n = self._file.readinto(buffer) or 0
        self._count(n)
        return n


def _read_on(
    path: Path, resumed: _Resumed, parse: Any, inferred: pa.Schema, schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """The batches of a streaming reader over ``resumed``, with the file's types."""
    import pyarrow.csv as pcsv

    read = pcsv.ReadOptions(
        block_size=CSV_BLOCK_BYTES, column_names=inferred.names, use_threads=False
    )
    convert = pcsv.ConvertOptions(
        column_types={f.name: f.type for f in inferred}, strings_can_be_null=True
    )
    try:
        reader = pcsv.open_csv(
            resumed, read_options=read, parse_options=parse, convert_options=convert
        )
        for batch in reader:
            yield conform(batch, schema)
    except pa.ArrowException as exc:
        raise _block_error(path, parse.delimiter, exc, inferred) from None
    finally:
        resumed.close()


def _block_error(path: Path, delimiter: str, exc: pa.ArrowException, types: pa.Schema) -> Exception:
    """The error for a part of the file that did not parse: a value that needs a wider (or
    no) type is reported as by the streaming reader; anything else (a row with too many
    columns) is the streaming reader's error for the whole file, with its row number."""
    error = _csv_error(path, None, exc, types)
    if _CONVERSION.search(str(exc)) or "invalid UTF8" in str(exc):
        return error
    column_types = {f.name: f.type for f in types}
    _, batches = open_csv(path, (delimiter, None), None, None, column_types, _ignore, False)
    try:
        for _ in batches:
            pass
    except InvalidInput as serial:
        return serial
    return error


def _ignore(n: int) -> None:
    """A progress callback that reports nowhere."""


def header_line(path: Path) -> bytes | None:
    """The first line of an uncompressed CSV file, line end included, if other files can
    be joined under it: it ends within the first block and has no quotes (a quoted name
    may hold a line break)."""
    with open(path, "rb") as file:
        head = file.read(CSV_BLOCK_BYTES)
    end = head.find(b"\n")
    if end < 0 or b'"' in head[:end]:
        return None
    return head[: end + 1]


#: A file with more quote characters is read alone rather than scanned for an open quote.
_JOIN_QUOTES = 1_000


def _ends_quoted(body: bytes, delimiter: bytes) -> bool:
    """Whether ``body`` ends inside a quoted value, as pyarrow's reader sees it (a quote
    opens a value only at its start, ``""`` inside one is a quote): read alone, such a file
    ends the value at its end; joined, the value would run on into the next file."""
    quoted = False
    at = body.find(b'"')
    while at >= 0:
        if quoted:
            if body[at + 1 : at + 2] == b'"':
                at = body.find(b'"', at + 2)
                continue
            quoted = False
        elif at == 0 or body[at - 1 : at] in (delimiter, b"\n", b"\r"):
            quoted = True
        at = body.find(b'"', at + 1)
    return quoted


class _Joined(io.RawIOBase):
    """The header once, then the rows of each file that starts with it, as one text; stops
    before the first file that does not, or that ends inside a quoted value or has many
    quotes. Each file is read whole (they are small)."""

    def __init__(
        self,
        header: bytes,
        delimiter: str,
        files: Sequence[Path],
        advance: Callable[[int], None],
    ):
        super().__init__()
        self._header = header
        self._delimiter = delimiter.encode()
        self._files = files
        self._advance = advance
        self._pending = memoryview(header)
        self.joined: list[Path] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if not self._pending and not self._next():
                break
            n = min(len(self._pending), len(view) - filled)
            view[filled : filled + n] = self._pending[:n]
            self._pending = self._pending[n:]
            filled += n
        return filled

    def _next(self) -> bool:
        if len(self.joined) == len(self._files):
            return False
        path = self._files[len(self.joined)]
        with open(path, "rb") as file:
            data = file.read()
        if data.startswith(self._header):
            body = data[len(self._header) :]
        elif data == self._header.rstrip(b"\r\n"):
            body = b""
        else:
            return False
        quotes = body.count(b'"')
        if quotes and (quotes > _JOIN_QUOTES or _ends_quoted(body, self._delimiter)):
            return False
        self.joined.append(path)
        self._advance(len(data))
        self._pending = memoryview(body if body.endswith(b"\n") or not body else body + b"\n")
        return True


def read_joined(
    files: Sequence[Path],
    header: bytes,
    delimiter: str,
    schema: pa.Schema,
    csv_types: dict[str, pa.DataType],
    advance: Callable[[int], None],
) -> Generator[pa.RecordBatch, None, int]:
    """The rows of the leading ``files`` that start with ``header`` (the first line of the
    file that gave ``schema``), read as one uncompressed UTF-8 CSV text; returns how many
    files were read (0 when the first one starts otherwise)."""
    import pyarrow.csv as pcsv

    types = {f.name: f.type for f in schema} | csv_types
    joined = _Joined(header, delimiter, files, advance)
    read = pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES)
    parse = pcsv.ParseOptions(delimiter=delimiter)
    convert = pcsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    try:
        reader = pcsv.open_csv(
            joined, read_options=read, parse_options=parse, convert_options=convert
        )
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return len(joined.joined)
            yield conform(batch, schema)
    except pa.ArrowException as exc:
        raise _joined_error(exc, joined.joined, delimiter, schema, csv_types) from None


def _joined_error(
    exc: pa.ArrowException,
    files: list[Path],
    delimiter: str,
    schema: pa.Schema,
    csv_types: dict[str, pa.DataType],
) -> Exception:
    """A value that needs a wider type is a WidenColumn as for one file; anything else is
    the error of the first file that fails when read on its own."""
    if files and _CONVERSION.search(str(exc)):
        error = _csv_error(files[0], None, exc, schema)
        if isinstance(error, WidenColumn):
            return error
    for path in files:
        _, batches = open_csv(path, (delimiter, None), schema, None, csv_types, lambda n: None)
        for _ in batches:
            pass
    where = f"{str(files[0])!r} to {str(files[-1])!r}" if files else "of the directory"
    return InvalidInput(f"cannot read the CSV files {where}: {first_line(exc)}", field="path")


def _csv_header(
    path: Path, compression: str | None, delimiter: str, encoding: str | None
) -> list[str]:
    """The column names on the first line (to name a column in an error), or []."""
    import csv

    try:
        with pa.input_stream(str(path), compression=compression) as stream:
            head = stream.read(1 << 20)
        text = head.decode(encoding or "utf-8", errors="replace")
        return next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    except (pa.ArrowException, OSError, LookupError, csv.Error):
        return []


def _csv_error(
    path: Path, compression: str | None, exc: BaseException, types: pa.Schema
) -> Exception:
    message = first_line(exc)
    if "invalid UTF8" in message:
        return _not_utf8(path, compression)
    match = _CONVERSION.search(str(exc))
    if match is not None and int(match.group(1)) < len(types):
        index, value = int(match.group(1)), match.group(3)
        column = types.field(index)
        wider = _wider(column.type, value)
        if wider is not None:
            return WidenColumn(column.name, wider)
        return InvalidInput(
            f"CSV file {str(path)!r}: column {column.name!r} holds {value!r}, which is not "
            f"{type_spec(column.type)} like the rest of the column",
            field=column.name,
        )
    if isinstance(exc, LookupError):
        return InvalidInput(message, field="encoding")  # "unknown encoding: NAME"
    if "Empty CSV file" in message:
        return InvalidInput(f"CSV file {str(path)!r} is empty: no header and no rows", field="path")
    return InvalidInput(f"cannot read CSV file {str(path)!r}: {message}", field="path")


def _wider(current: pa.DataType, value: str) -> pa.DataType | None:
    """The next type up for a column whose ``value`` did not convert to ``current``."""
    if pa.types.is_null(current):
        for parse, wider in ((int, pa.int64()), (float, pa.float64())):
            try:
                parse(value)
                return wider
            except ValueError:
                continue
        return pa.large_string()
    if pa.types.is_integer(current):
        try:
            float(value)
            return pa.float64()
        except ValueError:
            return pa.large_string()
    if pa.types.is_string(current) or pa.types.is_large_string(current):
        return None
    return pa.large_string()


def _not_utf8(path: Path, compression: str | None) -> InvalidInput:
    offset, line = _first_invalid_utf8(path, compression)
    where = f" at byte offset {offset} (line {line})" if offset is not None else ""
    return InvalidInput(
        f"CSV file {str(path)!r} is not valid UTF-8{where}; give its encoding, "
        "e.g. encoding='latin-1' (--encoding latin-1 on the command line)",
        field="encoding",
    )


def _first_invalid_utf8(path: Path, compression: str | None) -> tuple[int | None, int | None]:
    """Byte offset (in the uncompressed text) and line of the first byte that is not UTF-8."""
    stream: Any = pa.input_stream(str(path), compression=compression)
    base = 0
    lines = 1
    pending = b""
    with stream:
        while True:
            chunk = stream.read(1 << 20)
            data = pending + chunk
            if not data:
                return None, None
            try:
                data.decode("utf-8")
                pending = b""
            except UnicodeDecodeError as exc:
                if chunk and exc.reason == "unexpected end of data":
                    pending = data[exc.start :]
                    data = data[: exc.start]
                else:
                    return base + exc.start, lines + data.count(b"\n", 0, exc.start)
            base += len(data)
            lines += data.count(b"\n")
            if not chunk:
                return None, None


def check_columns(names: list[str], where: str) -> None:
    if not names:
        raise InvalidInput(f"{where} has no columns")
    duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicated:
        raise InvalidInput(
            f"{where} has duplicate column names: {', '.join(map(repr, duplicated))}; "
            "every column needs its own name",
            field=duplicated[0],
        )


def first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
