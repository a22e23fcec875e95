"""The model registry of a server: what ``client.model_service`` is in remote mode.

``RemoteModels`` has the methods of :class:`~modelyard.registry.contract.ModelContract`,
with the same signatures, results and errors, so ``client.models`` (which saves and loads
model objects with their flavor, in this process) runs unchanged against a server.

A version's files travel as a tar stream (``artifacts/_tar.py``) both ways: registering
sends the folder the flavor wrote (or a tar archive of one), the version's description
(the flavor's configuration, packages, signature and description, as JSON: too large for
a URL) in the stream's PAX global header record ``MODELYARD.version``, and the server
stores the tree and registers it; downloading writes each file
atomically, checked against the digest record the server sends with it, and then checks
that the files are the version's tree (the manifest they make hashes to its
``tree_digest``), so a file missing, added or changed on the way is :class:`CorruptBlob`.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from itertools import chain
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from blake3 import blake3

from modelyard._util import validate_name
from modelyard.artifacts import safe_join
from modelyard.artifacts._tar import VERSION_RECORD, read_tar, tar_directory, write_verified
from modelyard.artifacts._trees import TreeEntry, encode_manifest
from modelyard.datasets._ipc import ARROW_STREAM
from modelyard.errors import CorruptBlob, InvalidInput
from modelyard.registry.entities import (
    AliasMove,
    Decision,
    Evaluation,
    ModelCard,
    ModelVersion,
    RegisteredModel,
    RuleCheck,
    TransitionRequest,
)
from modelyard.registry.policy import ModelPolicy, Policy
from modelyard.registry.retirement import ModelRetirementPolicy, RetirementMove, RetirementPolicy
from modelyard.registry.signature import Signature, SignatureDiff
from modelyard.remote._http import LIST_PAGE, Content, HttpSession, entity
from modelyard.tracking.entities import TarArchive

if TYPE_CHECKING:
    from modelyard.datasets.entities import DatasetVersion

__all__ = ["RemoteModels"]

_TAR = {"Content-Type": "application/x-tar"}
_CHUNK = 1024 * 1024


class RemoteModels:
    """Registered models, versions and aliases on a Modelyard server."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    # -- models -----------------------------------------------------------------------------

    def create_model(
        self,
        name: str,
        *,
        project: str,
        description: str = "",
        owners: Sequence[str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> RegisteredModel:
        """Register a model name (the name taken: the model as it is, or Conflict)."""
        validate_name(project, "project")
        body = {"name": name, "description": description, "owners": _list(owners), "tags": tags}
        path = f"/projects/{_segment(project)}/models"
        return _model(self.http.call("POST", path, json_body=body).json())

    def update_model(
        self,
        name: str,
        *,
        project: str,
        description: str | None = None,
        owners: Sequence[str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> RegisteredModel:
        """Change a model's description, owners or tags (those given)."""
        body: dict[str, Any] = {}
        if description is not None:
            body["description"] = description
        if owners is not None:
            body["owners"] = _list(owners)
        if tags is not None:
            body["tags"] = tags
        return _model(self.http.call("PATCH", _model_path(project, name), json_body=body).json())

    def get_model(self, name: str, *, project: str) -> RegisteredModel:
        """One registered model."""
        return _model(self.http.call("GET", _model_path(project, name)).json())

    def list_models(self, project: str) -> list[RegisteredModel]:
        """The models of a project, by name."""
        validate_name(project, "project")
        path = f"/projects/{_segment(project)}/models"
        return [_model(item) for item in self.http.all_pages(path, {})]

    # -- versions ---------------------------------------------------------------------------

    def check_register(
        self, name: str, *, project: str, flavor: str, run_id: str | None = None
    ) -> None:
        """Raise unless a version of ``name`` in ``flavor`` may be registered."""
        body = {"flavor": flavor, "run_id": run_id}
        self.http.call("POST", f"{_model_path(project, name)}/versions/check", json_body=body)

    def register(
        self,
        name: str,
        files: str | Path | TarArchive,
        *,
        project: str,
        flavor: str,
        flavor_config: dict[str, Any] | None = None,
        packages: dict[str, str] | None = None,
        signature: Signature | dict[str, Any] | None = None,
        input_example: str | None = None,
        run_id: str | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Upload the folder ``files`` (or a tar archive of one) written by ``flavor`` and
        register it as a version of model ``name``; the same files again are the existing
        version (so a lost answer is sent again safely)."""
        stream: Callable[[], Iterable[bytes]]
        if isinstance(files, TarArchive):
            stream = partial(_file_chunks, files.path)
        else:
            folder = Path(files)
            if not folder.is_dir():
                raise InvalidInput(f"{str(folder)!r} is not a folder", field="files")
            stream = partial(tar_directory, folder)
        if isinstance(signature, Signature):
            signature = signature.as_dict()
        record = {
            "flavor_config": flavor_config,
            "packages": packages,
            "signature": signature,
            "description": description,
        }
        for key, value in record.items():
            _json(value, key)  # NaN or an object JSON cannot hold: refused here, by its name
        header = tarfile.TarInfo.create_pax_global_header({VERSION_RECORD: _json(record, "files")})
        content: Content = partial(_with_header, header, stream)
        params: dict[str, Any] = {"flavor": flavor}
        params |= {k: v for k, v in (("input_example", input_example), ("run_id", run_id)) if v}
        path = f"{_model_path(project, name)}/versions"
        answer = self.http.call("POST", path, params=params, content=content, headers=_TAR)
        return _version(answer.json())

    def register_from_run(
        self,
        name: str,
        *,
        project: str,
        run_id: str,
        path: str,
        flavor: str,
        flavor_config: dict[str, Any] | None = None,
        packages: dict[str, str] | None = None,
        signature: Signature | dict[str, Any] | None = None,
        input_example: str | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Register the run's artifact folder ``path`` (the flavor's files under
        ``model/``) as a version of model ``name``: the server points the version at the
        blobs the run stored, nothing is uploaded. The same files again are the existing
        version (so a lost answer is sent again safely)."""
        if isinstance(signature, Signature):
            signature = signature.as_dict()
        body = {
            "run_id": run_id,
            "path": path,
            "flavor": flavor,
            "flavor_config": flavor_config,
            "packages": packages,
            "signature": signature,
            "input_example": input_example,
            "description": description,
        }
        for key in ("flavor_config", "packages", "signature"):
            _json(body[key], key)  # NaN or an object JSON cannot hold: refused here, by its name
        path_ = f"{_model_path(project, name)}/versions/from-run"
        return _version(self.http.call("POST", path_, json_body=body).json())

    def get_version(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
    ) -> ModelVersion:
        """One version: by number, by alias, or the newest."""
        path = _version_path(project, name, version, alias)
        return _version(self.http.call("GET", path).json())

    def get_version_by_id(self, version_id: str) -> ModelVersion:
        """A version by its id (as lineage edges name it)."""
        return _version(self.http.call("GET", f"/model-versions/{_segment(version_id)}").json())

    def resolve(self, ref: str, *, project: str) -> ModelVersion:
        """The version ``ref`` names: ``name@alias``, ``name/3`` or ``name`` (the newest)."""
        from modelyard.registry.service import parse_ref

        name, version, alias = parse_ref(ref)
        return self.get_version(name, project=project, version=version, alias=alias)

    def list_versions(
        self, name: str, *, project: str, after: int = 0, limit: int | None = None
    ) -> list[ModelVersion]:
        """The versions of a model numbered above ``after``, oldest first, at most
        ``limit`` of them (None: every one), a page of the server's at a time."""
        from modelyard.registry.service import check_page

        after, limit = check_page(after, limit)
        path = f"{_model_path(project, name)}/versions"
        found: list[ModelVersion] = []
        while limit is None or len(found) < limit:
            want = LIST_PAGE if limit is None else min(LIST_PAGE, limit - len(found))
            answer = self.http.call("GET", path, params={"after": after, "limit": want}).json()
            found += [_version(item) for item in answer["items"]]
            if answer["next_cursor"] is None or not answer["items"]:
                break
            after = found[-1].version
        return found

    def compare(self, name: str, before: int, after: int, *, project: str) -> SignatureDiff:
        """How version ``after``'s signature differs from version ``before``'s."""
        params = {"before": before, "after": after}
        found = self.http.call("GET", f"{_model_path(project, name)}/compare", params=params)
        data = found.json()
        data.pop("same")
        for key in ("retyped", "outputs_retyped"):
            data[key] = [tuple(change) for change in data[key]]
        return entity(SignatureDiff, data)

    def download(self, version: ModelVersion, dest: str | Path) -> Path:
        """Write the version's files into the folder ``dest``: each file checked against
        its digest record, then the whole against the version's tree digest."""
        from modelyard.remote.artifacts import _ChunkReader

        target = Path(dest)
        target.mkdir(parents=True, exist_ok=True)
        path = f"{_model_path(version.project, version.name)}/versions/{version.version}/files"
        entries = []
        with self.http.stream(path, {}) as response:
            body = io.BufferedReader(_ChunkReader(response.iter_bytes()))
            for member, stream, digest in read_tar(body):
                if digest is None:
                    raise CorruptBlob(f"{member!r} arrived without its digest", field="digest")
                written = write_verified(safe_join(target, member), _chunks(stream), digest)
                entries.append(TreeEntry(member, digest, written.stat().st_size))
        tree = blake3(encode_manifest(entries)).hexdigest()
        if tree != version.tree_digest:
            raise CorruptBlob(
                f"the files of model version {version.project}/{version.ref} arrived as tree "
                f"{tree}, not {version.tree_digest}",
                field="digest",
            )
        return target

    # -- aliases ----------------------------------------------------------------------------

    def set_alias(
        self, name: str, alias: str, version: int, *, project: str, reason: str = ""
    ) -> AliasMove:
        """Point ``alias`` at ``version`` (moving it from where it was), recording the move."""
        body = {"version": version, "reason": reason}
        return _move(
            self.http.call("PUT", _alias_path(project, name, alias), json_body=body).json()
        )

    def delete_alias(self, name: str, alias: str, *, project: str, reason: str = "") -> AliasMove:
        """Remove an alias, recording the move (to no version)."""
        path = _alias_path(project, name, alias)
        return _move(self.http.call("DELETE", path, params={"reason": reason}).json())

    def history(self, name: str, *, project: str, alias: str | None = None) -> list[AliasMove]:
        """Every move of the model's aliases (of ``alias`` only, when given), oldest first."""
        params = {"alias": alias} if alias is not None else {}
        path = f"{_model_path(project, name)}/history"
        return [_move(item) for item in self.http.all_pages(path, params)]

    def alias_at(self, name: str, alias: str, at: int | datetime, *, project: str) -> int | None:
        """The version ``alias`` pointed at at time ``at`` (None: nowhere then)."""
        if isinstance(at, datetime):
            if at.tzinfo is None:
                raise InvalidInput("give the time with its timezone", field="at")
            at = int(at.timestamp() * 1000)
        path = f"{_alias_path(project, name, alias)}/at"
        found: int | None = self.http.call("GET", path, params={"at": at}).json()["version"]
        return found

    # -- model cards ------------------------------------------------------------------------

    def get_card(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
    ) -> ModelCard:
        """A version's model card: what the registry knows and the fields filled in."""
        path = f"{_version_path(project, name, version, alias)}/card"
        return entity(ModelCard, self.http.call("GET", path).json())

    def set_card_fields(
        self,
        name: str,
        fields: dict[str, str],
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
    ) -> ModelCard:
        """Fill in (an empty text: clear) fields of a version's card."""
        path = f"{_version_path(project, name, version, alias)}/card"
        answer = self.http.call("PUT", path, json_body={"fields": fields})
        return entity(ModelCard, answer.json())

    # -- status through policy gates --------------------------------------------------------

    def request_transition(
        self,
        name: str,
        *,
        project: str,
        to: str,
        version: int | None = None,
        alias: str | None = None,
        comment: str = "",
    ) -> TransitionRequest:
        """Ask to move a version to status ``to``, judged by the model's policy."""
        path = f"{_version_path(project, name, version, alias)}/requests"
        body = {"to": to, "comment": comment}
        return _request(self.http.call("POST", path, json_body=body).json())

    def approve(self, request_id: str, *, comment: str = "") -> TransitionRequest:
        """Approve an open request (an approver other than its requester)."""
        path = f"{_request_path(request_id)}/approve"
        return _request(self.http.call("POST", path, json_body={"comment": comment}).json())

    def reject(self, request_id: str, *, comment: str = "") -> TransitionRequest:
        """Reject an open request (an approver other than its requester)."""
        path = f"{_request_path(request_id)}/reject"
        return _request(self.http.call("POST", path, json_body={"comment": comment}).json())

    def get_request(self, request_id: str) -> TransitionRequest:
        """One status change request."""
        return _request(self.http.call("GET", _request_path(request_id)).json())

    def list_requests(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        state: str | None = None,
    ) -> list[TransitionRequest]:
        """A model's status change requests (of one version, in one state), oldest first."""
        params = {k: v for k, v in (("version", version), ("state", state)) if v is not None}
        path = f"{_model_path(project, name)}/requests"
        return [_request(item) for item in self.http.all_pages(path, params)]

    def get_policy(self, *, project: str, name: str | None = None) -> ModelPolicy:
        """The policy in force for a model (or the project's)."""
        path, params = _policy_path(project, name)
        return _policy(self.http.call("GET", path, params=params).json())

    def set_policy(
        self,
        policy: Policy | dict[str, Any] | str,
        *,
        project: str,
        name: str | None = None,
    ) -> ModelPolicy:
        """Set the policy of a project (or of one model), as project admin."""
        source = policy if isinstance(policy, str) else Policy.parse(policy).to_yaml()
        path, params = _policy_path(project, name)
        answer = self.http.call("PUT", path, params=params, json_body={"source": source})
        return _policy(answer.json())

    # -- evaluations ------------------------------------------------------------------------

    def evaluate(
        self,
        ref: str,
        data: DatasetVersion | Iterable[Any],
        target: str,
        *,
        project: str,
        baseline: str | None = None,
        slices: Sequence[str] = (),
        task: str | None = None,
        seed: int = 0,
        sample_rows: int = 5000,
        bootstrap: int = 200,
        source: str = "",
        trusted: Sequence[str] = (),
    ) -> Evaluation:
        """Evaluate the version ``ref`` on the server: a dataset version stored there is
        named by its id (its rows are not sent), record batches are streamed once as an
        Arrow IPC stream; the server loads the model and keeps the report it computed."""
        from modelyard.datasets.entities import DatasetVersion
        from modelyard.registry.service import parse_ref

        if trusted:
            raise InvalidInput(
                "through a server the model is loaded on the server, which trusts only the "
                "types of its setting registry.trusted_types; leave trusted empty",
                field="trusted",
            )
        if isinstance(slices, str):
            raise InvalidInput("slices must be a list of column names", field="slices")
        name, version, alias = parse_ref(ref)
        path = f"{_version_path(project, name, version, alias)}/evaluations"
        options: dict[str, Any] = {
            "target": target,
            "baseline": baseline,
            "slices": list(slices),
            "task": task,
            "seed": seed,
            "sample_rows": sample_rows,
            "bootstrap": bootstrap,
        }
        if isinstance(data, DatasetVersion):
            body = {"dataset_version_id": data.id, **options}
            answer = self.http.call("POST", path, json_body=body, idempotent=False)
            return _evaluation(answer.json())
        if isinstance(data, str | bytes) or not isinstance(data, Iterable):
            raise InvalidInput(
                "data must be a dataset version or an iterable of Arrow record batches",
                field="data",
            )
        params = {k: v for k, v in {**options, "source": source}.items() if v not in (None, "")}
        answer = self.http.call(
            "POST",
            f"{path}/data",
            params=params,
            content=_ipc_once(iter(data)),
            headers={"Content-Type": ARROW_STREAM},
            idempotent=False,
            retry=False,
        )
        return _evaluation(answer.json())

    def evaluations(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
        limit: int | None = 1,
    ) -> list[Evaluation]:
        """A version's evaluations, newest first (the latest only unless ``limit``)."""
        bad = isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        if limit is not None and bad:
            raise InvalidInput("limit must be a positive integer or None", field="limit")
        params = {"limit": limit} if limit is not None else {}
        path = f"{_version_path(project, name, version, alias)}/evaluations"
        return [_evaluation(item) for item in self.http.call("GET", path, params=params).json()]

    def evaluation_html(self, evaluation_id: str) -> str:
        """The HTML page of an evaluation (by its id)."""
        path = f"/model-evaluations/{_segment(evaluation_id)}/html"
        return self.http.call("GET", path).text

    # -- retirement -----------------------------------------------------------------------

    def archive(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
        reason: str = "",
    ) -> TransitionRequest:
        """Archive a version by hand: a status change request judged by the policy."""
        path = f"{_version_path(project, name, version, alias)}/archive"
        return _request(self.http.call("POST", path, json_body={"reason": reason}).json())

    def retire(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
        reason: str = "",
    ) -> TransitionRequest:
        """Retire a version by hand: a status change request judged by the policy."""
        path = f"{_version_path(project, name, version, alias)}/retire"
        return _request(self.http.call("POST", path, json_body={"reason": reason}).json())

    def get_retirement_policy(
        self, *, project: str, name: str | None = None
    ) -> ModelRetirementPolicy:
        """The retirement policy in force for a model (or the project's)."""
        path, params = _retirement_path(project, name)
        return _retirement_policy(self.http.call("GET", path, params=params).json())

    def set_retirement_policy(
        self,
        policy: RetirementPolicy | dict[str, Any] | str,
        *,
        project: str,
        name: str | None = None,
    ) -> ModelRetirementPolicy:
        """Set the retirement policy of a project (or of one model), as project admin."""
        source = policy if isinstance(policy, str) else RetirementPolicy.parse(policy).to_yaml()
        path, params = _retirement_path(project, name)
        answer = self.http.call("PUT", path, params=params, json_body={"source": source})
        return _retirement_policy(answer.json())

    def run_retirement(
        self, *, project: str, name: str | None = None, dry_run: bool = False
    ) -> list[RetirementMove]:
        """Apply the retirement policies (admins), or list what they would do (viewers)."""
        path, params = _retirement_path(project, name)
        if dry_run:
            answer = self.http.call("GET", f"{path}/plan", params=params)
        else:
            answer = self.http.call("POST", f"{path}/run", params=params)
        return [entity(RetirementMove, item) for item in answer.json()["items"]]


def _list(owners: Sequence[str] | None) -> Any:
    """Owners as a JSON list (anything else goes as it is, for the server to refuse)."""
    return list(owners) if isinstance(owners, list | tuple) else owners


def _segment(value: str) -> str:
    return quote(value, safe="")


def _model_path(project: str, name: str) -> str:
    validate_name(project, "project")
    validate_name(name, "name")
    return f"/projects/{_segment(project)}/models/{_segment(name)}"


def _alias_path(project: str, name: str, alias: str) -> str:
    return f"{_model_path(project, name)}/aliases/{_segment(validate_name(alias, 'alias'))}"


def _json(value: Any, field: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{field} must be JSON: {exc}", field=field) from None


def _with_header(header: bytes, stream: Callable[[], Iterable[bytes]]) -> Iterator[bytes]:
    """The tar stream with the global header first (made anew for each attempt)."""
    return chain([header], stream())


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as src:
        while chunk := src.read(_CHUNK):
            yield chunk


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def _model(data: dict[str, Any]) -> RegisteredModel:
    return entity(RegisteredModel, data)


def _version(data: dict[str, Any]) -> ModelVersion:
    signature = data["signature"]
    return entity(
        ModelVersion,
        data,
        signature=Signature.from_dict(signature) if signature is not None else None,
    )


def _move(data: dict[str, Any]) -> AliasMove:
    return entity(AliasMove, data)


def _version_path(project: str, name: str, version: int | None, alias: str | None) -> str:
    """The path of a version by number, alias or (neither) the newest."""
    if version is not None and alias is not None:
        raise InvalidInput("give a version or an alias, not both", field="version")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidInput(
                f"version must be a positive integer; got {version!r}", field="version"
            )
        ref = str(version)
    else:
        ref = validate_name(alias, "alias") if alias is not None else "latest"
    return f"{_model_path(project, name)}/versions/{_segment(ref)}"


def _request_path(request_id: str) -> str:
    if not isinstance(request_id, str) or not request_id:
        raise InvalidInput("request_id must be a request's id", field="request_id")
    return f"/model-requests/{_segment(request_id)}"


def _policy_path(project: str, name: str | None) -> tuple[str, dict[str, Any]]:
    validate_name(project, "project")
    params = {"model": validate_name(name, "name")} if name is not None else {}
    return f"/projects/{_segment(project)}/model-policy", params


def _request(data: dict[str, Any]) -> TransitionRequest:
    return entity(
        TransitionRequest,
        data,
        checks=[entity(RuleCheck, c) for c in data["checks"]],
        decisions=[entity(Decision, d) for d in data["decisions"]],
    )


def _policy(data: dict[str, Any]) -> ModelPolicy:
    return entity(ModelPolicy, data, policy=Policy.from_dict(data["policy"]))


def _ipc_once(batches: Iterator[Any]) -> Iterator[bytes]:
    """The batches as an Arrow IPC stream (its schema from the first batch), sent once."""
    from modelyard.datasets._ipc import ipc_chunks

    first = next(batches, None)
    if first is None:
        raise InvalidInput("the data is empty: no record batches", field="data")
    return ipc_chunks(first.schema, chain([first], batches))


def _evaluation(data: dict[str, Any]) -> Evaluation:
    return entity(Evaluation, data)


def _retirement_path(project: str, name: str | None) -> tuple[str, dict[str, Any]]:
    validate_name(project, "project")
    params = {"model": validate_name(name, "name")} if name is not None else {}
    return f"/projects/{_segment(project)}/model-retirement-policy", params


def _retirement_policy(data: dict[str, Any]) -> ModelRetirementPolicy:
    return entity(ModelRetirementPolicy, data, policy=RetirementPolicy.from_dict(data["policy"]))
