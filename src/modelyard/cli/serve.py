"""``modelyard serve``: the inference server, a process of its own."""

from __future__ import annotations

import functools

import typer

from modelyard.cli._common import one_line_errors, state


@one_line_errors
def serve(
    ctx: typer.Context,
    project: str | None = typer.Option(
        None, "--project", "-p", help="Project whose deployments to serve [default project]."
    ),
    deployment: list[str] = typer.Option(
        [],
        "--deployment",
        "-d",
        help="Serve only this deployment (repeat for several) [all of the project].",
    ),
    host: str | None = typer.Option(None, "--host", help="Address to bind [serving.host]."),
    port: int | None = typer.Option(None, "--port", help="TCP port [serving.port]."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    on_ray: bool = typer.Option(
        False,
        "--ray",
        help="Serve as a Ray Serve application on ray.address (a local Ray when unset), "
        "its HTTP proxy on --host/--port.",
    ),
    replicas: int | None = typer.Option(
        None, "--replicas", min=1, help="With --ray: run this many replicas [1]."
    ),
    autoscale: str | None = typer.Option(
        None, "--autoscale", metavar="MIN:MAX", help="With --ray: let Ray scale replicas."
    ),
) -> None:
    """Run the inference server: answer a project's deployments over HTTP (v1, the Open
    Inference Protocol v2 and MLflow's /invocations).

    It serves until SIGTERM or Ctrl-C, which let the requests in flight finish (up to
    serving.shutdown_grace_s) before the batchers and the prediction log are closed.
    With --ray, Ray Serve runs the same server in each of its replicas."""
    st = state(ctx)
    chosen = {"host": host, "port": port}
    from modelyard.config import load_settings
    from modelyard.errors import InvalidInput, MissingDependency
    from modelyard.sdk.client import DEFAULT_PROJECT, Client

    if (replicas is not None or autoscale is not None) and not on_ray:
        raise InvalidInput("--replicas and --autoscale need --ray", field="--ray")
    if replicas is not None and autoscale is not None:
        raise InvalidInput("give --replicas or --autoscale, not both", field="--autoscale")
    try:
        from modelyard.serving.server import run
    except ModuleNotFoundError as exc:  # uvicorn, prometheus_client: the server extra
        raise MissingDependency.for_extra(exc.name or "uvicorn", "server") from None

    settings = load_settings(
        st.config_file, **st.overrides, serving={k: v for k, v in chosen.items() if v is not None}
    )
    if on_ray:
        from modelyard.serving import rayserve

        bounds = rayserve.parse_autoscale(autoscale) if autoscale is not None else None
        rayserve.run(
            settings,
            functools.partial(Client, settings),
            project=project or DEFAULT_PROJECT,
            names=deployment,
            replicas=replicas,
            autoscale=bounds,
        )
        return
    from modelyard.serving.app import assemble

    app = assemble(
        Client(settings), project=project or DEFAULT_PROJECT, names=deployment, freeze_heap=True
    )
    run(app, host=settings.serving.host, port=settings.serving.port, log_level=log_level)
