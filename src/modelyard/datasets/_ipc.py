"""Arrow IPC streams written a record batch at a time (how a dataset version's rows
travel between the SDK and the server, ``application/vnd.apache.arrow.stream``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ARROW_STREAM", "ipc_chunks"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"


def ipc_chunks(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    """``batches`` as one Arrow IPC stream of ``schema``: one chunk of bytes per batch
    (dictionaries that change between batches are sent again), then the end marker."""
    import pyarrow as pa

    sink = _Sink()
    with pa.ipc.new_stream(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            yield sink.take()
    yield sink.take()


class _Sink:
    """A file-like object that keeps what the IPC writer writes until it is taken."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data
