"""The model registry: models, versions (registered by upload, read by number or alias,
their files downloaded as a tar stream), aliases with their history, signature
comparison, and evaluations (computed here, on a stored dataset version named by its id
or on rows uploaded as an Arrow IPC stream; read back as JSON and as an HTML page).

A version is named in the path by ``{ref}``: its number, an alias, or ``latest`` (the
newest). Every rule -- who may read or register, names, aliases, what a version holds --
is the model service's; routes translate. A version's files go up and down as a tar
stream (``application/x-tar``, see ``artifacts/_tar.py``): an upload is streamed to a
staging file (never held in memory), its members checked as it is stored as a tree, and
the version's description (flavor configuration, packages, signature: JSON too large for
a URL) comes in the stream's PAX global header record ``MODELYARD.version``; a
download carries each file's digest in its member's ``MODELYARD.blake3`` record, and the
client checks the files against the version's ``tree_digest``.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse

from modelyard import limits
from modelyard.api._pagination import (
    DEFAULT_PAGE_SIZE,
    Cursor,
    Limit,
    cursor_at,
    cursor_position,
    page,
)
from modelyard.api._routing import Route
from modelyard.api._services import Services, get_datasets, get_models, get_services
from modelyard.api._uploads import stage_body
from modelyard.api.schemas._types import Description, Int64, ShortText
from modelyard.api.schemas.models import (
    AliasAtPublic,
    AliasMovePage,
    AliasMovePublic,
    AliasSet,
    CardFields,
    DecisionCreate,
    EvaluationCreate,
    EvaluationPublic,
    ModelCardPublic,
    ModelCreate,
    ModelPage,
    ModelPublic,
    ModelUpdate,
    ModelVersionPage,
    ModelVersionPublic,
    PolicyPublic,
    PolicySet,
    ReasonBody,
    RegisterCheck,
    RegisterFromRun,
    RetirementMoveList,
    RetirementPolicyPublic,
    SignatureDiffPublic,
    TransitionCreate,
    TransitionRequestPage,
    TransitionRequestPublic,
)
from modelyard.artifacts._tar import VERSION_RECORD
from modelyard.datasets._ipc import ARROW_STREAM
from modelyard.datasets.service import DatasetService
from modelyard.errors import InvalidInput
from modelyard.registry.cards import render_html, render_markdown
from modelyard.registry.entities import Evaluation, ModelVersion, TransitionRequest
from modelyard.registry.service import ModelService
from modelyard.tracking.entities import TarArchive

__all__ = ["router", "versions_router"]

router = APIRouter(prefix="/projects/{project}/models", tags=["models"], route_class=Route)
#: Routes that are not under one project: a version by id.
versions_router = APIRouter(tags=["models"], route_class=Route)

Models = Annotated[ModelService, Depends(get_models)]
Ref = Annotated[
    str, PathParam(description="A version number, an alias, or `latest` (the newest version).")
]

_VERSION_NUMBER = re.compile(r"^[0-9]+$")
_BLOCK = 512
_RECORD_KEYS = frozenset({"flavor_config", "packages", "signature", "description"})
#: The version's description: three JSON values of at most limits.MODEL_JSON and a text.
_MAX_RECORD = 4 * limits.MODEL_JSON + 8 * limits.DESCRIPTION
_TAR_BODY = {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}}
_ARROW_BODY = {ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}}
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
}


# -- models ---------------------------------------------------------------------------------


@router.get("", response_model=ModelPage)
def list_models(
    project: str, models: Models, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> ModelPage:
    """The models of a project, by name."""
    items, next_cursor = page(models.list_models(project), limit, cursor, "models", project)
    return ModelPage(items=[ModelPublic.model_validate(m) for m in items], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=ModelPublic)
def create_model(project: str, body: ModelCreate, models: Models) -> ModelPublic:
    """Register a model name (the name taken with nothing else asked: the model as it is;
    otherwise 409)."""
    found = models.create_model(
        body.name,
        project=project,
        description=body.description,
        owners=body.owners,
        tags=body.tags,
    )
    return ModelPublic.model_validate(found)


@router.get("/{name}", response_model=ModelPublic)
def get_model(project: str, name: str, models: Models) -> ModelPublic:
    """One model, with its newest version's number and its aliases."""
    return ModelPublic.model_validate(models.get_model(name, project=project))


