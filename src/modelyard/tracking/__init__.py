"""Experiment tracking: projects, runs, params, metrics, tags, artifacts, search (the
service; the SDK's ``ActiveRun`` is in :mod:`modelyard.sdk.run`)."""

from modelyard.tracking.entities import ArtifactInfo, MetricHistory, Project, Run, RunPage

__all__ = ["ArtifactInfo", "MetricHistory", "Project", "Run", "RunPage"]
