"""The inference server: a raw ASGI application (no framework between uvicorn and the
request path) answering the deployments of one project in three protocols.

It is built from the parts it is given: the control plane's deployments (plans, polled),
a model pool, a factory of micro-batchers, a prediction sink and the codecs. A request
is routed by the plan snapshot it arrived under; a version that cannot load is marked
unhealthy and its traffic goes to the champion; shadow copies are predicted after the
answer is sent and only logged.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

from modelyard.errors import (
    InvalidInput,
    MalformedBody,
    ModelUnavailable,
    ModelyardError,
    NotFound,
    Overloaded,
    PredictionFailed,
    TooLarge,
    Unauthenticated,
)
from modelyard.serving._auth import LABEL_ROLE, PREDICT_ROLE, Authorizer, bearer_token
from modelyard.serving._http import (
    Answer,
    MethodNotAllowed,
    error_answer,
    event_time_ms,
    header,
    header_bytes,
    json_answer,
    read_body,
    send_answer,
)
from modelyard.serving._metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from modelyard.serving._metrics import Held, ServerMetrics
from modelyard.serving._parts import Batcher, LoadedModel, ModelPool, PredictionSink, Rows
from modelyard.serving._plans import PlanWatcher
from modelyard.serving._reporter import Reporter
from modelyard.serving._routing import RoutingTable
from modelyard.serving.contract import DeploymentContract
from modelyard.serving.rollouts import UnhealthyVersion

if TYPE_CHECKING:
    from modelyard.config import ServingSettings
    from modelyard.registry.signature import Signature

__all__ = ["AddLabels", "BatcherFactory", "Codecs", "InferenceServer", "run"]

logger = logging.getLogger("modelyard.serving")

PredictBatch = Callable[[list[Rows]], list[Sequence[Any]]]
#: Makes the batcher of a loaded version from its predict function and the hook it
#: reports each batch's rows and seconds to.
BatcherFactory = Callable[[PredictBatch, Callable[[int, float], None]], Batcher]
#: Gives a deployment's predictions their labels (``client.predictions.add_labels`` for
#: the server's project): the deployment's name and labels by row prediction id; the
#: number stored.
AddLabels = Callable[[str, dict[str, Any]], int]
_REQUEST_ID = re.compile(r"[0-9a-f]{32}")


class Decoded(Protocol):
    """A request body read (``serving/codecs.Decoded``): its rows, where each value was
    in the body (for validation's field names), the caller's own request id and the
    outputs it asked for (v2)."""

    @property
    def rows(self) -> Rows: ...

    @property
    def where(self) -> Any: ...

    @property
    def id(self) -> str | None: ...

    @property
    def outputs(self) -> tuple[str, ...]: ...


class Codecs(Protocol):
    """The protocols' bodies (``serving/codecs.py``) and the signature check and batch
    frame (``serving/validation.py``). Decoders raise MalformedBody (400), InvalidInput
    (422), TooLarge (413: more than ``max_rows``), UnsupportedMediaType (415)."""

    def decode_v1(self, body: bytes, content_type: str | None, *, max_rows: int) -> Decoded: ...

    def decode_v2(self, body: bytes, content_type: str | None, *, max_rows: int) -> Decoded: ...

    def decode_invocations(
        self, body: bytes, content_type: str | None, *, max_rows: int
    ) -> Decoded: ...

    def encode_v1(
        self,
        outputs: Sequence[Any],
        *,
        deployment: str,
        model: str,
        version: int,
        prediction_ids: Sequence[str],
        accept: str | None = None,
    ) -> tuple[bytes, str]:
        """The body and its content type (JSON, or Arrow when ``accept`` asks)."""
        ...

    def encode_v2(
        self,
        outputs: Sequence[Any],
        *,
        model_name: str,
        model_version: int | str,
        request_id: str,
        prediction_ids: Sequence[str],
        names: Sequence[str] = (),
    ) -> bytes: ...

    def encode_invocations(
        self, outputs: Sequence[Any], *, prediction_ids: Sequence[str]
    ) -> bytes: ...

    def v2_metadata(
        self, name: str, versions: Sequence[int | str], signature: Signature | None
    ) -> dict[str, Any]: ...

    def validate(
        self, rows: Rows, signature: Signature | None, *, where: Any, drop_extra: bool = False
    ) -> Rows: ...

    def frame(self, batch: Sequence[Rows], signature: Signature | None) -> Any: ...

    def split(self, outputs: Any, counts: Sequence[int]) -> list[Sequence[Any]]: ...


@dataclass(slots=True)
class _Predicted:
    table: RoutingTable
    model: LoadedModel
    rows: Rows
    outputs: Sequence[Any]
    request_id: str
    prediction_ids: list[str]
    where: Any
    at_ms: int | None  # the request's Modelyard-Event-Time, if it set one


class InferenceServer:
    """The ASGI application of ``modelyard serve`` (see the module's docstring).

    ``freeze_heap``: once started (its modules imported, its models loaded), move every
    object to the collector's permanent generation (``gc.freeze``), as a process of its
    own may: the prediction log holds each request's rows for up to a flush, so full
    collections come often, and each walked the whole heap (pandas, scikit-learn, the
    models) again (in process, the log on: 152 us of CPU a request, 118 frozen)."""

    def __init__(
        self,
        *,
        deployments: DeploymentContract,
        project: str,
        pool: ModelPool,
        make_batcher: BatcherFactory,
        sink: PredictionSink,
        codecs: Codecs,
        settings: ServingSettings,
        auth: Authorizer | None,
        names: Collection[str] = (),
        labels: AddLabels | None = None,
        freeze_heap: bool = False,
    ) -> None:
        self.project = project
        self.freeze_heap = freeze_heap
        self.labels = labels
        self.pool = pool
        self.make_batcher = make_batcher
        self.sink = sink
        self.codecs = codecs
        self.settings = settings
        self.auth = auth
        self.metrics = ServerMetrics()
        self.plans = PlanWatcher(
            deployments,
            project,
            poll_s=settings.plan_poll_s,
            names=names,
            on_change=self._changed,
        )
        self._tracked: set[str] = set()  # the deployment ids the sink logs
        self._batchers: dict[str, tuple[LoadedModel, Batcher]] = {}
        self._unhealthy: dict[str, str] = {}  # version id -> why it cannot answer
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watcher: asyncio.Task[None] | None = None
        self.reporter = Reporter(
            deployments, project, report_s=settings.report_s, unhealthy=self._unhealthy_versions
        )
        self._reporting: asyncio.Task[None] | None = None
        self.metrics.watch(
            Held(
                loaded=lambda: list(self.pool.loaded()),
                queue_rows=lambda: {v: b.queue_rows for v, (_, b) in self._batchers.items()},
                health=self._health,
                log_dropped=lambda: self.sink.dropped,
                log_queue_rows=lambda: self.sink.queue_rows,
                plan_poll_failures=lambda: self.plans.failures,
            )
        )
        self._routes: dict[tuple[str, str], Callable[..., Awaitable[Answer]]] = {
            ("GET", "healthz"): self._healthz,
            ("GET", "readyz"): self._readyz,
            ("GET", "metrics"): self._metrics,
            ("POST", "invocations"): self._invocations,
            ("GET", "v1/deployments"): self._list,
            ("POST", "v1/deployments/*/predict"): self._predict_v1,
            ("POST", "v1/deployments/*/labels"): self._labels,
            ("GET", "v2/health/live"): self._healthz,
            ("GET", "v2/health/ready"): self._v2_ready,
            ("GET", "v2/models/*"): self._v2_metadata,
            ("GET", "v2/models/*/ready"): self._v2_model_ready,
            ("POST", "v2/models/*/infer"): self._infer_v2,
        }

    # -- ASGI ---------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    logger.exception("the inference server could not start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        """Start the prediction sink, read the plans once (the server starts even when the
        control plane cannot be read: /readyz says so), load their versions, then poll."""
        if self.auth is None:
            logger.warning(
                "serving.auth is open: anyone who reaches this port may predict with "
                "project %r's deployments",
                self.project,
            )
        await self.sink.start()
        if await self.plans.poll():
            await self._warm()
        if self.freeze_heap:  # what start-up made lives on: no full collection walks it
            gc.freeze()
        self._watcher = asyncio.create_task(self._watch())
        self._reporting = asyncio.create_task(self.reporter.run())

    def _changed(self, tables: Mapping[str, RoutingTable]) -> None:
        """New plans: the sink logs their deployments (with their sample rates) and, once
        the server has started, their versions load in the background."""
        tracked = set()
        for table in tables.values():
            self.sink.track(table.deployment)
            tracked.add(table.deployment.id)
        for gone in self._tracked - tracked:
            self.sink.forget(gone)
        self._tracked = tracked
        if self._watcher is not None:
            self._spawn(self._warm())

    async def close(self) -> None:
        """Stop polling, let shadow copies finish, answer what the batchers hold, write
        the prediction log, unload the models."""
        if self._watcher is not None:
            self._watcher.cancel()
        if self._reporting is not None:
            self._reporting.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.settings.shutdown_grace_s)
        for _, batcher in list(self._batchers.values()):
            await batcher.close()
        self._batchers.clear()
        await self.sink.close()
        await self.pool.close()
        if self._reporting is not None:
            await self.reporter.send()  # what was answered since the last report

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.plans.poll_s)
            try:
                if await self.plans.poll() and self._unhealthy:
                    await self._warm()  # a version that failed may load now
            except Exception:  # a part failing on a new plan must not end the polling
                logger.exception("applying the deployments' plans failed")

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = time.perf_counter()
        path = scope["path"].strip("/")
        parts = path.split("/")
        key = path
        args: list[str] = []
        if len(parts) >= 3 and parts[0] in ("v1", "v2") and parts[1] in ("deployments", "models"):
            args = [parts[2]]
            key = "/".join([parts[0], parts[1], "*", *parts[3:]])
        handler = self._routes.get((scope["method"], key))
        after: Callable[[], Awaitable[None]] | None = None
        try:
            if handler is None:
                known = any(route == key for _, route in self._routes)
                if known:
                    raise MethodNotAllowed(f"{scope['method']} is not allowed on /{path}")
                raise NotFound(f"no endpoint /{path} on this inference server")
            answer = await handler(scope, receive, *args)
            if isinstance(answer, tuple):
                answer, after = answer
        except ModelyardError as exc:
            answer = error_answer(exc)
            if isinstance(exc, PredictionFailed | ModelUnavailable):
                scope["modelyard.failed"] = True
            if exc.http_status >= 500 and not isinstance(exc, Overloaded):  # shed: counted
                logger.warning("%s /%s: %s", scope["method"], path, exc.message)
        except Exception:
            logger.exception("%s /%s failed", scope["method"], path)
            answer = json_answer(500, ModelyardError("internal server error").to_dict())
            scope["modelyard.failed"] = True
        await send_answer(answer, send)
        if (args and key.endswith(("predict", "infer"))) or key == "invocations":
            deployment = scope.get("modelyard.deployment", "")
            version = scope.get("modelyard.version", "")
            seconds = time.perf_counter() - started
            self.metrics.answered(deployment, version, answer.status, seconds)
            version_id = scope.get("modelyard.version_id")
            if version_id is not None:
                failed = scope.get("modelyard.failed", False)
                self.reporter.answered(deployment, version_id, seconds, failed)
        if after is not None:
            self._spawn(after())

    # -- requests -----------------------------------------------------------------------

    async def _table(
        self, scope: dict[str, Any], name: str, role: str = PREDICT_ROLE
    ) -> RoutingTable:
        """The routing table of deployment ``name`` in the current snapshot, once the
        caller holds ``role`` for it."""
        token = None
        if self.auth is not None:  # no token: 401 whether the deployment exists or not
            token = bearer_token(header_bytes(scope, b"authorization"))
        table = self.plans.tables.get(name)
        if table is None:
            raise NotFound(f"deployment {name!r} is not served here", field="deployment")
        if self.auth is not None and token is not None:
            await self.auth.check(token, self.project, name, role)
        scope["modelyard.deployment"] = name
        return table

    def _rows_limit(self, rows: Rows) -> Rows:
        if rows.count > self.settings.max_rows:
            raise TooLarge(
                f"{rows.count} rows is over {self.settings.max_rows} (serving.max_rows)",
                field="rows",
            )
        return rows

    async def _ready(self, version_id: str | None) -> tuple[LoadedModel, Batcher]:
        """The loaded version and its batcher (a new batcher when the pool loaded the
        version again)."""
        if version_id is None:
            raise ModelUnavailable("the route does not resolve to a model version")
        model = await self.pool.get(version_id)
        held = self._batchers.get(version_id)
        if held is None or held[0] is not model:
            batcher = self.make_batcher(self._predictor(model), self.metrics.batch_hook(version_id))
            if held is not None:
                self._spawn(held[1].close())
            held = self._batchers[version_id] = (model, batcher)
        self._unhealthy.pop(version_id, None)
        return held

    def _predictor(self, model: LoadedModel) -> PredictBatch:
        codecs, signature = self.codecs, model.version.signature

        def predict_batch(batch: list[Rows]) -> list[Sequence[Any]]:
            outputs = model.predict(codecs.frame(batch, signature))
            return codecs.split(outputs, [rows.count for rows in batch])

        return predict_batch

    def _broken(self, table: RoutingTable, version_id: str | None, exc: BaseException) -> None:
        why = exc.message if isinstance(exc, ModelyardError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ModelUnavailable) and version_id is not None:
            if version_id not in self._unhealthy:
                logger.warning("version %s cannot answer: %s", version_id, why)
            self._unhealthy[version_id] = why
        else:
            logger.warning("version %s failed a request, answered by the champion: %s",
                           version_id, why)  # fmt: skip
        self.metrics.fallbacks.labels(table.deployment.name, version_id or "").inc()

    async def _predict(
        self, scope: dict[str, Any], table: RoutingTable, body: Decoded, drop_extra: bool = False
    ) -> _Predicted:
        """Route, validate and predict the body's rows; a non-champion route that cannot
        answer hands the request to the champion. ``drop_extra``: columns the signature
        does not name are dropped (as ``mlflow models serve`` does) instead of refused."""
        at_ms = event_time_ms(scope, self.settings.accept_event_time, int(time.time() * 1000))
        route = table.pick(_headers(scope), self._is_healthy)
        rows = self._rows_limit(body.rows)
        while True:
            scope["modelyard.version_id"] = route.version_id
            attempt = time.perf_counter()
            try:
                model, batcher = await self._ready(route.version_id)
                checked = self.codecs.validate(
                    rows, model.version.signature, where=body.where, drop_extra=drop_extra
                )
                outputs = await batcher.submit(checked)
                break
            except (InvalidInput, Overloaded):
                raise
            except Exception as exc:
                if route is table.champion:
                    if isinstance(exc, ModelUnavailable) and route.version_id is not None:
                        self._unhealthy[route.version_id] = exc.message
                    raise
                self._broken(table, route.version_id, exc)
                if route.version_id is not None:  # the candidate's failure, though answered
                    self.reporter.answered(
                        table.deployment.name,
                        route.version_id,
                        time.perf_counter() - attempt,
                        True,
                    )
                route = table.champion
        request_id = uuid.uuid4().hex
        version = model.version
        scope["modelyard.version"] = f"{version.name}/{version.version}"
        self.metrics.predicted(table.deployment.name, version.id, rows.count, False)
        return _Predicted(
            table, model, checked, outputs, request_id,
            [f"{request_id}-{i}" for i in range(rows.count)], body.where, at_ms,
        )  # fmt: skip

    def _after(self, done: _Predicted, started_s: float) -> Callable[[], Awaitable[None]] | None:
        """Log the answer (the sink queues it, keeping the deployment's sample rate's
        share) and return what follows it off the request path: its shadow copies, if it
        has any."""
        self.sink.record(
            deployment_id=done.table.deployment.id,
            version_id=done.model.version.id,
            prediction_ids=done.prediction_ids,
            inputs=done.rows,
            outputs=done.outputs,
            latency_ms=(time.perf_counter() - started_s) * 1000,
            at_ms=_logged_at(done),
        )
        shadows = done.table.copies()
        if not shadows:
            return None

        async def copies() -> None:
            for route in shadows:
                await self._shadow(done, route.version_id)

        return copies

    async def _shadow(self, done: _Predicted, version_id: str | None) -> None:
        deployment = done.table.deployment
        started = time.perf_counter()
        try:
            model, batcher = await self._ready(version_id)
            rows = self.codecs.validate(
                done.rows, model.version.signature, where=done.where, drop_extra=True
            )
            outputs = await batcher.submit(rows)
        except Exception as exc:
            if isinstance(exc, ModelUnavailable) and version_id is not None:
                self._unhealthy[version_id] = exc.message
            logger.debug("shadow %s of %s failed: %s", version_id, deployment.name, exc)
            self.metrics.shadow_failures.labels(deployment.name, version_id or "").inc()
            return
        self.metrics.predicted(deployment.name, model.version.id, done.rows.count, True)
        self.sink.record(
            deployment_id=deployment.id,
            version_id=model.version.id,
            prediction_ids=done.prediction_ids,
            inputs=done.rows,
            outputs=outputs,
            latency_ms=(time.perf_counter() - started) * 1000,
            at_ms=_logged_at(done),
            shadow=True,
        )

    def _answered(self, done: _Predicted, body: bytes, content_type: str) -> Answer:
        version = done.model.version
        return Answer(
            200,
            body,
            content_type.encode(),
            [
                (b"modelyard-prediction-id", done.request_id.encode()),
                (b"modelyard-model-version", f"{version.name}/{version.version}".encode()),
            ],
        )

    async def _predict_v1(self, scope: dict[str, Any], receive: Any, name: str) -> Any:
        started = time.perf_counter()
        table = await self._table(scope, name)
        body = await read_body(scope, receive, self.settings.max_body_bytes)
        decoded = self.codecs.decode_v1(
            body, header(scope, b"content-type"), max_rows=self.settings.max_rows
        )
        done = await self._predict(scope, table, decoded)
        version = done.model.version
        encoded, content_type = self.codecs.encode_v1(
            done.outputs,
            deployment=name,
            model=version.name,
            version=version.version,
            prediction_ids=done.prediction_ids,
            accept=header(scope, b"accept"),
        )
        return self._answered(done, encoded, content_type), self._after(done, started)

    async def _infer_v2(self, scope: dict[str, Any], receive: Any, name: str) -> Any:
        started = time.perf_counter()
        table = await self._table(scope, name)
        body = await read_body(scope, receive, self.settings.max_body_bytes)
        decoded = self.codecs.decode_v2(
            body, header(scope, b"content-type"), max_rows=self.settings.max_rows
        )
        done = await self._predict(scope, table, decoded)
        version = done.model.version
        encoded = self.codecs.encode_v2(
            done.outputs,
            model_name=name,
            model_version=f"{version.name}/{version.version}",
            request_id=decoded.id or done.request_id,
            prediction_ids=done.prediction_ids,
            names=decoded.outputs,
        )
        return self._answered(done, encoded, "application/json"), self._after(done, started)

    async def _invocations(self, scope: dict[str, Any], receive: Any) -> Any:
        started = time.perf_counter()
        tables = self.plans.tables
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        name = (query.get("deployment") or [None])[0] or header(scope, b"modelyard-deployment")
        if name is None:
            if len(tables) != 1:
                raise InvalidInput(
                    f"this server serves {len(tables)} deployments: name one with "
                    "?deployment=NAME or the Modelyard-Deployment header",
                    field="deployment",
                )
            name = next(iter(tables))
        table = await self._table(scope, name)
        body = await read_body(scope, receive, self.settings.max_body_bytes)
        decoded = self.codecs.decode_invocations(
            body, header(scope, b"content-type"), max_rows=self.settings.max_rows
        )
        done = await self._predict(scope, table, decoded, drop_extra=True)
        encoded = self.codecs.encode_invocations(done.outputs, prediction_ids=done.prediction_ids)
        return self._answered(done, encoded, "application/json"), self._after(done, started)

    async def _labels(self, scope: dict[str, Any], receive: Any, name: str) -> Answer:
        """``{"labels": [{"prediction_id", "label"}, ...]}``: ground truth for earlier
        predictions (a bare request id is its row 0)."""
        if self.labels is None:
            raise NotFound("this inference server takes no labels", field="deployment")
        await self._table(scope, name, LABEL_ROLE)
        try:
            data = json.loads(await read_body(scope, receive, self.settings.max_body_bytes))
        except ValueError as exc:
            raise MalformedBody(f"the body is not valid JSON: {exc}", field="body") from None
        given = data.get("labels") if isinstance(data, dict) else None
        if not isinstance(given, list) or not given:
            raise InvalidInput("labels: a list of {prediction_id, label} is needed", field="labels")
        if len(given) > self.settings.max_rows:
            raise TooLarge(
                f"{len(given)} labels is over {self.settings.max_rows} (serving.max_rows)",
                field="labels",
            )
        labels: dict[str, Any] = {}
        for i, item in enumerate(given):
            pid = item.get("prediction_id") if isinstance(item, dict) else None
            if not isinstance(pid, str) or not pid or "label" not in item:
                raise InvalidInput(
                    f"labels[{i}] needs a prediction_id (a string) and a label",
                    field=f"labels[{i}].prediction_id",
                )
            labels[f"{pid}-0" if _REQUEST_ID.fullmatch(pid) else pid] = item["label"]
        stored = await asyncio.to_thread(self.labels, name, labels)
        return json_answer(200, {"deployment": name, "labelled": stored})

    # -- state --------------------------------------------------------------------------

    def _unhealthy_versions(self) -> list[UnhealthyVersion]:
        """The versions of the plans served that cannot answer, and why (reported)."""
        return [
            UnhealthyVersion(name, r.version_id, self._unhealthy[r.version_id])
            for name, table in self.plans.tables.items()
            for r in (*table.deployment.plan.routes, *table.deployment.plan.shadows)
            if r.version_id is not None and r.version_id in self._unhealthy
        ]

    def _is_healthy(self, version_id: str | None) -> bool:
        return version_id not in self._unhealthy

    def _health(self) -> dict[str, bool]:
        """Every version in the plans: whether it answers."""
        return {
            r.version_id: r.version_id not in self._unhealthy
            for t in self.plans.tables.values()
            for r in (*t.routes, *t.shadows)
            if r.version_id is not None
        }

    async def _warm(self) -> None:
        """Load every version the plans route to (champions first), so the first request
        pays no load and a version that cannot load is known before traffic meets it."""
        tables = list(self.plans.tables.values())
        wanted = [t.champion.version_id for t in tables]
        wanted += [r.version_id for t in tables for r in (*t.routes[1:], *t.shadows)]
        unique = [v for v in dict.fromkeys(wanted) if v is not None]
        results = await asyncio.gather(*(self._ready(v) for v in unique), return_exceptions=True)
        for version_id, result in zip(unique, results, strict=True):
            if isinstance(result, BaseException):
                why = result.message if isinstance(result, ModelyardError) else str(result)
                if self._unhealthy.get(version_id) != why:
                    logger.warning("version %s cannot load: %s", version_id, why)
                self._unhealthy[version_id] = why
        live = {v for t in self.plans.tables.values() for v in _versions(t)}
        for version_id in [v for v in self._batchers if v not in live]:
            self._spawn(self._batchers.pop(version_id)[1].close())

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether this server can answer every deployment it serves, and what stops it."""
        problems: list[str] = []
        cut = self.plans.unreachable
        if not self.plans.loaded:
            problems.append("the plans have not been read from the control plane yet")
        if cut is not None:
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cut.since))
            problems.append(f"the control plane is unreachable since {since}")
        for name in self.plans.missing():
            problems.append(f"deployment {name!r} does not exist in project {self.project!r}")
        deployments = {}
        for name, table in self.plans.tables.items():
            champion = table.champion.version_id
            if champion is None or champion in self._unhealthy:
                why = self._unhealthy.get(champion or "", "its route resolves to no version")
                problems.append(f"deployment {name!r}: its champion cannot answer: {why}")
            deployments[name] = _describe(table, self._unhealthy)
        body = {
            "ready": not problems,
            "problems": problems,
            "control_plane": {
                "reachable": cut is None and self.plans.loaded,
                "unreachable_since": cut.since if cut else None,
                "failed_reads": cut.failures if cut else 0,
                "error": cut.error if cut else None,
            },
            "deployments": deployments,
            "unhealthy_versions": dict(self._unhealthy),
        }
        return not problems, body

    # -- operations and metadata --------------------------------------------------------

    async def _healthz(self, scope: dict[str, Any], receive: Any) -> Answer:
        return json_answer(200, {"status": "ok", "live": True})

    async def _readyz(self, scope: dict[str, Any], receive: Any) -> Answer:
        ready, body = self.readiness()
        return json_answer(200 if ready else 503, body)

    async def _v2_ready(self, scope: dict[str, Any], receive: Any) -> Answer:
        ready, _ = self.readiness()
        return json_answer(200 if ready else 503, {"ready": ready})

    async def _metrics(self, scope: dict[str, Any], receive: Any) -> Answer:
        return Answer(200, self.metrics.exposition(), METRICS_CONTENT_TYPE.encode())

    async def _list(self, scope: dict[str, Any], receive: Any) -> Answer:
        shown = []
        for name in list(self.plans.tables):
            try:
                table = await self._table(scope, name)
            except Unauthenticated:
                raise
            except ModelyardError:
                continue
            shown.append(_describe(table, self._unhealthy))
        return json_answer(200, {"project": self.project, "deployments": shown})

    async def _v2_metadata(self, scope: dict[str, Any], receive: Any, name: str) -> Answer:
        table = await self._table(scope, name)
        model, _ = await self._ready(table.champion.version_id)
        versions = [f"{r.model}/{r.version}" for r in table.routes]
        return json_answer(200, self.codecs.v2_metadata(name, versions, model.version.signature))

    async def _v2_model_ready(self, scope: dict[str, Any], receive: Any, name: str) -> Answer:
        table = await self._table(scope, name)
        ready = table.champion.version_id is not None and self._is_healthy(
            table.champion.version_id
        )
        return json_answer(200 if ready else 503, {"name": name, "ready": ready})


