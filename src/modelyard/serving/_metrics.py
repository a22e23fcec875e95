"""The inference server's Prometheus metrics, in a registry of its own (one per server,
no process-global state): what requests did as they happened, and what the server holds
(model memory, queues, dropped log rows, version health) read when scraped."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from modelyard.serving._parts import LoadedModel

__all__ = ["CONTENT_TYPE", "Held", "ServerMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
)  # fmt: skip
_ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 16384, 65536)


class Held:
    """What the server holds now, read at each scrape."""

    def __init__(
        self,
        *,
        loaded: Callable[[], list[LoadedModel]],
        queue_rows: Callable[[], Mapping[str, int]],
        health: Callable[[], Mapping[str, bool]],
        log_dropped: Callable[[], int],
        log_queue_rows: Callable[[], int],
        plan_poll_failures: Callable[[], int],
    ) -> None:
        self.loaded = loaded
        self.queue_rows = queue_rows
        self.health = health
        self.log_dropped = log_dropped
        self.log_queue_rows = log_queue_rows
        self.plan_poll_failures = plan_poll_failures


class _HeldCollector(Collector):
    def __init__(self, held: Held) -> None:
        self.held = held

    def collect(self) -> Iterator[Metric]:
        memory = GaugeMetricFamily(
            "modelyard_serving_model_memory_bytes",
            "Memory a loaded model version was measured to take when it loaded.",
            labels=["model", "version", "version_id"],
        )
        for model in self.held.loaded():
            v = model.version
            memory.add_metric([v.name, str(v.version), v.id], model.size_bytes)
        yield memory
        queue = GaugeMetricFamily(
            "modelyard_serving_queue_rows",
            "Rows waiting in a version's micro-batcher.",
            labels=["version_id"],
        )
        for version_id, rows in self.held.queue_rows().items():
            queue.add_metric([version_id], rows)
        yield queue
        healthy = GaugeMetricFamily(
            "modelyard_serving_version_healthy",
            "1 when a version in a plan is loaded and answering, 0 when it failed to load.",
            labels=["version_id"],
        )
        for version_id, ok in self.held.health().items():
            healthy.add_metric([version_id], 1 if ok else 0)
        yield healthy
        yield CounterMetricFamily(
            "modelyard_prediction_log_dropped",
            "Prediction-log rows dropped because the log's queue was full.",
            value=self.held.log_dropped(),
        )
        yield CounterMetricFamily(
            "modelyard_serving_plan_poll_failures",
            "Reads of the deployments' plans from the control plane that failed.",
            value=self.held.plan_poll_failures(),
        )
        yield GaugeMetricFamily(
            "modelyard_prediction_log_queue_rows",
            "Prediction-log rows waiting to be written.",
            value=self.held.log_queue_rows(),
        )


class ServerMetrics:
    """The counters and histograms requests update, and the exposition of all of them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelyard_serving_requests",
            "Prediction requests answered, by deployment, version and HTTP status.",
            ["deployment", "version", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelyard_serving_request_seconds",
            "Time from a prediction request's arrival to its answer.",
            ["deployment"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "modelyard_serving_predictions",
            "Rows predicted, by deployment and version (shadow copies apart).",
            ["deployment", "version", "shadow"],
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "modelyard_serving_batch_rows",
            "Rows in each batch a model predicted.",
            ["version_id"],
            buckets=_ROWS_BUCKETS,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "modelyard_serving_batch_seconds",
            "Time a model took to predict one batch.",
            ["version_id"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "modelyard_serving_fallbacks",
            "Requests routed to a version that could not answer and sent to the champion.",
            ["deployment", "version"],
            registry=self.registry,
        )
        self.shadow_failures = Counter(
            "modelyard_serving_shadow_failures",
            "Shadow copies that failed (the answer was not affected).",
            ["deployment", "version"],
            registry=self.registry,
        )

        # labelled children by their labels: ``labels()`` costs microseconds per call
        self._answers: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._rows: dict[tuple[str, str, bool], Any] = {}

    def answered(self, deployment: str, version: str, status: int, seconds: float) -> None:
        """A prediction request answered with ``status`` after ``seconds``."""
        key = (deployment, version, status)
        children = self._answers.get(key)
        if children is None:
            children = self._answers[key] = (
                self.requests.labels(deployment, version, str(status)),
                self.latency.labels(deployment),
            )
        children[0].inc()
        children[1].observe(seconds)

    def predicted(self, deployment: str, version_id: str, rows: int, shadow: bool) -> None:
        """``rows`` predicted by a version for a deployment (a shadow copy or not)."""
        key = (deployment, version_id, shadow)
        child = self._rows.get(key)
        if child is None:
            child = self._rows[key] = self.predictions.labels(
                deployment, version_id, "true" if shadow else "false"
            )
        child.inc(rows)

    def watch(self, held: Held) -> None:
        """Report what ``held`` says at each scrape."""
        self.registry.register(_HeldCollector(held))

    def batch_hook(self, version_id: str) -> Callable[[int, float], None]:
        """What a version's batcher calls after each batch: its rows and seconds."""
        rows = self.batch_rows.labels(version_id)
        seconds = self.batch_seconds.labels(version_id)

        def on_batch(count: int, elapsed_s: float) -> None:
            rows.observe(count)
            seconds.observe(elapsed_s)

        return on_batch

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
