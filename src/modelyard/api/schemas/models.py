"""Registered models, versions, aliases and signature comparisons on the wire (a
version's files travel as a tar stream, ``application/x-tar``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from modelyard import limits
from modelyard.api.schemas._types import Description, Public, RunId, ShortText, TagValue, Text

__all__ = [
    "AliasAtPublic",
    "AliasMovePage",
    "AliasMovePublic",
    "AliasSet",
    "CardFields",
    "DecisionCreate",
    "ModelCardPublic",
    "ModelCreate",
    "ModelPage",
    "ModelPublic",
    "ModelUpdate",
    "ModelVersionPage",
    "ModelVersionPublic",
    "PolicyPublic",
    "PolicySet",
    "ReasonBody",
    "RegisterCheck",
    "RegisterFromRun",
    "RetirementMoveList",
    "RetirementMovePublic",
    "RetirementPolicyPublic",
    "SignatureDiffPublic",
    "TransitionCreate",
    "TransitionRequestPage",
    "TransitionRequestPublic",
]

TagKey = Annotated[Text, Field(json_schema_extra={"maxLength": limits.KEY})]
Owners = Annotated[list[ShortText], Field(max_length=50, description="User names.")]
Tags = Annotated[dict[TagKey, TagValue], Field(max_length=100)]


class ModelCreate(BaseModel):
    name: ShortText
    description: Description = ""
    owners: Owners | None = Field(None, description="Who owns it (default: its creator).")
    tags: Tags | None = None


class ModelUpdate(BaseModel):
    """What to change: a field left out stays as it is."""

    description: Description | None = None
    owners: Owners | None = None
    tags: Tags | None = None


class ModelPublic(Public):
    id: str
    project: str
    name: str
    description: str
    owners: list[str]
    tags: dict[str, str]
    created_by: str
    created_at: int
    updated_at: int
    latest_version: int | None = Field(description="The newest version's number, if any.")
    aliases: dict[str, int] = Field(description="Each alias and the version it points at.")


class ModelPage(Public):
    items: list[ModelPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class ModelVersionPublic(Public):
    id: str
    project: str
    name: str
    version: int
    tree_digest: str = Field(description="The blob tree of its files (BLAKE3).")
    size_bytes: int
    flavor: str
    flavor_config: dict[str, Any]
    packages: dict[str, str] = Field(description="The packages it needs, pinned.")
    signature: dict[str, Any] | None = Field(description="Its inputs and outputs, if known.")
    input_example: str | None = Field(description="The example's path among its files.")
    run_id: str | None
    metrics: dict[str, float | None] = Field(description="Its run's metrics when registered.")
    dataset_versions: list[str] = Field(description="The dataset versions its run read.")
    code_commit: str | None
    description: str
    created_by: str
    created_at: int
    aliases: list[str]
    status: str = Field(description="registered, staging, production, archived or retired (final).")


class ModelVersionPage(Public):
    items: list[ModelVersionPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class RegisterCheck(BaseModel):
    flavor: ShortText = Field(description="The flavor the files would be written by.")
    run_id: RunId | None = Field(None, description="The run they would come from.")


class RegisterFromRun(BaseModel):
    run_id: RunId = Field(description="The run whose artifact folder is registered.")
    path: Text = Field(max_length=1024, description="The artifact folder, laid out as a version.")
    flavor: ShortText = Field(description="The flavor that wrote the files.")
    flavor_config: dict[str, Any] | None = Field(None, description="The flavor's configuration.")
    packages: dict[ShortText, ShortText] | None = Field(
        None, max_length=500, description="Package name to version."
    )
    signature: dict[str, Any] | None = Field(None, description="The version's signature.")
    input_example: ShortText | None = Field(
        None, description="The input example's path among the files."
    )
    description: Description = Field("", description="What this version is.")


class AliasSet(BaseModel):
    version: int = Field(ge=1, le=limits.INTEGER, description="The version number to point at.")
    reason: Description = Field("", description="Why (kept with the move).")


class AliasMovePublic(Public):
    name: str
    alias: str
    from_version: int | None = Field(description="Where it pointed before (null: it was new).")
    to_version: int | None = Field(description="Where it points now (null: removed).")
    moved_by: str
    moved_at: int
    reason: str


class AliasMovePage(Public):
    items: list[AliasMovePublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class AliasAtPublic(Public):
    version: int | None = Field(description="The version it pointed at then (null: none).")


class SignatureDiffPublic(Public):
    """How the second version's signature differs from the first's (a retyped column:
    ``[name, before, after]``)."""

    same: bool
    added: list[str]
    removed: list[str]
    retyped: list[tuple[str, str, str]]
    outputs_added: list[str]
    outputs_removed: list[str]
    outputs_retyped: list[tuple[str, str, str]]


class ModelCardPublic(Public):
    """A version's model card (``?format=md`` or ``html`` renders it)."""

    project: str
    name: str
    version: int
    status: str
    description: str
    owners: list[str]
    aliases: list[str]
    flavor: str
    packages: dict[str, str]
    run_id: str | None
    code_commit: str | None
    params: dict[str, str] = Field(description="Its run's parameters.")
    metrics: dict[str, float | None] = Field(description="Its run's metrics when registered.")
    datasets: list[dict[str, Any]] = Field(
        description="The training dataset versions: digest, rows, columns, profile summary."
    )
    evaluation: dict[str, Any] | None = Field(description="The latest evaluation's headline.")
    fields: dict[str, str] = Field(description="The fields people filled in.")
    created_by: str
    created_at: int
    updated_by: str | None
    updated_at: int | None


