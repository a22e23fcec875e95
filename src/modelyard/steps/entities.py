"""What the step index keeps: a step run's cache key parts, its stored output and its
record (plain value objects, never table rows)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from blake3 import blake3

from modelyard._util import canonical_json

__all__ = ["KeyParts", "OutputRef", "StepRecord"]


@dataclass(frozen=True, slots=True)
class KeyParts:
    """What a cache key is computed from (kept with each step run for ``explain``)."""

    function: str
    code: dict[str, str]
    constants: dict[str, str]
    params: dict[str, Any]
    inputs: dict[str, str]
    env: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)

    def key(self) -> str:
        return blake3(self.to_json().encode()).hexdigest()

    def to_json(self) -> str:
        parts = asdict(self)
        if not self.files:  # the keys of steps without file params stay as they were
            del parts["files"]
        return canonical_json(parts)

    @classmethod
    def from_json(cls, text: str) -> KeyParts:
        return cls(**json.loads(text))


@dataclass(frozen=True, slots=True)
class OutputRef:
    """A stored step output: the artifact (``path`` in the run that made it, blob
    ``digest``, ``kind`` file or tree, ``size``) and the materializer that reads it."""

    path: str
    digest: str
    kind: str
    size: int
    materializer: str
    type: str
    dataset: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "digest": self.digest,
            "kind": self.kind,
            "size": self.size,
            "materializer": self.materializer,
            "type": self.type,
            "dataset": self.dataset,
        }


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step run as the index keeps it."""

    run_id: str
    pipeline_run_id: str
    pipeline: str
    step: str
    cache_key: str
    parts: KeyParts
    cached: bool
    source_run_id: str | None
    output: OutputRef | None
    created_at: int
    status: str
