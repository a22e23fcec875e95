"""The model registry over the server: the SDK's log and load through it (files up and
down as tar streams, every digest checked), the REST routes' roles (viewer reads,
contributor registers and moves aliases, an outsider reading is told the project does
not exist), and bad input answered 4xx with its field."""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard import Client
from modelyard.artifacts.blobs import blob_key
from modelyard.config import Settings
from modelyard.errors import CorruptBlob, NotFound, PermissionDenied, StorageError
from modelyard.governance import SYSTEM, Governance
from modelyard.store import open_store

MODELS = "/projects/p/models"
TAR = {"Content-Type": "application/x-tar"}


def _remote(settings: Settings, url: str, token: str | None) -> Client:
    tracking = settings.tracking.model_copy(update={"uri": url, "token": token})
    return Client(settings.model_copy(update={"tracking": tracking}))


@pytest.fixture
def remote(embedded_settings: Settings, served: str, admin_token: str) -> Iterator[Client]:
    with _remote(embedded_settings, served, admin_token) as client:
        yield client


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


def _data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(3)
    x = pd.DataFrame({"a": rng.random(40), "b": rng.integers(0, 5, 40)})
    return x, (x["a"] > 0.5).astype(int)


def _tar(files: dict[str, bytes], record: str | None = None) -> bytes:
    """A tar stream of ``files``, opening with ``record`` as its MODELYARD.version."""
    out = io.BytesIO()
    headers = {"MODELYARD.version": record} if record is not None else {}
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, pax_headers=headers) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_log_and_load_through_the_server(
    remote: Client, embedded_settings: Settings, tmp_path: Path
) -> None:
    x, y = _data()
    model = LogisticRegression().fit(x, y)
    with remote.start_run("p") as run:
        run.log_metric("acc", 0.9)
        mv = remote.models.log(model, "churn", input_example=x[:3])
    assert (mv.version, mv.run_id, mv.metrics, mv.flavor) == (1, run.id, {"acc": 0.9}, "sklearn")
    loaded = remote.models.load("churn/1", project="p")
    assert np.allclose(loaded.predict_proba(x), model.predict_proba(x))
    with Client(embedded_settings) as local:  # the server stored what was sent
        here = local.models.get_version("churn", 1, project="p")
        assert here.tree_digest == mv.tree_digest
        assert here.signature == mv.signature and here.input_example == "input_example.parquet"
    with remote.start_run("p"):  # the same bytes again: the same version
        assert remote.models.log(model, "churn", input_example=x[:3]).id == mv.id
    assert remote.models.compare("churn", 1, 1, project="p").same
    # Files that are not the version's tree are refused, whatever each file's record says.
    forged = dataclasses.replace(mv, tree_digest="0" * 64)
    with pytest.raises(CorruptBlob) as exc:
        remote.model_service.download(forged, tmp_path / "out")
    assert exc.value.field == "digest"


