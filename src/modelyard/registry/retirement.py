"""Retirement policies: which versions the registry archives and retires on its own.

A retirement policy is set per project and, overriding it as a whole, per model. It is a
document of its own beside the lifecycle policy (:mod:`modelyard.registry.policy`): the
two are set by different people at different times, and each is kept as the YAML it was
set with. In YAML (or as a dict, or this dataclass)::

    keep_last: 5                       # the newest 5 are never moved; older ones are archived
    archive_unaliased_after_days: 30   # archive a version 30 days after it was registered
    retire_unused_after_days: 90       # retire a version nobody loaded for 90 days

The rules, as :func:`~modelyard.registry._retirement.plan` applies them:

- a version an alias points at is never moved by a policy, nor one with an open request;
- the newest ``keep_last`` versions are never moved by a policy;
- the archive rules move ``registered``, ``staging`` and ``production`` versions to
  ``archived``;
- ``retire_unused_after_days`` moves ``registered`` and ``archived`` versions whose last
  use (their last load, else their registration) is older to ``retired``: a ``staging``
  or ``production`` version is archived first (by an archive rule), and retired by a
  later run;
- a version gets one move per run; retirement wins over archiving.

Each move is a status change request, judged by the model's lifecycle policy like one
made by hand: a gate with approvals leaves it open for approvers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from modelyard import limits
from modelyard.errors import InvalidInput

__all__ = [
    "ModelRetirementPolicy",
    "RetirementMove",
    "RetirementPolicy",
]

_RULES = ("keep_last", "archive_unaliased_after_days", "retire_unused_after_days")
_MAX_KEEP = 100_000
_MAX_DAYS = 100 * 366
DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class RetirementPolicy:
    """The rules of a retirement policy (None: the rule is off)."""

    keep_last: int | None = None
    archive_unaliased_after_days: float | None = None
    retire_unused_after_days: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {r: getattr(self, r) for r in _RULES if getattr(self, r) is not None}

    def to_yaml(self) -> str:
        import yaml

        return str(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_dict(cls, data: object) -> RetirementPolicy:
        """A policy from its mapping; InvalidInput naming the first unknown rule or bad
        value."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise InvalidInput(
                f"a retirement policy must be a mapping of rules ({', '.join(_RULES)})",
                field="policy",
            )
        for key in data:
            if key not in _RULES:
                raise InvalidInput(
                    f"unknown rule {limits.preview(key)} in the retirement policy: the rules "
                    f"are {', '.join(_RULES)}",
                    field=str(key),
                )
        keep = data.get("keep_last")
        if keep is not None and (
            isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= _MAX_KEEP
        ):
            raise InvalidInput(
                f"keep_last must be a whole number from 1 to {_MAX_KEEP}; got "
                f"{limits.preview(keep)}",
                field="keep_last",
            )
        days = {r: _days(r, data.get(r)) for r in _RULES[1:]}
        return cls(keep_last=keep, **days)

    @classmethod
    def from_yaml(cls, text: str) -> RetirementPolicy:
        import yaml

        if not isinstance(text, str):
            raise InvalidInput("a retirement policy's YAML must be text", field="policy")
        limits.check_text(text, "policy", limits.MODEL_JSON)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput(
                f"the retirement policy is not YAML: {exc}", field="policy"
            ) from None
        return cls.from_dict(data)

    @classmethod
    def parse(cls, policy: RetirementPolicy | dict[str, Any] | str) -> RetirementPolicy:
        """A policy from itself, its mapping or its YAML."""
        if isinstance(policy, RetirementPolicy):
            return cls.from_dict(policy.to_dict())
        if isinstance(policy, str):
            return cls.from_yaml(policy)
        return cls.from_dict(policy)


def _days(rule: str, value: object) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= _MAX_DAYS
    ):
        raise InvalidInput(
            f"{rule} must be a number of days above 0 and at most {_MAX_DAYS}; got "
            f"{limits.preview(value)}",
            field=rule,
        )
    return float(value) if isinstance(value, float) else value


@dataclass(frozen=True, slots=True)
class ModelRetirementPolicy:
    """The retirement policy in force for a project (``model`` None) or one model: where
    it comes from (``scope``: ``model``, ``project`` or ``none``), its YAML as it was set,
    who set it and when."""

    project: str
    model: str | None
    scope: str
    policy: RetirementPolicy
    source: str
    updated_by: str | None
    updated_at: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "model": self.model,
            "scope": self.scope,
            "policy": self.policy.to_dict(),
            "source": self.source,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class RetirementMove:
    """One move a retirement policy makes (or, in a dry run, would make): which version,
    from which status to which, by which rule, and what came of it (``planned`` in a dry
    run; ``applied``, ``requested`` (open for approvers), ``refused`` by the lifecycle
    policy, or ``skipped`` when the version changed meanwhile; ``detail`` says why)."""

    project: str
    name: str
    version: int
    from_status: str
    to_status: str
    rule: str
    outcome: str
    detail: str = ""
    request_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
