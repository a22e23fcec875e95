"""Datasets over the server: Arrow IPC streams both ways, content addressing, aliases,
reports, lineage, roles, and bad bodies answered with 4xx (never 5xx)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pandas as pd
import pyarrow as pa
import pytest

import modelyard.datasets._csv as csv_reading
from modelyard import Client
from modelyard.config import Settings
from modelyard.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated
from modelyard.governance import SYSTEM, Governance
from modelyard.lineage.edges import DATASET_VERSION, INPUT, OUTPUT, RUN
from modelyard.store import open_store

ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}
VERSIONS = "/projects/p/datasets/d/versions"


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"id": range(1000), "city": ["oslo", None, "lima", "rome"] * 250, "t": [0.5] * 1000}
    )


def _remote(settings: Settings, url: str, token: str | None) -> Client:
    tracking = settings.tracking.model_copy(update={"uri": url, "token": token})
    return Client(settings.model_copy(update={"tracking": tracking}))


@pytest.fixture
def remote(embedded_settings: Settings, served: str, admin_token: str) -> Iterator[Client]:
    """The SDK through the server, signed in as a global administrator."""
    with _remote(embedded_settings, served, admin_token) as client:
        yield client


@pytest.fixture
def blobs(embedded_settings: Settings) -> Callable[[], set[str]]:
    """The digests in the server's artifact store."""

    def digests() -> set[str]:
        with Client(embedded_settings) as local:
            return set(local.blobs.iter_digests())

    return digests


@pytest.fixture
def user_token(embedded_settings: Settings) -> Iterator[Callable[[str], str]]:
    """``user_token(name)``: a new (non-admin) user and their access token."""
    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    governance = Governance(store)

    def make(username: str) -> str:
        governance.users.create_service_account(username, actor=SYSTEM)
        return governance.tokens.create(username, "t", actor=SYSTEM).secret

    yield make
    store.dispose()


def _ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=100)
    return sink.getvalue()


def test_register_and_load_back_through_the_sdk(
    remote: Client, api: httpx.Client, frame: pd.DataFrame, blobs: Callable[[], set[str]]
) -> None:
    version = remote.datasets.register("d", frame, project="p", aliases=["raw"])
    assert (version.project, version.dataset, version.version) == ("p", "d", 1)
    assert version.source == "pandas.DataFrame" and version.num_rows == 1000
    assert version.created_by == "test-admin" and version.aliases == ("latest", "raw")
    pd.testing.assert_frame_equal(remote.datasets.load("d", project="p"), frame)
    stored = blobs()
    again = remote.datasets.register("d", frame.copy(), project="p")
    assert again.id == version.id and blobs() == stored  # same data: same version, no blob

    # The same data over plain HTTP: 200 and "created": false; new data: 201.
    body = _ipc(pa.Table.from_pandas(frame, preserve_index=False))
    answer = api.post(VERSIONS, content=body, headers=ARROW)
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] is False and answer.json()["version"]["id"] == version.id
    fresh = api.post(VERSIONS, content=_ipc(pa.table({"x": [1, 2]})), headers=ARROW)
    assert fresh.status_code == 201 and fresh.json()["created"] is True
    assert fresh.json()["version"]["source"] == "Arrow IPC stream"

    # Reading streams Arrow IPC back, batch by batch, and only the columns asked for.
    with api.stream("GET", f"{VERSIONS}/raw/data", params={"columns": ["t", "id"]}) as got:
        assert got.headers["content-type"] == "application/vnd.apache.arrow.stream"
        assert got.headers["X-Modelyard-Rows"] == "1000"
        table = pa.ipc.open_stream(got.read()).read_all()
    assert table.column_names == ["t", "id"] and table.num_rows == 1000
    batches = list(remote.datasets.iter_batches("d", project="p", version=1, columns=["id"]))
    assert sum(b.num_rows for b in batches) == 1000
    with pytest.raises(InvalidInput, match="has no column"):
        remote.datasets.iter_batches("d", project="p", columns=["nope"])


