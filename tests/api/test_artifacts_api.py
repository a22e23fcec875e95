"""Artifacts through the API: traversal in every spelling is refused and nothing lands
outside the artifact store; tar uploads must be clean trees; streams round-trip."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from blake3 import blake3

from modelyard.config import Settings

OCTETS = {"Content-Type": "application/octet-stream"}
TAR = {"Content-Type": "application/x-tar"}


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """Artifact paths are checked before the metadata store is touched: SQLite only."""
    return f"sqlite:///{tmp_path / 'store' / 'modelyard.db'}"


# Raw query strings, sent as they are (not re-encoded by the client).
TRAVERSALS = [
    "../escape.txt",
    "a/../../escape.txt",
    "%2e%2e/escape.txt",
    "%2e%2e%2fescape.txt",
    "%252e%252e/escape.txt",
    "%25252e%25252e%25252fescape.txt",
    "..%5cescape.txt",
    "a%5c..%5c..%5cescape.txt",
    "/etc/escape.txt",
    "%2fetc%2fescape.txt",
    "C:%5cescape.txt",
    "a%00b.txt",
    "%00",
    "",
    ".",
    "%EF%BC%8E%EF%BC%8E/escape.txt",
]


def _files_outside(root: Path, inside: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and not p.is_relative_to(inside)}


@pytest.mark.parametrize("raw", TRAVERSALS)
def test_traversal_is_refused_everywhere(
    api: httpx.Client, run_id: str, settings: Settings, tmp_path: Path, raw: str
) -> None:
    before = _files_outside(tmp_path, settings.home)
    base = f"/runs/{run_id}/artifacts"
    put = api.put(f"{base}/content?path={raw}", content=b"pwned", headers=OCTETS)
    assert 400 <= put.status_code < 500, put.text
    assert put.json()["error"]["field"] in {"path", "url"}
    for url in (f"{base}/content?path={raw}", f"{base}/info?path={raw}"):
        answer = api.get(url)
        assert 400 <= answer.status_code < 500 and "pwned" not in answer.text
    assert api.get(base).json()["items"] == []
    assert _files_outside(tmp_path, settings.home) == before
    assert not list(tmp_path.parent.rglob("escape.txt"))


@pytest.mark.parametrize(
    "name",
    [
        "evil%E2%80%AEgnp.exe",
        "reports%E2%88%95model.pkl",
        "a%E2%81%84b",
        "CON",
        "nul.txt",
        "x/Lpt1",
    ],
)
def test_names_that_mislead_are_refused_by_the_api(
    api: httpx.Client, run_id: str, name: str
) -> None:
    base = f"/runs/{run_id}/artifacts"
    put = api.put(f"{base}/content?path={name}", content=b"x", headers=OCTETS)
    assert put.status_code == 422 and put.json()["error"]["field"] == "path", put.text
    archive = _tar((f"tree/{unquote(name)}", None, b"x"))  # as a member of a folder
    put = api.put(f"{base}/content", params={"path": "tree"}, content=archive, headers=TAR)
    assert put.status_code == 422, put.text
    assert api.get(base).json()["items"] == []


def _tar(*members: tuple[str, bytes | None, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind is None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.type = kind
                info.linkname = data.decode()
                tar.addfile(info)
    return buf.getvalue()


@pytest.mark.parametrize(
    "archive",
    [
        _tar(("../evil.txt", None, b"x")),
        _tar(("/abs/evil.txt", None, b"x")),
        _tar(("a\\..\\evil.txt", None, b"x")),
        _tar(("link", tarfile.SYMTYPE, b"/etc/passwd")),
        _tar(("hard", tarfile.LNKTYPE, b"../../etc/passwd")),
        _tar(("fifo", tarfile.FIFOTYPE, b"")),
        _tar(("a.txt", None, b"1"), ("./a.txt", None, b"2")),
        _tar(("a", None, b"1"), ("a/b.txt", None, b"2")),
        b"not a tar at all" * 64,
        _tar(("a.txt", None, b"hello"))[:700],
    ],
    ids=[
        "dotdot",
        "absolute",
        "backslash",
        "symlink",
        "hardlink",
        "fifo",
        "duplicate",
        "file-and-folder",
        "garbage",
        "truncated",
    ],
)
def test_bad_tar_uploads_are_refused(
    api: httpx.Client, run_id: str, settings: Settings, tmp_path: Path, archive: bytes
) -> None:
    before = _files_outside(tmp_path, settings.home)
    url = f"/runs/{run_id}/artifacts/content"
    answer = api.put(url, params={"path": "tree"}, content=archive, headers=TAR)
    assert answer.status_code == 422, answer.text
    assert api.get(f"/runs/{run_id}/artifacts").json()["items"] == []
    assert _files_outside(tmp_path, settings.home) == before


def test_file_and_tree_round_trip(api: httpx.Client, run_id: str) -> None:
    url = f"/runs/{run_id}/artifacts/content"
    data = bytes(range(256)) * 5000
    put = api.put(url, params={"path": "model/weights.bin"}, content=data, headers=OCTETS)
    assert put.status_code == 201
    assert put.json()["digest"] == blake3(data).hexdigest()
    got = api.get(url, params={"path": "model/weights.bin"})
    assert got.content == data and got.headers["etag"] == f'"{blake3(data).hexdigest()}"'
    assert got.headers["x-modelyard-kind"] == "file"

    archive = _tar(
        ("sub", tarfile.DIRTYPE, b""), ("b.txt", None, b"beta"), ("sub/a.txt", None, b"alpha")
    )
    put = api.put(url, params={"path": "reports"}, content=archive, headers=TAR)
    assert put.status_code == 201 and put.json()["kind"] == "tree"
    assert put.json()["size"] == 9
    got = api.get(url, params={"path": "reports"})
    assert got.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(got.content), mode="r|") as tar:
        files = {m.name: (tar.extractfile(m).read(), m.pax_headers) for m in tar}  # type: ignore[union-attr]
    assert {k: v[0] for k, v in files.items()} == {"b.txt": b"beta", "sub/a.txt": b"alpha"}
    assert files["b.txt"][1]["MODELYARD.blake3"] == blake3(b"beta").hexdigest()
    info = api.get(f"/runs/{run_id}/artifacts/info", params={"path": "reports"}).json()
    assert info["kind"] == "tree" and info["digest"] == put.json()["digest"]


def test_upload_to_an_unknown_run_is_404(api: httpx.Client) -> None:
    url = f"/runs/{'e' * 32}/artifacts/content"
    assert api.put(url, params={"path": "a"}, content=b"x", headers=OCTETS).status_code == 404


def test_a_streamed_upload_is_not_held_in_memory(api: httpx.Client, run_id: str) -> None:
    chunk = b"z" * (1024 * 1024)

    def body():
        for _ in range(48):
            yield chunk

    url = f"/runs/{run_id}/artifacts/content"
    answer = api.put(url, params={"path": "big.bin"}, content=body(), headers=OCTETS)
    assert answer.status_code == 201 and answer.json()["size"] == 48 * len(chunk)
    total = 0
    with api.stream("GET", url, params={"path": "big.bin"}) as got:
        for piece in got.iter_bytes():
            total += len(piece)
    assert total == 48 * len(chunk)
