"""The value objects of the model registry (never table rows): what the service returns,
the same embedded and, later, through a server."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from modelyard.registry.signature import Signature

__all__ = [
    "AliasMove",
    "Decision",
    "Evaluation",
    "ModelCard",
    "ModelVersion",
    "RegisteredModel",
    "RuleCheck",
    "TransitionRequest",
]


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A model name in a project, with its versions' count and aliases."""

    id: str
    project: str
    name: str
    description: str
    owners: list[str]
    tags: dict[str, str]
    created_by: str
    created_at: int
    updated_at: int
    latest_version: int | None
    aliases: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One immutable version: its files (a blob tree), how to load them, what it takes and
    gives, and what its run knew when it was registered."""

    id: str
    project: str
    name: str
    version: int
    tree_digest: str
    size_bytes: int
    flavor: str
    flavor_config: dict[str, Any]
    packages: dict[str, str]
    signature: Signature | None
    input_example: str | None
    run_id: str | None
    metrics: dict[str, float | None]
    dataset_versions: list[str]
    code_commit: str | None
    description: str
    created_by: str
    created_at: int
    aliases: list[str]
    status: str = "registered"

    @property
    def ref(self) -> str:
        """``name/version``, as :meth:`ModelService.resolve` reads it."""
        return f"{self.name}/{self.version}"

    def as_dict(self) -> dict[str, Any]:
        """Its fields (the values themselves, not copies: ``dataclasses.asdict`` copied each
        deeply, 50 µs a version, most of listing 100 versions through a server)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["signature"] = self.signature.as_dict() if self.signature is not None else None
        return data


@dataclass(frozen=True, slots=True)
class AliasMove:
    """An alias moved (``from_version`` None: it was new; ``to_version`` None: removed)."""

    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    moved_by: str
    moved_at: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """An evaluation of a version (``ref``) on some data, optionally against a baseline
    version (``baseline``: its ``name/version``): the headline metrics and the whole
    report (:mod:`modelyard.registry.evaluation` says what it holds); its HTML page is
    read with ``evaluation_html(id)``."""

    id: str
    project: str
    name: str
    version: int
    baseline: str | None
    task: str
    target: str
    rows: int
    source: str
    metrics: dict[str, Any]
    report: dict[str, Any]
    created_by: str
    created_at: int

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    def as_dict(self) -> dict[str, Any]:
        """Its fields (the report itself, not a deep copy of it)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class ModelCard:
    """A version's model card: what the registry knows about it (its run's parameters and
    metrics, the latest evaluation's headline metrics, the training data with its digests
    and profile summary, the code commit, the owners) and the ``fields`` people filled in
    (``intended_use``, ``limitations``, ``ethical_considerations``, ``license`` and any
    other). :mod:`modelyard.registry.cards` renders it as Markdown and HTML."""

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
    params: dict[str, str]
    metrics: dict[str, float | None]
    datasets: list[dict[str, Any]]
    evaluation: dict[str, Any] | None
    fields: dict[str, str]
    created_by: str
    created_at: int
    updated_by: str | None
    updated_at: int | None

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """One rule of a policy gate, judged: what was observed and the bound it had to meet."""

    rule: str
    passed: bool
    observed: str
    bound: str

    def describe(self) -> str:
        return f"{self.rule}: observed {self.observed}, bound {self.bound}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Decision:
    """An approval or a rejection of a status change, by an approver, with a comment."""

    decided_by: str
    decision: str
    comment: str
    decided_at: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TransitionRequest:
    """A request to move a version from ``from_status`` to ``to_status``. ``state``:
    ``open`` (waiting for approvals or for a rule to pass), ``applied`` (the status
    changed), ``rejected`` (by an approver) or ``refused`` (a rule failed when it was
    made). ``checks``: the policy's rules as last judged."""

    id: str
    project: str
    name: str
    version: int
    from_status: str
    to_status: str
    comment: str
    state: str
    approvals_needed: int
    checks: list[RuleCheck]
    decisions: list[Decision]
    requested_by: str
    requested_at: int
    closed_at: int | None

    @property
    def approvals(self) -> int:
        return sum(1 for d in self.decisions if d.decision == "approve")

    @property
    def failures(self) -> list[RuleCheck]:
        return [c for c in self.checks if not c.passed]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