def test_files_register_with_progress_and_widened_csv_types(
    remote: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_reading, "CSV_BLOCK_BYTES", 64)
    rows = ["a,b"] + [f"{i},x{i}" for i in range(200)] + ["1.5,late"]
    path = tmp_path / "late.csv"
    path.write_text("\n".join(rows) + "\n")
    seen: list[tuple[int, int | None]] = []
    version = remote.datasets.register(
        "late", path, project="p", progress=lambda done, total: seen.append((done, total))
    )
    assert [(c.name, c.arrow_type) for c in version.columns] == [("a", "double"), ("b", "string")]
    assert version.num_rows == 201 and version.source == str(path.resolve())
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    with Client(home=tmp_path / "embedded") as local:  # the same digest as embedded
        assert local.datasets.register("late", path).digest == version.digest

    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        b"name,n\n" + "".join(f"row{i},{i}\n" for i in range(40)).encode() + b"caf\xe9,1\n"
    )
    with pytest.raises(InvalidInput, match="byte offset"):
        remote.datasets.register("bad", bad, project="p")
    with pytest.raises(InvalidInput, match="empty"):
        remote.datasets.register("empty", pd.DataFrame({"a": []}), project="p")
    assert [d.name for d in remote.datasets.list_datasets("p")] == ["late"]


def test_aliases_reports_and_profile(
    remote: Client, api: httpx.Client, frame: pd.DataFrame
) -> None:
    remote.datasets.register("d", frame, project="p")
    remote.datasets.register("d", frame.iloc[:10], project="p")
    assert remote.datasets.set_alias("d", "prod", 1, project="p").aliases == ("prod",)
    assert api.get(f"{VERSIONS}/prod").json()["version"] == 1
    assert api.get(f"{VERSIONS}/latest").json()["version"] == 2
    remote.datasets.delete_alias("d", "prod", project="p")
    assert api.get(f"{VERSIONS}/prod").status_code == 404
    moved = api.put("/projects/p/datasets/d/aliases/gold", json={"version": 2})
    assert moved.status_code == 200 and moved.json()["aliases"] == ["latest", "gold"]

    report = remote.datasets.add_report(
        "d", 1, "validation", {"ok": True}, "<p>fine</p>", project="p"
    )
    assert remote.datasets.report_html(report) == "<p>fine</p>"
    html = api.get(f"{VERSIONS}/1/reports/{report.id}/html")
    assert html.headers["content-type"].startswith("text/html")
    assert html.headers["Content-Security-Policy"].startswith("sandbox")
    kinds = [r.kind for r in remote.datasets.get_reports("d", 1, project="p")]
    assert kinds == ["validation", "profile"]
    [profiled] = remote.datasets.get_reports("d", 1, "profile", project="p")
    assert "<html" in (remote.datasets.report_html(profiled) or "").lower()
    assert remote.datasets.get_profile("d", 1, project="p")["city"].missing == 250
    assert api.get(f"{VERSIONS}/1/profile").json()["rows"] == 1000
    with pytest.raises(InvalidInput, match="JSON"):
        remote.datasets.add_report("d", 1, "validation", {"bad": float("nan")}, project="p")
    nan = api.post(
        f"{VERSIONS}/1/reports",
        content=b'{"kind": "validation", "data": {"x": NaN}}',
        headers={"Content-Type": "application/json"},
    )
    assert nan.status_code == 422


def test_lineage_of_a_remote_run(remote: Client, api: httpx.Client, frame: pd.DataFrame) -> None:
    with remote.start_run("p", capture=False) as run:
        made = remote.datasets.register("d", frame)
        remote.datasets.load("d")
    assert made.project == "p" and made.run_id == run.id
    edges = remote.datasets.lineage("d", project="p")
    assert {(e.source_kind, e.target_kind, e.relation) for e in edges} == {
        (RUN, DATASET_VERSION, OUTPUT),
        (DATASET_VERSION, RUN, INPUT),
    }
    down = api.get("/lineage", params={"kind": "run", "id": run.id, "direction": "down"})
    assert [e["target_id"] for e in down.json()["items"]] == [made.id]
    assert api.get(f"/dataset-versions/{made.id}").json()["version"] == 1
    assert api.get("/lineage", params={"kind": "model", "id": "x"}).status_code == 422


