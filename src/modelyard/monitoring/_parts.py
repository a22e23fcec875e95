"""What a monitoring pass is built from, as interfaces: the summaries it keeps per window,
what builds them, and the checks that judge a window. The pass (``passes.py``) depends on
these; ``services.py`` puts the real ones together.

A pass reads a log segment's rows once and, per model version and hour, builds a
:class:`WindowSummary` (the inputs' and outputs' sketches, latencies) with a
:class:`Summarizer`, merging it into the hour's stored summary; when labels come it
rebuilds the hour's :class:`PerformanceSummary` from the hour's outputs and their labels.
A day, or a sliding window, is its hours merged. Each monitor's :class:`Check` then judges
a window from a :class:`WindowInputs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.data.profile import Profile
    from modelyard.monitoring.entities import Finding

__all__ = [
    "Check",
    "PerformanceSummarizer",
    "PerformanceSummary",
    "Reference",
    "Summarizer",
    "WindowInputs",
    "WindowSummary",
]


@dataclass(frozen=True, slots=True)
class Reference:
    """What a served version's monitors compare against, read once per pass.

    ``features``: the signature's input names (the log's ``input.<name>`` columns);
    ``profile``: the profile of the dataset version it was trained on (None when it has
    none); ``evaluation``: its latest evaluation's report (``modelyard.registry
    .evaluation``; None when never evaluated), the baseline of prediction drift and live
    performance; ``task`` classification or regression (None: unknown); ``classes`` the
    model's classes in its order (its probability outputs' order), when it has them."""

    version_id: str
    version: str
    features: tuple[str, ...]
    profile: Profile | None = None
    evaluation: Mapping[str, Any] | None = None
    task: str | None = None
    classes: tuple[str, ...] = ()
    target: str | None = None


class WindowSummary(Protocol):
    """A mergeable summary of some logged predictions of one version: merging the
    summaries of two sets of rows gives the summary of their union (up to the sketches'
    documented error), whatever the order."""

    @property
    def rows(self) -> int: ...

    def merge(self, other: WindowSummary) -> WindowSummary:
        """The summary of both (``self`` may be changed and returned)."""
        ...

    def to_bytes(self) -> bytes:
        """A compact encoding :meth:`Summarizer.load` reads back."""
        ...


class Summarizer(Protocol):
    def summarize(self, table: pa.Table, reference: Reference) -> WindowSummary:
        """The summary of ``table``: some rows of one version's log, in the segment
        format (``input.<name>``, ``output`` or ``output.<name>``, ``latency_ms``...)."""
        ...

    def load(self, data: bytes) -> WindowSummary: ...


class PerformanceSummary(Protocol):
    """Mergeable accumulators of a window's live performance: realised metrics over the
    labelled rows, and the estimate over all rows where outputs are probabilities."""

    @property
    def rows(self) -> int: ...

    @property
    def labelled(self) -> int: ...

    def merge(self, other: PerformanceSummary) -> PerformanceSummary: ...

    def to_bytes(self) -> bytes: ...


class PerformanceSummarizer(Protocol):
    def summarize(
        self, outputs: pa.Table, labels: Sequence[Any], reference: Reference
    ) -> PerformanceSummary:
        """The performance of some rows: ``outputs`` has the log's output columns
        (``output`` or ``output.<name>``), ``labels`` one label per row (None: not
        labelled yet)."""
        ...

    def load(self, data: bytes) -> PerformanceSummary: ...


@dataclass(frozen=True, slots=True)
class WindowInputs:
    """What a check judges one window by (``start`` inclusive, ``end`` exclusive, ms).

    ``summary`` and ``performance`` are the window's hours merged (None: no rows);
    ``requests``, ``errors`` and ``latency_ms`` (counts per bucket of
    ``serving.rollouts.LATENCY_BUCKETS_MS``) are the servers' reports in the window;
    ``expected_rows`` is what the season predicts for the window's volume (None: no
    history); ``extra`` holds what a kind needs beyond these."""

    start: int
    end: int
    reference: Reference | None
    summary: WindowSummary | None
    performance: PerformanceSummary | None = None
    requests: int = 0
    errors: int = 0
    latency_ms: tuple[int, ...] = ()
    expected_rows: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class Check(Protocol):
    """How one kind of monitor judges a window."""

    #: Whether it needs the version's training profile (drift, quality: a monitor of the
    #: kind on a version without one is refused when it is created).
    needs_profile: bool

    def configure(self, config: Mapping[str, Any], reference: Reference | None) -> dict[str, Any]:
        """``config`` checked and completed with defaults; InvalidInput naming the field
        (``config.<key>``) and the reason when it is wrong."""
        ...

    def judge(self, config: Mapping[str, Any], window: WindowInputs) -> Finding: ...
