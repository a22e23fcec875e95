"""The strict tar reader refuses an extended header (a PAX record block, a GNU long
name) larger than its bound before reading it: ``tarfile`` alone reads whatever size
the header announces into memory."""

from __future__ import annotations

import io
import tarfile

import pytest

from modelyard.artifacts._tar import MAX_EXTENDED_HEADER, read_tar
from modelyard.errors import InvalidInput


class _CountingStream(io.RawIOBase):
    """A stream of ``data`` then zeros up to ``length`` bytes, counting what is read."""

    def __init__(self, data: bytes, length: int) -> None:
        self._data = data
        self._length = length
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        size = min(len(buffer), self._length - self.position)
        start = self.position
        chunk = self._data[start : start + size]
        chunk += b"\0" * (size - len(chunk))
        buffer[:size] = chunk
        self.position += size
        return size


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
def test_an_extended_header_over_the_bound_is_refused_unread(kind: bytes) -> None:
    announced = 1 << 30  # 1 GiB of header, announced in the first block
    header = tarfile.TarInfo("././@LongHeader")
    header.type = kind
    header.size = announced
    stream = _CountingStream(header.tobuf(tarfile.USTAR_FORMAT), 512 + announced)
    with pytest.raises(InvalidInput, match=f"over {MAX_EXTENDED_HEADER}") as refused:
        list(read_tar(io.BufferedReader(stream)))
    assert refused.value.field == "body"
    assert stream.position < 1 << 20


def test_an_extended_header_within_the_bound_is_read() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("a.txt")
        info.size = 5
        info.pax_headers = {"comment": "x" * (MAX_EXTENDED_HEADER // 2)}
        tar.addfile(info, io.BytesIO(b"alpha"))
    buf.seek(0)
    assert [(path, stream.read()) for path, stream, _ in read_tar(buf)] == [("a.txt", b"alpha")]
