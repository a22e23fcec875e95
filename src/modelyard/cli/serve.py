"""``modelyard serve``: the inference server, a process of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import typer

from modelyard.cli._common import one_line_errors, state

if TYPE_CHECKING:
    from collections.abc import Callable

    from modelyard.sdk.client import Client
    from modelyard.serving._parts import Batcher
    from modelyard.serving.server import InferenceServer


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
) -> None:
    """Run the inference server: answer a project's deployments over HTTP (v1, the Open
    Inference Protocol v2 and MLflow's /invocations).

    It serves until SIGTERM or Ctrl-C, which let the requests in flight finish (up to
    serving.shutdown_grace_s) before the batchers and the prediction log are closed."""
    st = state(ctx)
    chosen = {"host": host, "port": port}
    from modelyard.config import load_settings
    from modelyard.errors import MissingDependency
    from modelyard.sdk.client import DEFAULT_PROJECT, Client

    try:
        from modelyard.serving.server import run
    except ModuleNotFoundError as exc:  # uvicorn, prometheus_client: the server extra
        raise MissingDependency.for_extra(exc.name or "uvicorn", "server") from None

    settings = load_settings(
        st.config_file, **st.overrides, serving={k: v for k, v in chosen.items() if v is not None}
    )
    client = Client(settings)
    app = _assemble(client, project=project or DEFAULT_PROJECT, names=deployment)
    run(app, host=settings.serving.host, port=settings.serving.port, log_level=log_level)


def _assemble(client: Client, *, project: str, names: list[str]) -> InferenceServer:
    """The server over the real parts: the control plane's deployments, the model pool,
    micro-batchers, the prediction log and the codecs."""
    import modelyard.serving.codecs as codecs
    import modelyard.serving.validation as validation
    from modelyard.registry.flavors import CODE_FORMATS_SETTING
    from modelyard.serving._auth import Authorizer, ControlPlaneTokens, StoreTokens, TokenCache
    from modelyard.serving.batching import MicroBatcher
    from modelyard.serving.models import ModelPool
    from modelyard.serving.predlog import PredictionLog
    from modelyard.serving.server import Codecs, InferenceServer, PredictBatch

    conf = client.settings.serving
    auth: Authorizer | None = None
    if conf.auth == "token" and client.is_remote:
        assert client.settings.tracking.uri is not None
        auth = TokenCache(ControlPlaneTokens(client.settings.tracking.uri))
    elif conf.auth == "token":
        auth = TokenCache(StoreTokens(client.services.governance))
    cache_dir = conf.cache_dir or client.settings.home / "serving-cache"
    pool = ModelPool(
        client.model_service,
        cache_dir=cache_dir,
        budget_bytes=int(conf.memory_budget_mb * 1024 * 1024),
        idle_unload_s=conf.idle_unload_s,
        load_concurrency=conf.load_concurrency,
        allow_code_formats=client.settings.registry.allow_code_formats,
        trusted=client.settings.registry.trusted_types,
        project_setting=lambda name: client.projects.settings(name)[CODE_FORMATS_SETTING],
    )

    def make_batcher(
        predict_batch: PredictBatch, on_batch: Callable[[int, float], None]
    ) -> Batcher:
        return MicroBatcher.from_settings(predict_batch, conf, on_batch=on_batch)

    class _Codecs:
        decode_v1 = staticmethod(codecs.decode_v1)
        decode_v2 = staticmethod(codecs.decode_v2)
        decode_invocations = staticmethod(codecs.decode_invocations)
        encode_v1 = staticmethod(codecs.encode_v1)
        encode_v2 = staticmethod(codecs.encode_v2)
        encode_invocations = staticmethod(codecs.encode_invocations)
        v2_metadata = staticmethod(codecs.v2_metadata)
        frame = staticmethod(validation.frame)
        split = staticmethod(codecs.split)
        validate = staticmethod(validation.validate)

    return InferenceServer(
        deployments=client.deployments,
        project=project,
        pool=pool,
        make_batcher=make_batcher,
        sink=PredictionLog(
            client.predictions,
            project=project,
            flush_rows=conf.log_flush_rows,
            flush_s=conf.log_flush_s,
            max_queue_rows=conf.log_max_queue_rows,
            writer=f"{conf.host}:{conf.port}",
        ),
        codecs=cast(Codecs, _Codecs()),
        settings=conf,
        auth=auth,
        names=names,
        freeze_heap=True,
        labels=lambda deployment, labels: client.predictions.add_labels(
            project, deployment, labels
        ),
    )
