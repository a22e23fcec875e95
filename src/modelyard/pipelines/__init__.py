"""Pipelines: steps and DAGs of them, run as tracked runs with content-addressed caching.

``@step`` and ``@pipeline`` are light to import; running a pipeline imports the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.pipelines.materializers import Materializer, register_materializer
from modelyard.pipelines.pipeline import Pipeline, pipeline
from modelyard.pipelines.refs import load_pipeline
from modelyard.pipelines.step import Step, StepOptions, step

if TYPE_CHECKING:
    from modelyard.client import Client
    from modelyard.pipelines.explanations import StepExplanation

__all__ = [
    "Materializer",
    "Pipeline",
    "Step",
    "StepOptions",
    "explain",
    "load_pipeline",
    "pipeline",
    "register_materializer",
    "step",
]


def explain(run_id: str, *, client: Client | None = None) -> list[StepExplanation]:
    """Why each step of the pipeline run ``run_id`` ran or was served from the cache."""
    from modelyard.client import Client
    from modelyard.pipelines.explanations import explain as _explain

    if client is not None:
        return _explain(client, run_id)
    with Client() as own:
        return _explain(own, run_id)