class CardFields(BaseModel):
    """The model service checks the names and texts (its refusal names the field)."""

    fields: dict[str, Any] = Field(
        description="Card fields to set, at most 50 (intended_use, limitations, "
        "ethical_considerations, license or any snake_case name of at most 64 characters) "
        f"to text of at most {limits.DESCRIPTION} characters; an empty text clears one."
    )


class TransitionCreate(BaseModel):
    to: ShortText = Field(description="registered, staging, production, archived or retired.")
    comment: Description = ""


class DecisionCreate(BaseModel):
    comment: Description = ""


class RuleCheckPublic(Public):
    rule: str
    passed: bool
    observed: str
    bound: str


class DecisionPublic(Public):
    decided_by: str
    decision: str = Field(description="approve or reject.")
    comment: str
    decided_at: int


class TransitionRequestPublic(Public):
    id: str
    project: str
    name: str
    version: int
    from_status: str
    to_status: str
    comment: str
    state: str = Field(description="open, applied, rejected or refused.")
    approvals_needed: int
    checks: list[RuleCheckPublic] = Field(description="The policy's rules as last judged.")
    decisions: list[DecisionPublic]
    requested_by: str
    requested_at: int
    closed_at: int | None


class TransitionRequestPage(Public):
    items: list[TransitionRequestPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class PolicySet(BaseModel):
    source: Annotated[Text, Field(json_schema_extra={"maxLength": limits.MODEL_JSON})] = Field(
        description="The policy in YAML."
    )


class PolicyPublic(Public):
    project: str
    model: str | None
    scope: str = Field(description="model, project, or none (no policy set).")
    policy: dict[str, Any]
    source: str = Field(description="The YAML as it was set.")
    updated_by: str | None
    updated_at: int | None


class EvaluationCreate(BaseModel):
    """Evaluate a version on a dataset version stored on the server (by its id)."""

    dataset_version_id: str = Field(
        pattern=r"^[0-9a-f]{32}$", description="The dataset version to evaluate on."
    )
    target: ShortText = Field(description="The column holding the true values.")
    baseline: ShortText | None = Field(
        None, description="Another version (`name/3`, `name@alias`) to compare with."
    )
    slices: list[ShortText] = Field([], max_length=100, description="Columns to slice by.")
    task: ShortText | None = Field(None, description="`classification` or `regression`.")
    seed: int = Field(0, ge=0, le=limits.INTEGER)
    sample_rows: int = Field(5000, ge=10, le=limits.INTEGER)
    bootstrap: int = Field(200, ge=10, le=limits.INTEGER)


class EvaluationPublic(Public):
    id: str
    project: str
    name: str
    version: int
    baseline: str | None = Field(description="The version compared with (`name/3`), if any.")
    task: str
    target: str
    rows: int
    source: str
    metrics: dict[str, Any] = Field(description="The headline metrics.")
    report: dict[str, Any] = Field(description="The whole report.")
    created_by: str
    created_at: int


class ReasonBody(BaseModel):
    reason: Description = ""


class RetirementPolicyPublic(Public):
    project: str
    model: str | None
    scope: str = Field(description="model, project, or none (no retirement policy set).")
    policy: dict[str, Any]
    source: str = Field(description="The YAML as it was set.")
    updated_by: str | None
    updated_at: int | None


class RetirementMovePublic(Public):
    project: str
    name: str
    version: int
    from_status: str
    to_status: str
    rule: str = Field(description="The rule of the retirement policy that makes the move.")
    outcome: str = Field(description="planned (a dry run), applied, requested, refused or skipped.")
    detail: str
    request_id: str | None


class RetirementMoveList(Public):
    items: list[RetirementMovePublic]
