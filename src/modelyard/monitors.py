"""Monitors on deployments, as sugar.

>>> import modelyard as my                                                       # doctest: +SKIP
>>> my.monitors.create("churn-api", "input-drift", "drift", project="churn")     # doctest: +SKIP
>>> my.monitors.apply(open("monitors.yaml").read(), project="churn")             # doctest: +SKIP
>>> my.monitors.values("churn-api", "input-drift", project="churn")              # doctest: +SKIP

These functions are thin sugar over ``Client.monitors``
(:class:`~modelyard.monitoring.contract.MonitorContract`): each uses the active run's
client, or a Client built from the settings (``settings=`` or the environment); the
project is the active run's, else ``default``, unless given. Importing this module is
light.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelyard.deployments import _project
from modelyard.sdk.client import client_for

if TYPE_CHECKING:
    from modelyard.config import Settings
    from modelyard.monitoring.entities import Monitor, PassReport, WindowValue

__all__ = ["apply", "create", "delete", "get", "list_monitors", "run_pass", "values"]


def create(
    deployment: str,
    name: str,
    kind: str,
    *,
    project: str | None = None,
    config: Mapping[str, Any] | None = None,
    window: str = "hour",
    slide: str | None = None,
    severity: str = "warning",
    settings: Settings | None = None,
) -> Monitor:
    """A new monitor on ``deployment`` (``docs/monitoring.md`` lists the kinds)."""
    with client_for(settings) as client:
        return client.monitors.create(
            deployment,
            name,
            kind,
            project=_project(project),
            config=config,
            window=window,
            slide=slide,
            severity=severity,
        )


def apply(
    spec: str | Mapping[str, Any], *, project: str | None = None, settings: Settings | None = None
) -> list[Monitor]:
    """Create or update the monitors a YAML document (or its mapping) declares, all or
    none."""
    with client_for(settings) as client:
        return client.monitors.apply(spec, project=_project(project))


def get(
    deployment: str, name: str, *, project: str | None = None, settings: Settings | None = None
) -> Monitor:
    with client_for(settings) as client:
        return client.monitors.get(deployment, name, project=_project(project))


def list_monitors(
    deployment: str, *, project: str | None = None, settings: Settings | None = None
) -> list[Monitor]:
    """The deployment's monitors by name."""
    with client_for(settings) as client:
        return client.monitors.list_monitors(deployment, project=_project(project))


def delete(
    deployment: str, name: str, *, project: str | None = None, settings: Settings | None = None
) -> None:
    """Delete a monitor and its values (its alerts stay)."""
    with client_for(settings) as client:
        client.monitors.delete(deployment, name, project=_project(project))


def run_pass(
    deployment: str, *, project: str | None = None, settings: Settings | None = None
) -> PassReport:
    """Run a monitoring pass over ``deployment`` now."""
    with client_for(settings) as client:
        return client.monitors.run_pass(deployment, project=_project(project))


def values(
    deployment: str,
    name: str,
    *,
    project: str | None = None,
    since: int | None = None,
    until: int | None = None,
    version: str | None = None,
    newest: int | None = None,
    settings: Settings | None = None,
) -> list[WindowValue]:
    """A monitor's values per window from ``since`` to ``until`` (ms), oldest first, for
    ``version`` (``model/3``) or all versions together; only the ``newest`` windows of
    those when given."""
    with client_for(settings) as client:
        return client.monitors.values(
            deployment,
            name,
            project=_project(project),
            since=since,
            until=until,
            version=version,
            newest=newest,
        )
