"""What a pipeline run returns: its run id and, per step, the step run and its output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.errors import NotFound
from modelyard.pipelines.index import OutputRef

if TYPE_CHECKING:
    from modelyard.sdk.client import Client

__all__ = ["PipelineResult", "StepResult"]


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of a pipeline run: its run, whether it was served from the cache (and
    from which run's outputs), and where its output is stored."""

    name: str
    run_id: str
    cached: bool
    source_run_id: str | None
    output: OutputRef


@dataclass(slots=True)
class PipelineResult:
    """A finished pipeline run. ``output(step)`` reads a step's output back from the
    artifact store."""

    pipeline: str
    run_id: str
    steps: dict[str, StepResult]
    client: Client = field(repr=False)

    def output(self, step: str) -> Any:
        """The value a step returned, loaded from its stored artifact."""
        from modelyard.pipelines.execute import load_output

        found = self.steps.get(step)
        if found is None:
            raise NotFound(
                f"pipeline run {self.run_id} has no step {step!r} "
                f"(its steps: {', '.join(self.steps)})",
                field="step",
            )
        return load_output(self.client, found.output)

    @property
    def cached(self) -> list[str]:
        """The steps served from the cache."""
        return [name for name, s in self.steps.items() if s.cached]

    @property
    def ran(self) -> list[str]:
        """The steps that ran."""
        return [name for name, s in self.steps.items() if not s.cached]
