"""Modelyard: versioned data, tracked experiments, pipelines, registry, serving, monitoring.

The SDK surface. ``Client`` is the explicit object; the functions here are thin sugar
that use a Client built from the settings (environment, ``modelyard.toml``, defaults).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from modelyard import alerts as alerts  # the ``modelyard.alerts`` sugar (light)
from modelyard import costs as costs  # the ``modelyard.costs`` sugar (light)
from modelyard import datasets as datasets  # the ``modelyard.datasets`` sugar (light)
from modelyard import deployments as deployments  # the ``modelyard.deployments`` sugar (light)
from modelyard import loops as loops  # the ``modelyard.loops`` sugar (light)
from modelyard import models as models  # the ``modelyard.models`` sugar (light)
from modelyard import monitors as monitors  # the ``modelyard.monitors`` sugar (light)
from modelyard import pipelines as pipelines  # ``modelyard.pipelines`` (light until run)
from modelyard import predictions as predictions  # the ``modelyard.predictions`` sugar (light)
from modelyard._version import __version__
from modelyard.config import Settings, load_settings
from modelyard.errors import (
    AlreadyExists,
    Conflict,
    CorruptBlob,
    DataValidationError,
    InvalidInput,
    MissingDependency,
    ModelyardError,
    NotFound,
    PermissionDenied,
    PolicyViolation,
    StorageError,
)
from modelyard.pipelines import pipeline, step
from modelyard.sdk.client import DEFAULT_PROJECT, Client

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.datasets.entities import DatasetVersion
    from modelyard.lineage.graph import LineageGraph
    from modelyard.sdk.run import ActiveRun
    from modelyard.serving.scoring import Scored
    from modelyard.tracking import MetricHistory, Run, RunPage


__all__ = [
    "DEFAULT_PROJECT",
    "AlreadyExists",
    "Client",
    "Conflict",
    "CorruptBlob",
    "DataValidationError",
    "InvalidInput",
    "MissingDependency",
    "ModelyardError",
    "NotFound",
    "PermissionDenied",
    "PolicyViolation",
    "Settings",
    "StorageError",
    "__version__",
    "active_run",
    "autolog",
    "connect",
    "get_metric_history",
    "get_run",
    "lineage",
    "load_settings",
    "pipeline",
    "predict",
    "search_runs",
    "start_run",
    "step",
]


def connect(url: str, token: str | None = None, **overrides: Any) -> Client:
    """A Client that tracks on the Modelyard server at ``url`` (remote mode); other
    settings come from ``overrides``, the environment and ``modelyard.toml``."""
    tracking = {**overrides.pop("tracking", {}), "uri": url}
    if token is not None:
        tracking["token"] = token
    return Client(load_settings(tracking=tracking, **overrides))


def active_run() -> ActiveRun | None:
    """The innermost run entered with ``with`` in this context, if any."""
    from modelyard.sdk.run import active_run as _active

    return _active()


def start_run(
    project: str | None = None,
    name: str | None = None,
    *,
    parent: ActiveRun | str | None = None,
    tags: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    run_id: str | None = None,
    settings: Settings | None = None,
) -> ActiveRun:
    """Start a run (a child of the active run, if there is one), or resume ``run_id``.
    Use it with ``with`` so it ends and flushes for sure."""
    outer = active_run()
    if outer is not None and settings is None:
        return outer.client.start_run(
            project,
            name=name,
            parent=parent or (None if run_id else outer),
            tags=tags,
            params=params,
            run_id=run_id,
        )
    client = Client(settings)
    return client.start_run(
        project,
        name=name,
        parent=parent,
        tags=tags,
        params=params,
        run_id=run_id,
        _owns_client=True,
    )


def search_runs(
    project: str,
    filter: str | None = None,
    order_by: Sequence[str] | str | None = None,
    max_results: int = 1000,
    page_token: str | None = None,
    output: Literal["pandas", "list"] = "pandas",
    *,
    settings: Settings | None = None,
) -> pd.DataFrame | RunPage:
    """Search a project's runs: ``filter="metrics.auc > 0.8 and params.depth = '8'"``."""
    with Client(settings) as client:
        return client.search_runs(
            project,
            filter=filter,
            order_by=order_by,
            max_results=max_results,
            page_token=page_token,
            output=output,
        )


def get_run(run: str | Run | ActiveRun, *, settings: Settings | None = None) -> Run:
    """One run (by id or object) with its params, latest metrics and tags."""
    with Client(settings) as client:
        return client.get_run(run)


def get_metric_history(
    run: str | Run | ActiveRun,
    key: str,
    max_points: int | None = None,
    *,
    settings: Settings | None = None,
) -> MetricHistory:
    """Every point of one metric (downsampled to ``max_points`` when given)."""
    with Client(settings) as client:
        return client.get_metric_history(run, key, max_points=max_points)


def lineage(
    obj: object,
    *,
    direction: Literal["up", "down", "both"] = "up",
    depth: int = 3,
    settings: Settings | None = None,
) -> LineageGraph:
    """What produced ``obj`` (``up``: the runs and data it was made from), what depends
    on it (``down``), or both, to ``depth`` hops. ``obj`` is a run, a dataset version or a
    ``(kind, id)`` pair."""
    with Client(settings) as client:
        return client.lineage(obj, direction=direction, depth=depth)


def predict(
    target: str,
    input: DatasetVersion | str,
    *,
    output: str,
    project: str = DEFAULT_PROJECT,
    batch_rows: int | None = None,
    columns: Sequence[str] = (),
    ray: bool = False,
    settings: Settings | None = None,
) -> Scored:
    """Batch scoring: predict every row of a dataset version (``dataset:NAME@VERSION``)
    with a deployment's champion or a model version (``model@alias``, ``model/3``) and
    register the predictions as a new version of dataset ``output`` (see
    :meth:`Client.predict`)."""
    with Client(settings) as client:
        return client.predict(
            target,
            input,
            output=output,
            project=project,
            batch_rows=batch_rows,
            columns=columns,
            ray=ray,
        )


def autolog(project: str | None = None, *, log_models: bool = True, disable: bool = False) -> None:
    """Record params, fit time, training score and the fitted model of every scikit-learn
    ``fit`` (into the active run, or a new run in ``project``)."""
    from modelyard.sdk.autolog import configure

    configure(project=project, log_models=log_models, disable=disable)
