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
    from modelyard.pipelines.explanations import StepExplanation
    from modelyard.sdk.client import Client

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
    from modelyard.sdk.client import Client

    if client is not None:
        return _explain(client, run_id)
    with Client() as own:
        return _explain(own, run_id)


def _explain(client: Client, run_id: str) -> list[StepExplanation]:
    from modelyard.pipelines.explanations import explain as explain_here
    from modelyard.remote.pipelines import explain as explain_remote

    if client.is_remote:
        return explain_remote(client._session(), run_id)
    return explain_here(client, run_id)
