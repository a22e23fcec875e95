"""Plain value objects the tracking service returns (never table rows)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "RUN_STATUSES",
    "TERMINAL_STATUSES",
    "ArtifactInfo",
    "ArtifactSource",
    "MetricHistory",
    "Run",
    "RunPage",
    "TarArchive",
]

RUN_STATUSES = ("running", "finished", "failed", "killed", "lost")
TERMINAL_STATUSES = frozenset({"finished", "failed", "killed"})


@dataclass(frozen=True, slots=True)
class Run:
    """A snapshot of one run: attributes plus params, latest metrics and tags."""

    id: str
    project: str
    name: str
    status: str
    start_time: int
    end_time: int | None
    parent_id: str | None = None
    user: str = ""
    host: str = ""
    entry_point: str = ""
    error: str | None = None
    wall_time_s: float | None = None
    cpu_time_s: float | None = None
    peak_rss_bytes: int | None = None
    gpu_time_s: float | None = None
    cost: float | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    deleted_at: int | None = None
    """When the run was deleted (epoch ms; hidden from lists until restored), else None."""

    @property
    def duration_s(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time) / 1000.0


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of search results and the token for the next one (None at the end)."""

    runs: list[Run]
    next_page_token: str | None

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)


@dataclass(frozen=True, slots=True)
class MetricHistory:
    """The points of one metric of one run, in step order, as parallel lists."""

    run_id: str
    key: str
    steps: list[int]
    values: list[float]
    timestamps: list[int]
    total_points: int

    @property
    def downsampled(self) -> bool:
        return len(self.steps) < self.total_points

    def __len__(self) -> int:
        return len(self.steps)

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            {"step": self.steps, "value": self.values, "timestamp": self.timestamps}
        )

    def last(self) -> float:
        return self.values[-1] if self.values else math.nan


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    path: str
    digest: str
    kind: str
    size: int
    created_at: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "digest": self.digest,
            "kind": self.kind,
            "size": self.size,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class TarArchive:
    """A folder packed as a tar file (the format of ``artifacts/_tar.py``), to be stored
    as a tree: what the server stages from an ``application/x-tar`` upload."""

    path: Path


#: What an artifact is stored from: bytes, a local file, a local folder (stored as a tree)
#: or a tar archive of a folder (stored as a tree).
ArtifactSource: TypeAlias = bytes | Path | TarArchive