@router.patch("/{name}", response_model=ModelPublic)
def update_model(project: str, name: str, body: ModelUpdate, models: Models) -> ModelPublic:
    """Change a model's description, owners or tags (the fields given)."""
    found = models.update_model(
        name, project=project, description=body.description, owners=body.owners, tags=body.tags
    )
    return ModelPublic.model_validate(found)


# -- versions -------------------------------------------------------------------------------


@router.get("/{name}/versions", response_model=ModelVersionPage)
def list_versions(
    project: str,
    name: str,
    models: Models,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    after: Annotated[
        int, Query(ge=0, le=limits.INTEGER, description="Only versions numbered above this.")
    ] = 0,
) -> ModelVersionPage:
    """One page of a model's versions, oldest first (above ``after``, or after the
    cursor's). Only the page is read from the store."""
    bound = ("model-versions", project, name)
    start = max(after, cursor_position(cursor, *bound))
    found = models.list_versions(name, project=project, after=start, limit=limit + 1)
    items = found[:limit]
    more = len(found) > limit
    next_cursor = cursor_at(items[-1].version, *bound) if more else None
    return ModelVersionPage(items=[_version(v) for v in items], next_cursor=next_cursor)


@router.post("/{name}/versions/check", status_code=204)
def check_register(project: str, name: str, body: RegisterCheck, models: Models) -> None:
    """204 when a version of the model in ``flavor`` (from ``run_id``) may be registered
    by the caller; the refusal otherwise (the SDK asks before it saves a model)."""
    models.check_register(name, project=project, flavor=body.flavor, run_id=body.run_id)


@router.post(
    "/{name}/versions",
    status_code=201,
    response_model=ModelVersionPublic,
    openapi_extra={"requestBody": {"required": True, "content": _TAR_BODY}},
)
async def register_version(
    project: str,
    name: str,
    request: Request,
    models: Models,
    services: Annotated[Services, Depends(get_services)],
    flavor: Annotated[ShortText, Query(description="The flavor that wrote the files.")],
    input_example: Annotated[
        ShortText | None, Query(description="The input example's path among the files.")
    ] = None,
    run_id: Annotated[
        str | None, Query(pattern=r"^[0-9a-f]{32}$", description="The run it comes from.")
    ] = None,
) -> ModelVersionPublic:
    """Register the body, a tar stream of the folder the flavor wrote, as a version of the
    model (created if needed). The same files under this name are the version they already
    are. The stream may open with a PAX global header whose record ``MODELYARD.version``
    is a JSON object with any of ``flavor_config``, ``packages`` (name to version),
    ``signature`` and ``description``."""
    # 404, 403 or 422 before a byte is staged
    await run_in_threadpool(
        models.check_register, name, project=project, flavor=flavor, run_id=run_id
    )
    staged = await stage_body(request, services.upload_dir)
    try:
        record = await run_in_threadpool(_version_record, staged)
        found = await run_in_threadpool(
            models.register,
            name,
            TarArchive(staged),
            project=project,
            flavor=flavor,
            flavor_config=record.get("flavor_config"),
            packages=record.get("packages"),
            signature=record.get("signature"),
            input_example=input_example,
            run_id=run_id,
            description=record.get("description", ""),
        )
    finally:
        os.unlink(staged)
    return _version(found)


