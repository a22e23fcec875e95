"""Malformed uploads: every route that takes a body that is not JSON (an artifact as a
file or a tar, a dataset version as an Arrow IPC stream) answers a cut, corrupt or
wrong-type body with a 4xx in the one error shape, and leaves no staging or temp file
behind: not in the upload folder, not in the artifact store's, not in the system's."""

from __future__ import annotations

import gzip
import io
import socket
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from blake3 import blake3

from modelyard.config import Settings

OCTETS = "application/octet-stream"
TAR = "application/x-tar"
ARROW = "application/vnd.apache.arrow.stream"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """Bodies are refused before the metadata store matters: SQLite only."""
    return f"sqlite:///{tmp_path / 'store' / 'modelyard.db'}"


@pytest.fixture
def temp_dirs(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[Path]]:
    """The folders where an upload may stage bytes: the server's upload folder, the
    artifact store's staging folder and the system temp folder (a fresh one for this
    test: the server runs in this process)."""
    system = tmp_path / "system-tmp"
    system.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system))
    yield [settings.home / "tmp", Path(settings.artifacts_uri) / "tmp", system]


def _left_in(folders: list[Path]) -> list[Path]:
    return sorted(
        p for folder in folders if folder.exists() for p in folder.rglob("*") if not p.is_dir()
    )


