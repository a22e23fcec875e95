"""Root of the command line: global options and the command groups."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

try:  # typer 0.24+ carries its own copy of click, whose exceptions it raises
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer raises click's own
    from click import exceptions as click_errors  # type: ignore[no-redef]

from modelyard.cli import _common
from modelyard.cli.artifacts import app as artifacts_app
from modelyard.cli.audit import app as audit_app
from modelyard.cli.config import app as config_app
from modelyard.cli.data import app as data_app
from modelyard.cli.db import app as db_app
from modelyard.cli.lineage import register as register_lineage
from modelyard.cli.maintenance import installed_version
from modelyard.cli.maintenance import register as register_maintenance
from modelyard.cli.mfa import app as mfa_app
from modelyard.cli.pipelines import app as pipelines_app
from modelyard.cli.projects import app as projects_app
from modelyard.cli.quickstart import register as register_quickstart
from modelyard.cli.roles import app as roles_app
from modelyard.cli.runs import app as runs_app
from modelyard.cli.schedules import register as register_schedules
from modelyard.cli.server import register as register_server
from modelyard.cli.tokens import app as tokens_app
from modelyard.cli.users import app as users_app

app = typer.Typer(
    name="modelyard",
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
        _common.console.print(f"modelyard {installed_version()}", highlight=False)
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


app.add_typer(runs_app, name="runs")
app.add_typer(projects_app, name="projects")
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
app.add_typer(pipelines_app, name="pipelines")
register_lineage(app)
register_schedules(app)
register_maintenance(app)
register_quickstart(app)
register_server(app)

# Governance: accounts, tokens, project roles, MFA, the audit log.
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(roles_app, name="roles")
app.add_typer(mfa_app, name="mfa")
app.add_typer(audit_app, name="audit")


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
