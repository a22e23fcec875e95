"""Deployments' prediction logs and their labels.

>>> import modelyard as my                                                   # doctest: +SKIP
>>> my.predictions.add_labels("churn", {"9f0c...-0": 1}, project="shop")      # doctest: +SKIP
>>> df = my.predictions.load("churn", since=datetime(2026, 12, 1), project="shop")  # doctest: +SKIP

These functions are thin sugar over ``Client.predictions``
(:class:`~modelyard.predictions.contract.PredictionContract`): each uses the active run's
client, or a Client built from the settings (``settings=`` or the environment); the
project defaults to the active run's, else ``default``. Importing this module is light.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelyard.predictions.entities import Segment
from modelyard.sdk.client import DEFAULT_PROJECT, client_for

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.config import Settings

__all__ = ["Segment", "add_labels", "load"]


def _project(project: str | None) -> str:
    if project is not None:
        return project
    from modelyard.sdk.run import active_run

    run = active_run()
    return str(run.project) if run is not None else DEFAULT_PROJECT


def load(
    deployment: str,
    *,
    since: datetime | int | None = None,
    until: datetime | int | None = None,
    version: str | int | None = None,
    with_labels: bool = True,
    project: str | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """The predictions ``deployment`` answered from ``since`` to ``until`` (datetimes,
    naive ones UTC, or ms since the epoch), by the version ``version`` (id or number) or
    any, joined with their labels: see
    :meth:`~modelyard.predictions.service.PredictionService.load` for the columns."""
    with client_for(settings) as client:
        return client.predictions.load(
            _project(project),
            deployment,
            since=since,
            until=until,
            version=version,
            with_labels=with_labels,
        )


def add_labels(
    deployment: str,
    labels: Mapping[str, Any] | pd.DataFrame,
    *,
    project: str | None = None,
    settings: Settings | None = None,
) -> int:
    """Keep the ground truth of predictions: ``{prediction_id: label}`` or a DataFrame
    with ``prediction_id`` and ``label``; a later label of a prediction replaces the
    earlier. Returns how many were kept."""
    with client_for(settings) as client:
        return client.predictions.add_labels(_project(project), deployment, labels)