@router.post("/{name}/versions/from-run", status_code=201, response_model=ModelVersionPublic)
def register_from_run(
    project: str, name: str, body: RegisterFromRun, models: Models
) -> ModelVersionPublic:
    """Register a run's artifact folder as a version of the model (created if needed),
    pointing at the blobs the run stored: nothing is uploaded or copied. The same files
    under this name are the version they already are."""
    found = models.register_from_run(
        name,
        project=project,
        run_id=body.run_id,
        path=body.path,
        flavor=body.flavor,
        flavor_config=body.flavor_config,
        packages=body.packages,
        signature=body.signature,
        input_example=body.input_example,
        description=body.description,
    )
    return _version(found)


@router.get("/{name}/versions/{ref}", response_model=ModelVersionPublic)
def get_version(project: str, name: str, ref: Ref, models: Models) -> ModelVersionPublic:
    """One version, by number, alias or ``latest``."""
    return _version(_get(models, project, name, ref))


@router.get(
    "/{name}/versions/{ref}/files",
    response_class=StreamingResponse,
    responses={200: {"content": _TAR_BODY, "description": "The version's files, as a tar."}},
)
def download_files(
    project: str,
    name: str,
    ref: Ref,
    models: Models,
    services: Annotated[Services, Depends(get_services)],
) -> StreamingResponse:
    """The version's files as a tar stream, each verified against its digest as it is
    read and carrying it in its ``MODELYARD.blake3`` record (the ``ETag`` is the tree's
    digest)."""
    found = models.check_load(_get(models, project, name, ref))
    stream = services.blobs.tar_stream(found.tree_digest)
    headers = {"ETag": f'"{found.tree_digest}"'}
    return StreamingResponse(stream, media_type="application/x-tar", headers=headers)


@versions_router.get("/model-versions/{version_id}", response_model=ModelVersionPublic)
def get_version_by_id(version_id: str, models: Models) -> ModelVersionPublic:
    """One version by its id (as lineage edges name it)."""
    return _version(models.get_version_by_id(version_id))


@router.get("/{name}/compare", response_model=SignatureDiffPublic)
def compare(
    project: str,
    name: str,
    models: Models,
    before: Annotated[int, Query(ge=1, le=limits.INTEGER, description="The older version.")],
    after: Annotated[int, Query(ge=1, le=limits.INTEGER, description="The newer version.")],
) -> SignatureDiffPublic:
    """How version ``after``'s signature differs from version ``before``'s: columns
    added, removed and retyped, in inputs and outputs."""
    diff = models.compare(name, before, after, project=project)
    return SignatureDiffPublic(
        same=diff.same,
        added=diff.added,
        removed=diff.removed,
        retyped=diff.retyped,
        outputs_added=diff.outputs_added,
        outputs_removed=diff.outputs_removed,
        outputs_retyped=diff.outputs_retyped,
    )


# -- aliases --------------------------------------------------------------------------------


@router.put("/{name}/aliases/{alias}", response_model=AliasMovePublic)
def set_alias(
    project: str, name: str, alias: str, body: AliasSet, models: Models
) -> AliasMovePublic:
    """Point ``alias`` at a version (moving it from where it was); the move is recorded."""
    move = models.set_alias(name, alias, body.version, project=project, reason=body.reason)
    return AliasMovePublic.model_validate(move)


@router.delete("/{name}/aliases/{alias}", response_model=AliasMovePublic)
def delete_alias(
    project: str,
    name: str,
    alias: str,
    models: Models,
    reason: Annotated[Description, Query(description="Why (kept with the move).")] = "",
) -> AliasMovePublic:
    """Remove an alias; the move (to no version) is recorded."""
    return AliasMovePublic.model_validate(
        models.delete_alias(name, alias, project=project, reason=reason)
    )


@router.get("/{name}/aliases/{alias}/at", response_model=AliasAtPublic)
def alias_at(
    project: str,
    name: str,
    alias: str,
    models: Models,
    at: Annotated[Int64, Query(description="Milliseconds since the epoch.")],
) -> AliasAtPublic:
    """The version ``alias`` pointed at at time ``at`` (null: none then)."""
    return AliasAtPublic(version=models.alias_at(name, alias, at, project=project))