def _tar(*members: tuple[str, bytes], pax: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if pax is not None:
                info.pax_headers = pax
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _ustar(*members: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _gnu_long_name(length: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("d/" * (length // 2))
        info.size = 5
        tar.addfile(info, io.BytesIO(b"alpha"))
    return buf.getvalue()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("a.txt", b"alpha")
    return buf.getvalue()


def _table() -> pa.Table:
    return pa.table({"x": list(range(1000)), "y": [f"v{i}" for i in range(1000)]})


def _arrow_stream() -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, _table().schema) as writer:
        writer.write_table(_table(), max_chunksize=250)
    return sink.getvalue()


def _arrow_file() -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_file(sink, _table().schema) as writer:
        writer.write_table(_table())
    return sink.getvalue()


def _parquet() -> bytes:
    sink = io.BytesIO()
    pq.write_table(_table(), sink)
    return sink.getvalue()


def _set_size(archive: bytes, size: bytes) -> bytes:
    """The first ustar header with its size field replaced (and its checksum fixed)."""
    header = bytearray(archive[:512])
    header[124:136] = size
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header) + archive[512:]


def _corrupt_pax(length: bytes) -> bytes:
    """A tar whose member has a digest record, with the record's length replaced."""
    archive = _tar(("a.txt", b"alpha"), pax={"MODELYARD.blake3": blake3(b"alpha").hexdigest()})
    assert archive[512:515] == b"85 "  # the record, right after the extended header
    return archive[:512] + length + archive[514:]


BIG = bytes(range(256)) * 40  # 10 KiB: a member that spans many blocks
GOOD_TAR = _tar(("a.txt", b"alpha"), ("big.bin", BIG))
GOOD_USTAR = _ustar(("a.txt", b"alpha"), ("big.bin", BIG))
BAD_TARS = {
    "empty": b"",
    "one-byte": b"\0",
    "cut-in-first-header": GOOD_TAR[:100],
    "cut-after-first-header": GOOD_TAR[:512],
    "cut-in-pax-record": GOOD_TAR[:700],
    "cut-in-member-data": GOOD_TAR[: GOOD_TAR.index(BIG[:64]) + 3000],
    "cut-in-member-data-ustar": GOOD_USTAR[: GOOD_USTAR.index(BIG[:64]) + 3000],
    "cut-in-second-header": GOOD_USTAR[: 1024 + 100],
    "header-checksum": _flip(GOOD_USTAR, 10),
    "checksum-field": _flip(GOOD_USTAR, 150),
    "size-field-garbage": _set_size(GOOD_USTAR, b"zzzzzzzzzzz\0"),
    "size-field-huge": _set_size(GOOD_USTAR, b"77777777777\0"),
    "size-field-base256-negative": _set_size(GOOD_USTAR, b"\xff" * 12),
    "pax-length-garbage": _corrupt_pax(b"99999"),
    "pax-length-zero": _corrupt_pax(b"00000"),
    "pax-digest-wrong": _tar(("a.txt", b"alpha"), pax={"MODELYARD.blake3": "0" * 64}),
    "pax-digest-garbage": _tar(("a.txt", b"alpha"), pax={"MODELYARD.blake3": "not a digest"}),
    "pax-header-over-1-mib": _tar(("a.txt", b"alpha"), pax={"comment": "x" * (1 << 20)}),
    "gnu-long-name-over-1-mib": _gnu_long_name(1 << 20),
    "random": bytes(blake3(b"seed").digest(length=8192)),
    "gzip-tar": gzip.compress(GOOD_TAR),
    "zip": _zip(),
    "json": b'{"a": 1}',
    "arrow-stream": _arrow_stream(),
    "text": b"hello world\n" * 100,
}
BAD_ARROW = {
    "empty": b"",
    "one-byte": b"\xff",
    "continuation-only": b"\xff\xff\xff\xff",
    "cut-in-schema": _arrow_stream()[:40],
    "cut-after-schema": _arrow_stream()[: len(_arrow_stream()) // 8],
    "cut-in-batch": _arrow_stream()[: len(_arrow_stream()) // 2],
    "cut-in-last-batch": _arrow_stream()[:-100],
    "flipped-in-schema": _flip(_arrow_stream(), 20),
    "flipped-in-metadata": _flip(_arrow_stream(), 200),
    "flipped-in-batch": _flip(_arrow_stream(), len(_arrow_stream()) // 2),
    "huge-message-length": b"\xff\xff\xff\xff" + b"\xff\xff\xff\x7f" + b"\0" * 64,
    "negative-message-length": b"\xff\xff\xff\xff" + b"\x00\x00\x00\x80" + b"\0" * 64,
    "random": bytes(blake3(b"seed").digest(length=8192)),
    "arrow-file": _arrow_file(),
    "parquet": _parquet(),
    "csv": b"x,y\n1,a\n2,b\n",
    "json": b'{"x": [1, 2]}',
    "tar": GOOD_TAR,
    "gzip": gzip.compress(_arrow_stream()),
}


def _assert_refused(answer: httpx.Response) -> None:
    assert 400 <= answer.status_code < 500, answer.text
    error = answer.json()["error"]
    assert set(error) == {"code", "message", "field"} and error["message"]


@pytest.mark.parametrize("name", sorted(BAD_TARS))
def test_a_bad_tar_upload_is_refused_and_leaves_nothing(
    api: httpx.Client, run_id: str, temp_dirs: list[Path], name: str
) -> None:
    url = f"/runs/{run_id}/artifacts/content"
    answer = api.put(
        url, params={"path": "tree"}, content=BAD_TARS[name], headers={"Content-Type": TAR}
    )
    _assert_refused(answer)
    assert answer.json()["error"]["field"] == "body"
    assert api.get(f"/runs/{run_id}/artifacts").json()["items"] == []
    assert _left_in(temp_dirs) == []


@pytest.mark.parametrize("name", sorted(BAD_ARROW))
def test_a_bad_arrow_upload_is_refused_and_leaves_nothing(
    api: httpx.Client, temp_dirs: list[Path], name: str
) -> None:
    answer = api.post(
        "/projects/p/datasets/d/versions",
        content=BAD_ARROW[name],
        headers={"Content-Type": ARROW},
    )
    _assert_refused(answer)
    assert answer.status_code == 422 and answer.json()["error"]["field"] in {"body", "data"}
    assert api.get("/projects/p/datasets/d/versions").status_code == 404
    assert _left_in(temp_dirs) == []


def test_good_uploads_of_each_type_are_stored_and_leave_nothing(
    api: httpx.Client, run_id: str, temp_dirs: list[Path]
) -> None:
    """The control: the same checks pass for bodies that are fine."""
    url = f"/runs/{run_id}/artifacts/content"
    for path, body, content_type in (("a.bin", BIG, OCTETS), ("tree", GOOD_TAR, TAR)):
        answer = api.put(
            url, params={"path": path}, content=body, headers={"Content-Type": content_type}
        )
        assert answer.status_code == 201, answer.text
    answer = api.post(
        "/projects/p/datasets/d/versions", content=_arrow_stream(), headers={"Content-Type": ARROW}
    )
    assert answer.status_code == 201, answer.text
    assert _left_in(temp_dirs) == []


WRONG_TYPES = ["application/json", "text/plain", "application/zip", "application/gzip", ""]


@pytest.mark.parametrize("content_type", WRONG_TYPES)
def test_a_body_of_the_wrong_type_is_415_everywhere(
    api: httpx.Client, run_id: str, temp_dirs: list[Path], content_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    for method, url, params in (
        ("PUT", f"/runs/{run_id}/artifacts/content", {"path": "a"}),
        ("POST", "/projects/p/datasets/d/versions", {}),
    ):
        answer = api.request(method, url, params=params, content=b"x" * 100, headers=headers)
        _assert_refused(answer)
        assert answer.status_code == 415 and answer.json()["error"]["field"] == "content-type"
    assert api.get(f"/runs/{run_id}/artifacts").json()["items"] == []
    assert _left_in(temp_dirs) == []


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("PUT", "/runs/{run_id}/artifacts/content?path=a.bin", OCTETS),
        ("PUT", "/runs/{run_id}/artifacts/content?path=tree", TAR),
        ("POST", "/projects/p/datasets/d/versions", ARROW),
    ],
    ids=["file", "tar", "arrow"],
)
def test_a_body_cut_short_by_the_client_leaves_nothing(
    api: httpx.Client,
    run_id: str,
    temp_dirs: list[Path],
    method: str,
    path: str,
    content_type: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = str(api.base_url).rstrip("/")
    auth = api.headers["Authorization"]
    parts = urlsplit(base)
    head = (
        f"{method} {parts.path}{path.format(run_id=run_id)} HTTP/1.1\r\n"
        f"Host: {parts.hostname}:{parts.port}\r\nAuthorization: {auth}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {64 * 1024}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode() + b"z" * 1024)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert not answer.startswith(b"HTTP/1.1 5"), answer
    deadline = time.monotonic() + 10
    while _left_in(temp_dirs) and time.monotonic() < deadline:  # the handler ends after
        time.sleep(0.05)
    assert _left_in(temp_dirs) == []
    assert api.get(f"/runs/{run_id}/artifacts").json()["items"] == []
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
