"""One contract per service: each service the SDK uses has a typed Protocol that the
embedded service and its remote class both implement (mypy checks the types: ``Client``
holds each as its contract), with the very signatures of the contract; what the embedded
service has beyond it is listed here with the reason."""

from __future__ import annotations

import inspect

import pytest

from modelyard.datasets.contract import DatasetContract
from modelyard.datasets.service import DatasetService
from modelyard.events.contract import WebhookContract
from modelyard.events.service import WebhookService
from modelyard.lineage.contract import LineageContract
from modelyard.lineage.service import LineageService
from modelyard.monitoring.alerts import AlertService
from modelyard.monitoring.contract import AlertContract, CostContract, LoopContract, MonitorContract
from modelyard.monitoring.costs import CostService
from modelyard.monitoring.loop import LoopService
from modelyard.monitoring.service import MonitorService
from modelyard.predictions.contract import PredictionContract
from modelyard.predictions.service import PredictionService
from modelyard.projects.contract import ProjectContract
from modelyard.projects.service import ProjectService
from modelyard.registry.contract import ModelContract
from modelyard.registry.service import ModelService
from modelyard.remote.alerts import RemoteAlerts
from modelyard.remote.costs import RemoteCosts
from modelyard.remote.datasets import RemoteDatasets
from modelyard.remote.deployments import RemoteDeployments
from modelyard.remote.lineage import RemoteLineage
from modelyard.remote.loops import RemoteLoops
from modelyard.remote.models import RemoteModels
from modelyard.remote.monitors import RemoteMonitors
from modelyard.remote.predictions import RemotePredictions
from modelyard.remote.projects import RemoteProjects
from modelyard.remote.schedules import RemoteSchedules
from modelyard.remote.tracking import RemoteTracking
from modelyard.remote.webhooks import RemoteWebhooks
from modelyard.schedules.contract import ScheduleContract
from modelyard.schedules.service import ScheduleService
from modelyard.serving.contract import DeploymentContract
from modelyard.serving.service import DeploymentService
from modelyard.tracking.contract import TrackingContract
from modelyard.tracking.service import TrackingService

#: The server's own: it makes one service per request, acting for its caller.
SERVER = {"acting_as"}
#: Garbage collection runs next to the blob store.
GC = {"referenced_digests", "tree_digests"}

CONTRACTS = [
    (ProjectContract, ProjectService, RemoteProjects, SERVER),
    (
        TrackingContract,
        TrackingService,
        RemoteTracking,
        SERVER
        | GC
        | {
            # Answered where the store is: every read sweeps lost runs on the server.
            "sweep_lost",
            "count_runs",
            "prune_write_batches",
            # The server checks an upload before it stages it, then records it.
            "check_run_access",
            "check_artifact",
            "record_artifact",
            # Other services ask inside their own transaction (datasets, lineage).
            "check_run_open",
            "require_run",
            # The web UI's runs table counts its rows' children where the store is.
            "child_counts",
        },
    ),
    (DatasetContract, DatasetService, RemoteDatasets, SERVER | GC | {"check_register"}),
    # A pipeline records a step run's edges where the store is.
    (LineageContract, LineageService, RemoteLineage, SERVER | {"record_run_edges"}),
    (
        ModelContract,
        ModelService,
        RemoteModels,
        # The registry computes the reports it keeps (evaluate): one from a caller is not
        # taken through a server.
        SERVER
        | GC
        | {"check_evaluate", "record_evaluation"}
        # A status changes inside the transaction of an applied request (or a retirement).
        | {"change_status"}
        # A deployment's promotion moves an alias in the transaction of its plan.
        | {"move_alias"}
        # The server's files route checks a version before it streams them.
        | {"check_load"},
    ),
    # The worker and the report route judge rollouts where the store is; the web UI's
    # deployment page reads the servers' reports there (traffic).
    (DeploymentContract, DeploymentService, RemoteDeployments, SERVER | {"evaluate", "traffic"}),
    (
        ScheduleContract,
        ScheduleService,
        RemoteSchedules,
        # A worker's: it works where the store is.
        SERVER | {"due", "claim", "take_over", "renew", "record_run", "finish", "with_clock"},
    ),
    # A pass builds each served version's reference where the store is; the worker finds
    # what to pass over where the store is; a replay passes on its own clock there.
    (
        MonitorContract,
        MonitorService,
        RemoteMonitors,
        SERVER | GC | {"reference", "monitored", "segments_logged", "with_clock"},
    ),
    # The server reads a page at a time (RemotePredictions.load follows the pages).
    (PredictionContract, PredictionService, RemotePredictions, SERVER | GC | {"page"}),
    (
        WebhookContract,
        WebhookService,
        RemoteWebhooks,
        # A worker's: it delivers where the store is.
        SERVER | {"claim", "record_attempt", "backoff_ms"},
    ),
    # The worker checks the budgets where the store is.
    (CostContract, CostService, RemoteCosts, SERVER | {"check_budgets"}),
    # A replay (the quickstart's story) judges on its own clock where the store is.
    (AlertContract, AlertService, RemoteAlerts, SERVER | {"with_clock"}),
    (
        LoopContract,
        LoopService,
        RemoteLoops,
        # A worker's: it starts and advances loops where the store is.
        SERVER | {"trigger", "claim", "renew", "advance", "with_clock"},
    ),
]


def _public(cls: type) -> set[str]:
    return {n for n, _ in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}


@pytest.mark.parametrize(
    ("contract", "embedded", "remote", "embedded_only"),
    CONTRACTS,
    ids=[c[0].__name__ for c in CONTRACTS],
)
def test_both_sides_implement_the_contract_with_its_signatures(
    contract: type, embedded: type, remote: type, embedded_only: set[str]
) -> None:
    surface = _public(contract)
    assert _public(embedded) - surface == embedded_only
    assert _public(remote) == surface
    for name in sorted(surface):
        wanted = inspect.signature(getattr(contract, name))
        for side in (embedded, remote):
            assert inspect.signature(getattr(side, name)) == wanted, f"{side.__name__}.{name}"