@router.get("/{name}/history", response_model=AliasMovePage)
def history(
    project: str,
    name: str,
    models: Models,
    alias: Annotated[ShortText | None, Query(description="Only this alias.")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> AliasMovePage:
    """Every move of the model's aliases (of ``alias`` only, when given), oldest first:
    who moved it, from which version, to which, when and why."""
    moves = models.history(name, project=project, alias=alias)
    items, next_cursor = page(moves, limit, cursor, "model-history", project, name, alias)
    return AliasMovePage(
        items=[AliasMovePublic.model_validate(m) for m in items], next_cursor=next_cursor
    )


# -- model cards ----------------------------------------------------------------------------


@router.get(
    "/{name}/versions/{ref}/card",
    response_model=None,
    responses={
        200: {
            "model": ModelCardPublic,
            "content": {"text/markdown": {}, "text/html": {}},
            "description": "The card as JSON, Markdown or a self-contained HTML page.",
        }
    },
)
def get_card(
    project: str,
    name: str,
    ref: Ref,
    models: Models,
    format: Annotated[
        str, Query(pattern="^(json|md|html)$", description="json, md (Markdown) or html.")
    ] = "json",
) -> ModelCardPublic | Response:
    """A version's model card: what the registry knows (run, data, evaluation, lineage,
    owners) and the fields people filled in."""
    found = _get(models, project, name, ref)
    card = models.get_card(name, project=project, version=found.version)
    if format == "md":
        return PlainTextResponse(render_markdown(card), media_type="text/markdown")
    if format == "html":
        return HTMLResponse(render_html(card))
    return ModelCardPublic.model_validate(card)


@router.put("/{name}/versions/{ref}/card", response_model=ModelCardPublic)
def set_card_fields(
    project: str, name: str, ref: Ref, body: CardFields, models: Models
) -> ModelCardPublic:
    """Fill in (an empty text: clear) fields of a version's card (contributors)."""
    found = _get(models, project, name, ref)
    card = models.set_card_fields(name, body.fields, project=project, version=found.version)
    return ModelCardPublic.model_validate(card)


# -- status through policy gates --------------------------------------------------------------


@router.post(
    "/{name}/versions/{ref}/requests", status_code=201, response_model=TransitionRequestPublic
)
def request_transition(
    project: str, name: str, ref: Ref, body: TransitionCreate, models: Models
) -> TransitionRequestPublic:
    """Ask to move the version to status ``to`` (contributors): a failed rule of the
    model's policy is 409 (``policy_violation``) naming every failed rule; with no
    approvals needed the status changes now, else the request stays open."""
    found = _get(models, project, name, ref)
    request = models.request_transition(
        name, project=project, to=body.to, version=found.version, comment=body.comment
    )
    return _request(request)


@router.get("/{name}/requests", response_model=TransitionRequestPage)
def list_requests(
    project: str,
    name: str,
    models: Models,
    version: Annotated[
        int | None, Query(ge=1, le=limits.INTEGER, description="Only this version's.")
    ] = None,
    state: Annotated[
        str | None, Query(description="Only those open, applied, rejected or refused.")
    ] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> TransitionRequestPage:
    """The model's status change requests, oldest first."""
    found = models.list_requests(name, project=project, version=version, state=state)
    items, next_cursor = page(found, limit, cursor, "model-requests", project, name, version, state)
    return TransitionRequestPage(items=[_request(r) for r in items], next_cursor=next_cursor)


@versions_router.get("/model-requests/{request_id}", response_model=TransitionRequestPublic)
def get_request(request_id: str, models: Models) -> TransitionRequestPublic:
    """One status change request, with its decisions and its rules as last judged."""
    return _request(models.get_request(request_id))


@versions_router.post(
    "/model-requests/{request_id}/approve", response_model=TransitionRequestPublic
)
def approve(request_id: str, body: DecisionCreate, models: Models) -> TransitionRequestPublic:
    """Approve an open request (approvers other than its requester); the status changes
    once enough approvals are in and every rule passes."""
    return _request(models.approve(request_id, comment=body.comment))


@versions_router.post("/model-requests/{request_id}/reject", response_model=TransitionRequestPublic)
def reject(request_id: str, body: DecisionCreate, models: Models) -> TransitionRequestPublic:
    """Reject an open request (approvers other than its requester)."""
    return _request(models.reject(request_id, comment=body.comment))


PolicyModel = Annotated[
    ShortText | None, Query(description="A model's own policy (else the project's).")
]


@versions_router.get("/projects/{project}/model-policy", response_model=PolicyPublic)
def get_policy(project: str, models: Models, model: PolicyModel = None) -> PolicyPublic:
    """The status policy in force for a model (its own, else the project's), or the
    project's (viewers)."""
    return PolicyPublic.model_validate(models.get_policy(project=project, name=model).as_dict())


@versions_router.put("/projects/{project}/model-policy", response_model=PolicyPublic)
def set_policy(
    project: str, body: PolicySet, models: Models, model: PolicyModel = None
) -> PolicyPublic:
    """Set the status policy of the project, or of one model (project admins); YAML with a
    gate per target status."""
    found = models.set_policy(body.source, project=project, name=model)
    return PolicyPublic.model_validate(found.as_dict())


# -- evaluations ----------------------------------------------------------------------------


@router.post("/{name}/versions/{ref}/evaluations", status_code=201, response_model=EvaluationPublic)
def evaluate_on_dataset(
    project: str,
    name: str,
    ref: Ref,
    body: EvaluationCreate,
    models: Models,
    datasets: Annotated[DatasetService, Depends(get_datasets)],
) -> EvaluationPublic:
    """Evaluate the version here on a dataset version stored on this server (its rows are
    not sent again) and keep the report. The server loads the model with its own
    settings (``registry.allow_code_formats``, ``registry.trusted_types``)."""
    found = models.evaluate(
        _ref(name, ref),
        datasets.get_by_id(body.dataset_version_id),
        body.target,
        project=project,
        baseline=body.baseline,
        slices=body.slices,
        task=body.task,
        seed=body.seed,
        sample_rows=body.sample_rows,
        bootstrap=body.bootstrap,
    )
    return EvaluationPublic.model_validate(found.as_dict())


@router.post(
    "/{name}/versions/{ref}/evaluations/data",
    status_code=201,
    response_model=EvaluationPublic,
    openapi_extra={"requestBody": {"required": True, "content": _ARROW_BODY}},
)
async def evaluate_on_upload(
    project: str,
    name: str,
    ref: Ref,
    request: Request,
    models: Models,
    services: Annotated[Services, Depends(get_services)],
    target: Annotated[ShortText, Query(description="The column holding the true values.")],
    baseline: Annotated[
        ShortText | None, Query(description="Another version (`name/3`, `name@alias`).")
    ] = None,
    slices: Annotated[
        list[ShortText] | None, Query(description="Columns to slice by (repeat the parameter).")
    ] = None,
    task: Annotated[ShortText | None, Query(description="classification or regression")] = None,
    seed: Annotated[int, Query(ge=0, le=limits.INTEGER)] = 0,
    sample_rows: Annotated[int, Query(ge=10, le=limits.INTEGER)] = 5000,
    bootstrap: Annotated[int, Query(ge=10, le=limits.INTEGER)] = 200,
    source: Annotated[Description, Query(description="What the rows are, in words.")] = "",
) -> EvaluationPublic:
    """Evaluate the version here on the body, an Arrow IPC stream of the rows (at most
    ``server.max_upload_bytes``, staged to a file, read once), and keep the report."""
    wanted = _ref(name, ref)
    # 404, 403 or 422 before a byte is staged
    await run_in_threadpool(lambda: models.check_evaluate(models.resolve(wanted, project=project)))
    staged = await stage_body(request, services.upload_dir)
    try:
        found = await run_in_threadpool(
            _evaluate_staged,
            models,
            staged,
            wanted,
            target,
            project=project,
            baseline=baseline,
            slices=slices or [],
            task=task,
            seed=seed,
            sample_rows=sample_rows,
            bootstrap=bootstrap,
            source=source,
        )
    finally:
        os.unlink(staged)
    return EvaluationPublic.model_validate(found.as_dict())


@router.get("/{name}/versions/{ref}/evaluations", response_model=list[EvaluationPublic])
def list_evaluations(
    project: str,
    name: str,
    ref: Ref,
    models: Models,
    limit: Annotated[
        int | None, Query(ge=1, le=limits.INTEGER, description="The newest N (absent: every one).")
    ] = None,
) -> list[EvaluationPublic]:
    """The version's evaluations, newest first, each with its whole report."""
    found = _get(models, project, name, ref)
    kept = models.evaluations(name, project=project, version=found.version, limit=limit)
    return [EvaluationPublic.model_validate(e.as_dict()) for e in kept]


@versions_router.get(
    "/model-evaluations/{evaluation_id}/html",
    response_model=None,
    responses={200: {"content": {"text/html": {}}, "description": "The report's page."}},
)
def evaluation_html(evaluation_id: str, models: Models) -> HTMLResponse:
    """An evaluation's self-contained HTML page (inline SVG charts, no script; the
    answer's Content-Security-Policy lets it load nothing)."""
    return HTMLResponse(models.evaluation_html(evaluation_id), headers=_PAGE_HEADERS)


# -- retirement -------------------------------------------------------------------------------


@router.post(
    "/{name}/versions/{ref}/archive", status_code=201, response_model=TransitionRequestPublic
)
def archive(
    project: str, name: str, ref: Ref, body: ReasonBody, models: Models
) -> TransitionRequestPublic:
    """Archive the version by hand (contributors): a status change request judged by the
    model's policy."""
    found = _get(models, project, name, ref)
    return _request(
        models.archive(name, project=project, version=found.version, reason=body.reason)
    )


@router.post(
    "/{name}/versions/{ref}/retire", status_code=201, response_model=TransitionRequestPublic
)
def retire(
    project: str, name: str, ref: Ref, body: ReasonBody, models: Models
) -> TransitionRequestPublic:
    """Retire the version by hand (contributors): a status change request judged by the
    model's policy; 409 while an alias points at it."""
    found = _get(models, project, name, ref)
    return _request(models.retire(name, project=project, version=found.version, reason=body.reason))


@versions_router.get(
    "/projects/{project}/model-retirement-policy", response_model=RetirementPolicyPublic
)
def get_retirement_policy(
    project: str, models: Models, model: PolicyModel = None
) -> RetirementPolicyPublic:
    """The retirement policy in force for a model (its own, else the project's), or the
    project's (viewers)."""
    found = models.get_retirement_policy(project=project, name=model)
    return RetirementPolicyPublic.model_validate(found.as_dict())


@versions_router.put(
    "/projects/{project}/model-retirement-policy", response_model=RetirementPolicyPublic
)
def set_retirement_policy(
    project: str, body: PolicySet, models: Models, model: PolicyModel = None
) -> RetirementPolicyPublic:
    """Set the retirement policy of the project, or of one model (project admins)."""
    found = models.set_retirement_policy(body.source, project=project, name=model)
    return RetirementPolicyPublic.model_validate(found.as_dict())


@versions_router.get(
    "/projects/{project}/model-retirement-policy/plan", response_model=RetirementMoveList
)
def plan_retirement(project: str, models: Models, model: PolicyModel = None) -> RetirementMoveList:
    """What the retirement policies would do now, without doing it (viewers)."""
    moves = models.run_retirement(project=project, name=model, dry_run=True)
    return RetirementMoveList.model_validate({"items": [m.as_dict() for m in moves]})


@versions_router.post(
    "/projects/{project}/model-retirement-policy/run", response_model=RetirementMoveList
)
def run_retirement(project: str, models: Models, model: PolicyModel = None) -> RetirementMoveList:
    """Apply the retirement policies (project admins): each move a status change request
    by the system actor with its rule as the comment."""
    moves = models.run_retirement(project=project, name=model)
    return RetirementMoveList.model_validate({"items": [m.as_dict() for m in moves]})


# -- helpers --------------------------------------------------------------------------------


def _request(request: TransitionRequest) -> TransitionRequestPublic:
    return TransitionRequestPublic.model_validate(request.as_dict())


def _get(models: ModelService, project: str, name: str, ref: str) -> ModelVersion:
    """The version ``ref`` names: digits are a number, ``latest`` the newest, anything
    else an alias."""
    if _VERSION_NUMBER.match(ref):
        if len(ref) > 18:
            raise InvalidInput(f"version {ref} is out of range", field="ref")
        return models.get_version(name, project=project, version=int(ref))
    if ref == "latest":
        return models.get_version(name, project=project)
    return models.get_version(name, project=project, alias=ref)


def _ref(name: str, ref: str) -> str:
    """The reference :meth:`ModelService.resolve` takes for a path's ``{ref}``."""
    if _VERSION_NUMBER.match(ref):
        return f"{name}/{ref}"
    return name if ref == "latest" else f"{name}@{ref}"


def _evaluate_staged(
    models: ModelService, staged: Path, ref: str, target: str, **options: Any
) -> Evaluation:
    """Evaluate on the Arrow IPC stream in the file ``staged``, each batch validated."""
    import pyarrow as pa

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            with pa.OSFile(str(staged)) as source:
                for batch in pa.ipc.open_stream(source):
                    batch.validate(full=True)
                    yield batch
        except (pa.ArrowException, OSError, ValueError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InvalidInput(
                f"the body is not a valid Arrow IPC stream ({ARROW_STREAM}): {detail}",
                field="body",
            ) from None

    return models.evaluate(ref, batches(), target, **options)


def _version(version: ModelVersion) -> ModelVersionPublic:
    return ModelVersionPublic.model_validate(version.as_dict())


def _version_record(staged: Path) -> dict[str, Any]:
    """The JSON object of the upload's ``MODELYARD.version`` global record ({} without
    one): read from the first header block, bounded before anything is parsed."""
    with open(staged, "rb") as tar:
        block = tar.read(_BLOCK)
        if len(block) < _BLOCK or block[156:157] != tarfile.XGLTYPE:
            return {}
        try:
            header = tarfile.TarInfo.frombuf(block, "utf-8", "strict")
        except tarfile.HeaderError as exc:
            raise InvalidInput(f"not a valid tar stream: {exc}", field="body") from None
        if header.size > _MAX_RECORD:
            raise InvalidInput(
                f"the tar stream's global header is over {_MAX_RECORD} bytes", field="body"
            )
        tar.seek(0)
        try:
            with tarfile.open(fileobj=tar, mode="r|") as stream:
                text = stream.pax_headers.get(VERSION_RECORD)
        except (tarfile.TarError, EOFError, UnicodeError) as exc:
            raise InvalidInput(f"not a valid tar stream: {exc}", field="body") from None
    if text is None:
        return {}
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{VERSION_RECORD} must be JSON: {exc}", field="body") from None
    if not isinstance(record, dict) or not set(record) <= _RECORD_KEYS:
        raise InvalidInput(
            f"{VERSION_RECORD} must be a JSON object of {', '.join(sorted(_RECORD_KEYS))}",
            field="body",
        )
    if not isinstance(record.get("description", ""), str):
        raise InvalidInput("description must be text", field="description")
    return {key: value for key, value in record.items() if value is not None}