def _versions(table: RoutingTable) -> list[str]:
    return [r.version_id for r in (*table.routes, *table.shadows) if r.version_id is not None]


def _describe(table: RoutingTable, unhealthy: Mapping[str, str]) -> dict[str, Any]:
    def route(r: Any) -> dict[str, Any]:
        why = unhealthy.get(r.version_id or "")
        return {**r.as_dict(), "healthy": r.version_id is not None and why is None, "error": why}

    d = table.deployment
    return {
        "name": d.name,
        "revision": d.revision,
        "strategy": d.plan.strategy,
        "sticky_key": d.plan.sticky_key,
        "routes": [route(r) for r in table.routes],
        "shadows": [route(r) for r in table.shadows],
    }


def _headers(scope: dict[str, Any]) -> dict[bytes, bytes]:
    return dict(scope["headers"])


def _logged_at(done: _Predicted) -> int:
    """The time a request's rows are logged at: its event time, else now."""
    return int(time.time() * 1000) if done.at_ms is None else done.at_ms


def run(app: InferenceServer, *, host: str, port: int, log_level: str = "info") -> None:
    """Serve ``app`` on uvicorn (httptools, uvloop, no access log) until SIGTERM or
    SIGINT: then no new connection is taken, requests in flight get up to
    ``shutdown_grace_s`` to finish, and the batchers and the prediction log are closed."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        server_header=False,
        log_level=log_level,
        timeout_graceful_shutdown=math.ceil(app.settings.shutdown_grace_s),
    )
    uvicorn.Server(config).run()
