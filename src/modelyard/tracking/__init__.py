"""Experiment tracking: runs, params, metrics, tags, artifacts, search (the service; the
SDK's ``ActiveRun`` is in :mod:`modelyard.sdk.run`; ``Project`` is the project service's,
for the runs' namespace)."""

from modelyard.projects.entities import Project
from modelyard.tracking.entities import ArtifactInfo, MetricHistory, Run, RunPage

__all__ = ["ArtifactInfo", "MetricHistory", "Project", "Run", "RunPage"]
