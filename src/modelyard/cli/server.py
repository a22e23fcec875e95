"""``modelyard server``: run the control-plane API."""

from __future__ import annotations

import ipaddress

import typer

from modelyard.cli._common import err_console, one_line_errors, state, styled
from modelyard.errors import InvalidInput


@one_line_errors
def server(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="Address to bind [server.host]."),
    port: int | None = typer.Option(None, "--port", help="TCP port [server.port]."),
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes [server.workers]."
    ),
    no_auth: bool = typer.Option(
        False,
        "--no-auth",
        help="Serve without authentication (it is on by default): anyone who can connect "
        "can do anything. Allowed on loopback addresses only.",
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Run the REST API server (OpenAPI document at /api/v1/openapi.json)."""
    st = state(ctx)
    chosen = {"host": host, "port": port, "workers": workers}
    server_overrides = {k: v for k, v in chosen.items() if v is not None}
    from modelyard.config import load_settings

    settings = load_settings(st.config_file, **st.overrides, server=server_overrides)
    bound = settings.server.host
    if no_auth and not _is_loopback(bound):
        raise InvalidInput(
            f"--no-auth is allowed only on a loopback address (127.0.0.0/8, ::1, "
            f"localhost), not {bound!r}",
            field="--host",
        )
    from modelyard.api._services import Services
    from modelyard.api.app import accepted_hosts
    from modelyard.api.auth import governance_auth
    from modelyard.api.auth import no_auth as authenticate_nobody
    from modelyard.api.server import serve

    preflight = Services(settings)  # a bad store or stale schema: one line, not a trace
    preflight.open()
    try:
        has_users = bool(preflight.governance.users.count_users())
    finally:
        preflight.close()
    hosts = accepted_hosts(settings.server)
    err_console.print(
        "accepting requests for "
        + ("any host name" if hosts == ["*"] else "hosts " + ", ".join(hosts))
        + " (server.allowed_hosts)",
        markup=False,
        highlight=False,
    )
    if no_auth:
        err_console.print(
            styled(
                ("WARNING: authentication is OFF (--no-auth).", "bold red"),
                f" Anyone who can connect to {bound}:{settings.server.port} can read and "
                "change every project, run and artifact. Use it on this machine only.",
            )
        )
        serve(settings, auth=authenticate_nobody, log_level=log_level)
        return
    if not has_users:
        err_console.print(
            "No users yet: nobody can sign in until you create the first administrator "
            "with `modelyard users create NAME --admin` (and a token with "
            "`modelyard tokens create NAME`).",
            style="yellow",
            highlight=False,
        )
    serve(settings, auth=governance_auth, log_level=log_level)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