def test_roles_decide_who_reads_and_who_registers(
    embedded_settings: Settings,
    served: str,
    remote: Client,
    api: httpx.Client,
    user_token: Callable[[str], str],
    frame: pd.DataFrame,
) -> None:
    remote.datasets.register("d", frame, project="p")
    bob_token = user_token("bob")
    assert api.put("/projects/p/members/bob", json={"role": "viewer"}).status_code == 200
    with _remote(embedded_settings, served, bob_token) as bob:
        pd.testing.assert_frame_equal(bob.datasets.load("d", project="p"), frame)
        with pytest.raises(PermissionDenied, match="contributor"):
            bob.datasets.register("d", frame.iloc[:5], project="p")
        with pytest.raises(PermissionDenied):
            bob.datasets.set_alias("d", "mine", 1, project="p")
        with pytest.raises(PermissionDenied):
            bob.datasets.add_report("d", 1, "validation", {}, project="p")
        assert [d.name for d in bob.datasets.list_datasets()] == ["d"]
    headers = {**ARROW, "Authorization": f"Bearer {bob_token}"}
    refused = httpx.post(
        f"{served}/api/v1{VERSIONS}", content=_ipc(pa.table({"x": [1]})), headers=headers
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    api.put("/projects/p/members/bob", json={"role": "contributor"})
    with _remote(embedded_settings, served, bob_token) as bob:
        assert bob.datasets.register("d", frame.iloc[:5], project="p").version == 2
    eve_token = user_token("eve")
    with _remote(embedded_settings, served, eve_token) as eve:
        assert eve.datasets.list_datasets() == []
        with pytest.raises(NotFound, match=r"^project 'p' does not exist$"):
            eve.datasets.get("d", project="p")  # as if the project did not exist
    with _remote(embedded_settings, served, None) as nobody:
        with pytest.raises(Unauthenticated):
            nobody.datasets.list_datasets()
        with pytest.raises(Unauthenticated):
            nobody.datasets.register("d", frame, project="p")


def test_bad_arrow_bodies_are_422(api: httpx.Client, frame: pd.DataFrame) -> None:
    good = _ipc(pa.Table.from_pandas(frame, preserve_index=False))
    for body in (b"", b"not arrow at all", good[:100], good[: len(good) // 2], b"\xff" * 64):
        answer = api.post(VERSIONS, content=body, headers=ARROW)
        assert answer.status_code == 422, (body[:20], answer.text)
        assert "Arrow IPC stream" in answer.json()["error"]["message"]
    wrong_type = api.post(VERSIONS, content=good, headers={"Content-Type": "application/json"})
    assert wrong_type.status_code == 415
    assert api.get("/datasets").json()["items"] == []  # nothing was registered
    assert api.post(VERSIONS, content=good, headers=ARROW).status_code == 201


def test_an_upload_over_the_limit_is_413(
    server_with: Callable[..., httpx.Client], frame: pd.DataFrame
) -> None:
    api = server_with(max_artifact_bytes=1000)
    body = _ipc(pa.Table.from_pandas(frame, preserve_index=False))
    assert len(body) > 1000
    answer = api.post(VERSIONS, content=body, headers=ARROW)
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "too_large"

    def chunked() -> Iterator[bytes]:
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    assert api.post(VERSIONS, content=chunked(), headers=ARROW).status_code == 413
    small = _ipc(pa.table({"x": [1]}))
    assert len(small) <= 1000
    assert api.post(VERSIONS, content=small, headers=ARROW).status_code == 201
