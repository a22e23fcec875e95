"""Root of the command line: global options and the command groups."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import typer

try:  # typer 0.24+ carries its own copy of click, whose exceptions it raises
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer raises click's own
    from click import exceptions as click_errors  # type: ignore[no-redef]

from modelyard.cli import _common
from modelyard.cli._lazy import Lazy, LazyGroup


class Modelyard(LazyGroup):
    """The ``modelyard`` command: each command and command group is imported when it runs
    (or shows its own help); ``modelyard --help`` lists them from here."""

    lazy: ClassVar[Mapping[str, Lazy]] = {
        "lineage": Lazy(
            "modelyard.cli.lineage:lineage",
            "Show the lineage of a run, a dataset version or a model version as a tree.",
        ),
        "worker": Lazy(
            "modelyard.cli.schedules:worker",
            "Run scheduled pipelines: cron occurrences and new dataset versions as they come "
            "due, each in a fresh process, one line per fire on stderr; deliver webhooks; and "
            "advance the closed loops.",
        ),
        "gc": Lazy(
            "modelyard.cli.maintenance:gc", "Remove blobs that no artifact refers to any more."
        ),
        "version": Lazy("modelyard.cli.maintenance:version", "Print the installed version."),
        "quickstart": Lazy(
            "modelyard.cli.quickstart:quickstart",
            "Tour the platform on a small model, then tell the monitoring story of a year of "
            "bike-share traffic.",
        ),
        "server": Lazy(
            "modelyard.cli.server:server",
            "Run the REST API server (OpenAPI document at /api/v1/openapi.json).",
        ),
        "serve": Lazy(
            "modelyard.cli.serve:serve",
            "Run the inference server: answer a project's deployments over HTTP (v1, the "
            "Open Inference Protocol v2 and MLflow's /invocations).",
        ),
        "predict": Lazy(
            "modelyard.cli.predict:predict",
            "Batch scoring: predict every row of a dataset version with a deployment's "
            "champion or a model version, and register the predictions as a dataset version.",
        ),
        "runs": Lazy("modelyard.cli.runs:app", "Runs: list, show, compare, delete, restore."),
        "projects": Lazy(
            "modelyard.cli.projects:app", "Projects: the namespace of runs, datasets and models."
        ),
        "artifacts": Lazy(
            "modelyard.cli.artifacts:app", "Artifacts: files and folders stored with runs."
        ),
        "db": Lazy("modelyard.cli.db:app", "Metadata store schema."),
        "config": Lazy("modelyard.cli.config:app", "Settings."),
        "data": Lazy(
            "modelyard.cli.data:app",
            "Datasets: register versioned data, inspect, load, profile, validate, compare.",
        ),
        "models": Lazy(
            "modelyard.cli.models:app",
            "Models: registered models, their versions, signatures, aliases, cards and status.",
        ),
        "deployments": Lazy(
            "modelyard.cli.deployments:app",
            "Deployments: traffic plans over model versions (canary, A/B, shadow), promotion "
            "and rollback.",
        ),
        "cost": Lazy(
            "modelyard.cli.costs:app",
            "Costs: serving per 1,000 predictions (per deployment and version), training per "
            "model version.",
        ),
        "budgets": Lazy(
            "modelyard.cli.costs:budgets",
            "Budgets: a project's monthly spending caps with alerts at thresholds.",
        ),
        "alerts": Lazy(
            "modelyard.cli.alerts:app",
            "Alerts: what monitors, budgets and the loop found; acknowledge, resolve, comment.",
        ),
        "health": Lazy(
            "modelyard.cli.alerts:health",
            "The health score of a deployment (0-100) with its components and formula.",
        ),
        "monitors": Lazy(
            "modelyard.cli.monitors:app",
            "Monitors: drift, performance, volume and SLO checks on a deployment, judged per "
            "window by incremental passes.",
        ),
        "loop": Lazy(
            "modelyard.cli.loop:app",
            "The closed loop: retrain, evaluate, canary and promote a deployment's model on "
            "its policy's triggers.",
        ),
        "pipelines": Lazy(
            "modelyard.cli.pipelines:app",
            "Pipelines: run them, sweep their parameters, and explain their cache.",
        ),
        "schedules": Lazy(
            "modelyard.cli.schedules:app",
            "Schedules: run pipelines on cron expressions or on new dataset versions.",
        ),
        # Governance: accounts, tokens, project roles, MFA, the audit log.
        "users": Lazy(
            "modelyard.cli.users:app",
            "User accounts (on the metadata store, as the local operator).",
        ),
        "tokens": Lazy(
            "modelyard.cli.tokens:app",
            "Personal access tokens and service-account tokens (as the local operator).",
        ),
        "roles": Lazy(
            "modelyard.cli.roles:app",
            "Project roles: predictor < viewer < contributor < approver < admin (as the local "
            "operator).",
        ),
        "mfa": Lazy(
            "modelyard.cli.mfa:app", "Multi-factor authentication (as the local operator)."
        ),
        "audit": Lazy(
            "modelyard.cli.audit:app", "The hash-chained audit log (as the local operator)."
        ),
        "webhooks": Lazy(
            "modelyard.cli.webhooks:app",
            "Webhooks: send a project's registry and dataset events to URLs, signed.",
        ),
    }


app = typer.Typer(
    name="modelyard",
    cls=Modelyard,
    help="Modelyard: track experiments, version data and models, and ship them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Help is printed as text: a "[server.host]" in a help string stays as written (Rich
    # markup would eat it, leaving " ."), and a flag shows no "<bool>" value type.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        _common.console.print(f"modelyard {_common.installed_version()}", highlight=False)
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", help="TOML config file (default: $MODELYARD_CONFIG or ./modelyard.toml)."
    ),
    home: Path | None = typer.Option(None, "--home", help="Folder of the embedded store."),
    store_url: str | None = typer.Option(None, "--store-url", help="Metadata store URL."),
    artifacts_uri: str | None = typer.Option(None, "--artifacts-uri", help="Artifact store URI."),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="Work through the Modelyard server at this URL."
    ),
    _version: bool = typer.Option(
        False,
        "--version",
        "-V",
        is_eager=True,
        callback=_print_version,
        help="Print the installed version and exit.",
    ),
) -> None:
    overrides: dict = {}
    if home is not None:
        overrides["home"] = home
    if store_url is not None:
        overrides["store"] = {"url": store_url}
    if artifacts_uri is not None:
        overrides["artifacts"] = {"uri": artifacts_uri}
    if tracking_uri is not None:
        overrides["tracking"] = {"uri": tracking_uri}
    ctx.obj = _common.State(config_file=config, overrides=overrides)


def main() -> None:
    """Console-script entry point. A usage error (an unknown option or command, a missing
    argument, a bad value) is one line naming where help is, as every other failure is."""
    try:
        code = app(standalone_mode=False, prog_name="modelyard")
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()  # the help of the group given no command
        sys.exit(exc.exit_code)
    except click_errors.UsageError as exc:
        where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        raise SystemExit(
            _common.fail(exc.format_message().rstrip(".") + where, exc.exit_code).exit_code
        ) from None
    except click_errors.ClickException as exc:
        raise SystemExit(_common.fail(exc.format_message(), exc.exit_code).exit_code) from None
    except typer.Abort:
        raise SystemExit(_common.fail("aborted", 130).exit_code) from None
    sys.exit(code if isinstance(code, int) else 0)
