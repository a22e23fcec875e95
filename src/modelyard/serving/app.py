"""The inference server over the real parts: one composition for every way it runs
(``modelyard serve`` on uvicorn, each replica of ``modelyard serve --ray``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from modelyard.config import Settings
    from modelyard.predictions.contract import PredictionContract
    from modelyard.projects.contract import ProjectContract
    from modelyard.registry.contract import ModelContract
    from modelyard.serving._parts import Batcher
    from modelyard.serving.contract import DeploymentContract
    from modelyard.serving.server import InferenceServer, PredictBatch

__all__ = ["ServingClient", "assemble"]


class ServingClient(Protocol):
    """What the server takes from ``modelyard.sdk.client.Client`` (embedded or remote)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def is_remote(self) -> bool: ...

    @property
    def services(self) -> Any: ...

    @property
    def model_service(self) -> ModelContract: ...

    @property
    def projects(self) -> ProjectContract: ...

    @property
    def deployments(self) -> DeploymentContract: ...

    @property
    def predictions(self) -> PredictionContract: ...


def assemble(
    client: ServingClient,
    *,
    project: str,
    names: Collection[str] = (),
    writer: str | None = None,
    freeze_heap: bool = False,
) -> InferenceServer:
    """The server of ``project``'s deployments (``names``: only these) over the control
    plane's plans, the model pool, micro-batchers, the prediction log and the codecs.
    ``writer`` names this server in the prediction log's segments (``host:port`` by
    default); ``freeze_heap``: a process of its own, whose heap is frozen once it has
    started (see :class:`InferenceServer`)."""
    import modelyard.serving.codecs as codecs
    import modelyard.serving.validation as validation
    from modelyard.registry.flavors import CODE_FORMATS_SETTING
    from modelyard.serving._auth import Authorizer, ControlPlaneTokens, StoreTokens, TokenCache
    from modelyard.serving.batching import MicroBatcher
    from modelyard.serving.models import ModelPool
    from modelyard.serving.predlog import PredictionLog
    from modelyard.serving.server import Codecs, InferenceServer

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
            writer=writer if writer is not None else f"{conf.host}:{conf.port}",
        ),
        codecs=cast("Codecs", _Codecs()),
        settings=conf,
        auth=auth,
        names=names,
        freeze_heap=freeze_heap,
        labels=lambda deployment, labels: client.predictions.add_labels(
            project, deployment, labels
        ),
    )
