"""The closed loop, as sugar: a deployment's loop policy and its runs.

>>> import modelyard as my                                                   # doctest: +SKIP
>>> my.loops.set_policy("churn-api", "loop.yaml contents", project="churn")   # doctest: +SKIP
>>> run = my.loops.start("churn-api", project="churn", reason="new data")    # doctest: +SKIP
>>> my.loops.decide(run.id, approve=True, project="churn")                   # doctest: +SKIP

These functions are thin sugar over ``Client.loops``
(:class:`~modelyard.monitoring.contract.LoopContract`): each uses the active run's client,
or a Client built from the settings (``settings=`` or the environment); the project is the
active run's, else ``default``, unless given. Importing this module is light.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelyard.deployments import _project
from modelyard.sdk.client import client_for

if TYPE_CHECKING:
    from modelyard.config import Settings
    from modelyard.monitoring.entities import LoopPolicy, LoopRun

__all__ = ["cancel", "decide", "get_policy", "get_run", "list_runs", "set_policy", "start"]


def set_policy(
    deployment: str,
    config: Mapping[str, Any] | str,
    *,
    project: str | None = None,
    settings: Settings | None = None,
) -> LoopPolicy:
    """Set the deployment's loop policy (a mapping or its YAML), checked whole."""
    with client_for(settings) as client:
        return client.loops.set_policy(deployment, config, project=_project(project))


def get_policy(
    deployment: str, *, project: str | None = None, settings: Settings | None = None
) -> LoopPolicy:
    """The deployment's loop policy, its defaults filled in."""
    with client_for(settings) as client:
        return client.loops.get_policy(deployment, project=_project(project))


def start(
    deployment: str,
    *,
    project: str | None = None,
    reason: str = "",
    settings: Settings | None = None,
) -> LoopRun:
    """Start a loop now; Conflict while one is under way (a worker advances it)."""
    with client_for(settings) as client:
        return client.loops.start(deployment, project=_project(project), reason=reason)


def get_run(
    run_id: str, *, project: str | None = None, settings: Settings | None = None
) -> LoopRun:
    """One loop run with its steps and lineage."""
    with client_for(settings) as client:
        return client.loops.get_run(run_id, project=_project(project))


def list_runs(
    deployment: str,
    *,
    project: str | None = None,
    limit: int = 50,
    settings: Settings | None = None,
) -> list[LoopRun]:
    """The deployment's loop runs, newest first."""
    with client_for(settings) as client:
        return client.loops.list_runs(deployment, project=_project(project), limit=limit)


def decide(
    run_id: str,
    *,
    approve: bool,
    project: str | None = None,
    comment: str = "",
    settings: Settings | None = None,
) -> LoopRun:
    """A person's decision on a loop run waiting for one."""
    with client_for(settings) as client:
        return client.loops.decide(
            run_id, project=_project(project), approve=approve, comment=comment
        )


def cancel(
    run_id: str, *, project: str | None = None, reason: str = "", settings: Settings | None = None
) -> LoopRun:
    """End a loop run under way; a canary it started goes back to the champion."""
    with client_for(settings) as client:
        return client.loops.cancel(run_id, project=_project(project), reason=reason)
