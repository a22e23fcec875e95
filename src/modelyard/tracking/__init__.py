"""Experiment tracking: projects, runs, params, metrics, tags, artifacts, search."""

from modelyard.tracking.entities import ArtifactInfo, MetricHistory, Project, Run, RunPage
from modelyard.tracking.run import ActiveRun, active_run

__all__ = ["ActiveRun", "ArtifactInfo", "MetricHistory", "Project", "Run", "RunPage", "active_run"]