def test_a_corrupt_blob_on_the_server_is_never_loaded(
    remote: Client, embedded_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.registry.flavors import FLAVORS

    x, y = _data()
    with remote.start_run("p"):
        mv = remote.models.log(LogisticRegression().fit(x, y), "lr")
    with Client(embedded_settings) as local:
        member = local.blobs.read_tree(mv.tree_digest)[0]
    path = Path(embedded_settings.artifacts_uri) / blob_key(member.digest)
    path.chmod(0o644)
    path.write_bytes(b"tampered" + path.read_bytes()[8:])
    loads: list[Path] = []
    monkeypatch.setattr(
        type(FLAVORS.get("sklearn")),
        "load",
        lambda self, folder, config, trusted: loads.append(folder),
    )
    with pytest.raises((CorruptBlob, StorageError)):  # the server cuts the stream
        remote.models.load("lr", project="p")
    assert loads == []


def test_viewer_reads_contributor_writes_outsider_sees_nothing(
    remote: Client,
    api: httpx.Client,
    served: str,
    embedded_settings: Settings,
    user_token: Callable[[str], str],
) -> None:
    x, y = _data()
    with remote.start_run("p"):
        remote.models.log(LogisticRegression().fit(x, y), "m")
    viewer, writer, outsider = user_token("vi"), user_token("wr"), user_token("out")
    assert api.put("/projects/p/members/vi", json={"role": "viewer"}).status_code == 200
    assert api.put("/projects/p/members/wr", json={"role": "contributor"}).status_code == 200
    body = _tar({"model/model.skops": b"other bytes"})
    url = f"{served}/api/v1{MODELS}/m/versions"

    refused = httpx.post(
        url, params={"flavor": "sklearn"}, content=body, headers={**TAR, **_bearer(viewer)}
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "permission_denied"
    with _remote(embedded_settings, served, viewer) as vi:
        assert [v.version for v in vi.models.list_versions("m", project="p")] == [1]
        assert vi.models.load("m", project="p") is not None
        with pytest.raises(PermissionDenied):
            vi.models.set_alias("m", "champion", 1, project="p")
        with pytest.raises(PermissionDenied):
            vi.models.create_model("other", project="p")

    created = httpx.post(
        url, params={"flavor": "sklearn"}, content=body, headers={**TAR, **_bearer(writer)}
    )
    assert created.status_code == 201, created.text
    assert (created.json()["version"], created.json()["created_by"]) == (2, "wr")
    with _remote(embedded_settings, served, writer) as wr:
        move = wr.models.set_alias("m", "champion", 2, project="p", reason="better")
        assert (move.moved_by, move.to_version) == ("wr", 2)

    for path in (MODELS, f"{MODELS}/m", f"{MODELS}/m/versions/1", f"{MODELS}/m/history"):
        answer = httpx.get(f"{served}/api/v1{path}", headers=_bearer(outsider))
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["error"]["message"] == "project 'p' does not exist"
    # Writing under a project's name cannot hide it (the project service's rule, as for
    # datasets): 403; reading answers as if it did not exist.
    denied = httpx.post(
        url, params={"flavor": "sklearn"}, content=body, headers={**TAR, **_bearer(outsider)}
    )
    assert denied.status_code == 403
    with _remote(embedded_settings, served, outsider) as out:
        for attempt in (
            lambda: out.models.get_version("m", project="p"),
            lambda: out.models.list_models("p"),
            lambda: out.models.set_alias("m", "a", 1, project="p"),
        ):
            with pytest.raises(NotFound, match=r"^project 'p' does not exist$"):
                attempt()


def test_routes_read_versions_aliases_history_and_signatures(
    api: httpx.Client, remote: Client
) -> None:
    x, y = _data()
    with remote.start_run("p"):
        remote.models.log(LogisticRegression().fit(x, y), "m", input_example=x[:2])
        remote.models.log(
            LogisticRegression(C=0.1).fit(x[["a"]], y), "m", input_example=x[["a"]][:2]
        )
    assert api.put(f"{MODELS}/m/aliases/champion", json={"version": 1}).status_code == 200
    moved = api.put(f"{MODELS}/m/aliases/champion", json={"version": 2, "reason": "newer"}).json()
    assert (moved["from_version"], moved["to_version"], moved["reason"]) == (1, 2, "newer")
    assert api.get(f"{MODELS}/m/versions/champion").json()["version"] == 2
    assert api.get(f"{MODELS}/m/versions/latest").json()["version"] == 2
    first = api.get(f"{MODELS}/m/versions/1").json()
    assert first["signature"]["inputs"]["columns"][0]["name"] == "a"
    assert api.get(f"/model-versions/{first['id']}").json()["version"] == 1
    page = api.get(f"{MODELS}/m/versions", params={"limit": 1}).json()
    assert [v["version"] for v in page["items"]] == [1] and page["next_cursor"]
    rest = api.get(f"{MODELS}/m/versions", params={"limit": 1, "cursor": page["next_cursor"]})
    assert [v["version"] for v in rest.json()["items"]] == [2]
    assert rest.json()["next_cursor"] is None
    after = api.get(f"{MODELS}/m/versions", params={"after": 1}).json()
    assert [v["version"] for v in after["items"]] == [2] and after["next_cursor"] is None
    forged = api.get(f"{MODELS}/m/versions", params={"cursor": "WzEsICJ4Il0="})
    assert (forged.status_code, forged.json()["error"]["field"]) == (422, "cursor")
    history = api.get(f"{MODELS}/m/history", params={"alias": "champion"}).json()["items"]
    assert [(h["from_version"], h["to_version"]) for h in history] == [(None, 1), (1, 2)]
    at = api.get(f"{MODELS}/m/aliases/champion/at", params={"at": history[0]["moved_at"]})
    assert at.json() == {"version": 1}
    diff = api.get(f"{MODELS}/m/compare", params={"before": 1, "after": 2}).json()
    assert (diff["same"], diff["removed"]) == (False, ["b"])
    gone = api.delete(f"{MODELS}/m/aliases/champion", params={"reason": "done"}).json()
    assert (gone["from_version"], gone["to_version"]) == (2, None)
    assert [m["name"] for m in api.get(MODELS).json()["items"]] == ["m"]
    created = api.post(MODELS, json={"name": "n", "owners": ["ana"], "tags": {"t": "v"}}).json()
    assert (created["owners"], created["latest_version"]) == (["ana"], None)
    changed = api.patch(f"{MODELS}/n", json={"description": "d"}).json()
    assert (changed["description"], changed["owners"]) == ("d", ["ana"])


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field"),
    [
        (
            "post",
            f"{MODELS}/m/versions",
            {"params": {"flavor": "sklearn"}, "content": b"not a tar"},
            422,
            "body",
        ),
        (
            "post",
            f"{MODELS}/m/versions",
            {"params": {"flavor": "sklearn"}, "content": _tar({"model/model.skops": b"new"}, "{")},
            422,
            "body",
        ),
        (
            "post",
            f"{MODELS}/m/versions",
            {
                "params": {"flavor": "sklearn"},
                "content": _tar({"model/model.skops": b"new"}, '{"signature": [1]}'),
            },
            422,
            "signature",
        ),
        (
            "post",
            f"{MODELS}/m/versions",
            {
                "params": {"flavor": "sklearn"},
                "content": _tar({"model/model.skops": b"new"}, '{"flavor_config": []}'),
            },
            422,
            "flavor_config",
        ),
        ("post", f"{MODELS}/m/versions", {"params": {"flavor": "no-such"}}, 422, "flavor"),
        (
            "post",
            f"{MODELS}/m/versions",
            {
                "params": {"flavor": "sklearn"},
                "content": _tar({"model/model.skops": b"new"}, '{"owner": "me"}'),
            },
            422,
            "body",
        ),
        (
            "post",
            f"{MODELS}/m/versions",
            {
                "params": {"flavor": "sklearn"},
                "content": _tar({"model/model.skops": b"new"}, '{"packages": {"a": 1}}'),
            },
            422,
            "packages",
        ),
        (
            "post",
            f"{MODELS}/m/versions",
            {"params": {"flavor": "sklearn", "input_example": "x.csv"}},
            422,
            "input_example",
        ),
        ("post", f"{MODELS}/bad%20name/versions", {"params": {"flavor": "sklearn"}}, 422, "name"),
        ("put", f"{MODELS}/m/aliases/3", {"json": {"version": 1}}, 422, "alias"),
        ("put", f"{MODELS}/m/aliases/a", {"json": {"version": 9}}, 404, "version"),
        ("get", f"{MODELS}/m/versions/9", {}, 404, "version"),
        ("get", f"{MODELS}/m/versions/nope", {}, 404, "alias"),
        ("get", f"{MODELS}/zz", {}, 404, "name"),
    ],
)
def test_bad_input_is_4xx_with_its_field(
    api: httpx.Client,
    method: str,
    path: str,
    kwargs: dict[str, object],
    status: int,
    field: str,
) -> None:
    body = _tar({"model/model.skops": b"bytes"})
    assert (
        api.post(
            f"{MODELS}/m/versions", params={"flavor": "sklearn"}, content=body, headers=TAR
        ).status_code
        == 201
    )
    if method == "post" and "content" not in kwargs:
        kwargs = {**kwargs, "content": _tar({"model/model.skops": b"new"})}
    headers = TAR if method == "post" else {}
    answer = getattr(api, method)(path, headers=headers, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["field"] == field, answer.text
    assert [v["version"] for v in api.get(f"{MODELS}/m/versions").json()["items"]] == [1]


def test_an_upload_of_another_type_is_415(api: httpx.Client) -> None:
    answer = api.post(f"{MODELS}/m/versions", params={"flavor": "sklearn"}, json={"a": 1})
    assert answer.status_code == 415
    assert json.loads(answer.text)["error"]["code"] == "unsupported_media_type"


def test_a_wide_signature_travels_with_the_upload(remote: Client) -> None:
    from sklearn.linear_model import LinearRegression

    x = pd.DataFrame({f"feature_{i:04d}": [0.5 * i, 1.0, 2.0] for i in range(1500)})
    y = pd.Series([1.0, 2.0, 3.0])
    with remote.start_run("p"):
        mv = remote.models.log(LinearRegression().fit(x, y), "wide", input_example=x)
    assert mv.signature is not None and len(mv.signature.inputs.columns or ()) == 1500
    assert remote.models.get_version("wide", 1, project="p").signature == mv.signature


ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}


def _ipc(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def test_evaluation_routes(
    remote: Client, api: httpx.Client, served: str, user_token: Callable[[str], str]
) -> None:
    x, y = _data()
    with remote.start_run("p"):
        remote.models.log(LogisticRegression().fit(x, y), "m", input_example=x[:3])
    data = x.assign(label=y)
    viewer = user_token("vi")
    assert api.put("/projects/p/members/vi", json={"role": "viewer"}).status_code == 200
    url = f"{served}/api/v1{MODELS}/m/versions/1/evaluations"

    # the server evaluates the rows it is sent, and keeps what it computed
    made = api.post(
        f"{MODELS}/m/versions/1/evaluations/data",
        params={"target": "label", "source": "forty rows"},
        content=_ipc(data),
        headers=ARROW,
    )
    assert made.status_code == 201, made.text
    assert (made.json()["rows"], made.json()["source"]) == (40, "forty rows")
    # a dataset version stored on the server is named by its id, never sent again
    stored = remote.datasets.register("scored", data, project="p")
    by_ref = api.post(
        f"{MODELS}/m/versions/latest/evaluations",
        json={"dataset_version_id": stored.id, "target": "label"},
    )
    assert by_ref.status_code == 201, by_ref.text
    assert by_ref.json()["source"] == "dataset p/scored version 1"
    assert by_ref.json()["metrics"] == made.json()["metrics"]

    listed = httpx.get(url, headers=_bearer(viewer))
    assert [e["id"] for e in listed.json()] == [by_ref.json()["id"], made.json()["id"]]
    assert len(api.get(f"{MODELS}/m/versions/1/evaluations", params={"limit": 1}).json()) == 1
    page = httpx.get(
        f"{served}/api/v1/model-evaluations/{made.json()['id']}/html", headers=_bearer(viewer)
    )
    assert page.status_code == 200 and page.text.startswith("<!DOCTYPE html>")
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]

    # a viewer may not evaluate: refused before the body is read
    refused = httpx.post(
        f"{url}/data",
        params={"target": "label"},
        content=_ipc(data),
        headers={**ARROW, **_bearer(viewer)},
    )
    assert refused.status_code == 403, refused.text
    for body, headers, status, field in (
        (b"not arrow", ARROW, 422, "body"),
        (_ipc(data), {"Content-Type": "application/octet-stream"}, 415, "content-type"),
        (_ipc(data.drop(columns="label")), ARROW, 422, "target"),
    ):
        answer = api.post(
            f"{MODELS}/m/versions/1/evaluations/data",
            params={"target": "label"},
            content=body,
            headers=headers,
        )
        assert (answer.status_code, answer.json()["error"]["field"]) == (status, field)
    assert len(api.get(f"{MODELS}/m/versions/1/evaluations").json()) == 2
