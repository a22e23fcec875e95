"""The inference server's prediction log writer: every record arrives, in segments per
deployment; a store that is down keeps a bounded queue and counts drops, never raising
from record; the queue drains when the store is back; close flushes; record is cheap."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
import pyarrow as pa

from modelyard.errors import InvalidInput, StorageError
from modelyard.predictions.entities import Segment
from modelyard.serving._parts import PredictionSink, Rows
from modelyard.serving.entities import Deployment, Route, TrafficPlan
from modelyard.serving.predlog import PredictionLog, _table, _Target

CHAMPION = "a" * 32
CHALLENGER = "b" * 32


class Predictions:
    """A SegmentWriter double: keeps the tables written; ``down`` makes every write
    fail as a store that cannot be reached does."""

    def __init__(self) -> None:
        self.tables: list[tuple[str, str, pa.Table]] = []
        self.down = False
        self.refuse = False
        self.threads: set[str] = set()

    def write_segment(
        self,
        project: str,
        deployment: str,
        table: bytes | pa.Table,
        *,
        deployment_id: str = "",
        writer: str = "",
    ) -> Segment:
        self.threads.add(threading.current_thread().name)
        if self.down:
            raise StorageError("the artifact store cannot be reached")
        if self.refuse:
            raise InvalidInput("refused", field="segment")
        assert isinstance(table, pa.Table)
        self.tables.append((project, deployment, table))
        return Segment("s", project, deployment, deployment_id, "d", table.num_rows, 0, 0, 0,
                       (), writer, "w", 0)  # fmt: skip

    def rows(self) -> pa.Table:
        return pa.concat_tables([t for _, _, t in self.tables], promote_options="permissive")


def _deployment(name: str = "churn-api", *, sample_rate: float = 1.0, id: str = "d1") -> Deployment:
    plan = TrafficPlan(
        routes=(Route("churn", "champion", 90, 3, CHAMPION), Route("churn", "4", 10, 4, CHALLENGER))
    )
    return Deployment(id, "shop", name, "", plan, 1, sample_rate, "u", 0, "u", 0)


def _record(log: PredictionLog, i: int, *, deployment_id: str = "d1", rows: int = 1) -> None:
    request = f"{i:032x}"
    log.record(
        deployment_id=deployment_id,
        version_id=CHAMPION if i % 2 else CHALLENGER,
        prediction_ids=[f"{request}-{r}" for r in range(rows)],
        inputs=Rows(rows, columns={"x": [float(i)] * rows, "city": ["oslo"] * rows}),
        outputs=np.array([i % 2] * rows),
        latency_ms=0.25,
        at_ms=1_780_000_000_000 + i,
    )


def _run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def test_it_is_a_prediction_sink() -> None:
    log: PredictionSink = PredictionLog(Predictions(), project="shop")
    assert log.dropped == 0 and log.queue_rows == 0


def test_ten_thousand_records_across_flushes_arrive_complete() -> None:
    store = Predictions()
    log = PredictionLog(
        store, project="shop", flush_rows=1000, flush_s=0.05, deployments=[_deployment()]
    )

    async def body() -> None:
        await log.start()
        loop_thread = threading.current_thread().name
        for i in range(10_000):
            _record(log, i)
            if i % 500 == 0:
                await asyncio.sleep(0)  # the server's loop runs other work between requests
        await log.close()
        assert loop_thread not in store.threads  # written off the event loop

    _run(body)
    assert len(store.tables) > 1  # several flushes
    assert {(p, d) for p, d, _ in store.tables} == {("shop", "churn-api")}
    table = store.rows()
    assert table.num_rows == 10_000
    assert sorted(table.column("prediction_id").to_pylist()) == [
        f"{i:032x}-0" for i in range(10_000)
    ]
    first = table.slice(0, 1).to_pylist()[0]
    assert {k: first[k] for k in ("model", "latency_ms", "shadow", "input.x", "input.city")} == {
        "model": "churn", "latency_ms": 0.25, "shadow": False, "input.x": 0.0, "input.city": "oslo",
    }  # fmt: skip
    assert first["version"] == 4 and first["output"] == 0
    assert log.dropped == 0 and log.queue_rows == 0 and log.written == 10_000


def test_a_store_that_is_down_bounds_the_queue_counts_drops_and_drains_when_back() -> None:
    store = Predictions()
    store.down = True
    log = PredictionLog(
        store, project="shop", flush_rows=100, flush_s=0.02, max_queue_rows=500,
        deployments=[_deployment()],
    )  # fmt: skip

    async def body() -> None:
        await log.start()
        for i in range(800):
            _record(log, i)  # never raises, never blocks
            if i % 100 == 0:
                await asyncio.sleep(0.03)  # flushes fail meanwhile
        assert log.queue_rows == 500
        assert log.dropped == 300
        assert store.tables == []
        store.down = False
        for _ in range(100):
            await asyncio.sleep(0.02)
            if log.queue_rows == 0:
                break
        assert log.queue_rows == 0
        await log.close()

    _run(body)
    table = store.rows()
    assert table.num_rows == 500
    assert sorted(table.column("prediction_id").to_pylist()) == [f"{i:032x}-0" for i in range(500)]
    assert log.dropped == 300 and log.written == 500


def test_rows_the_service_refuses_are_dropped_and_counted_not_retried() -> None:
    store = Predictions()
    store.refuse = True
    log = PredictionLog(store, project="shop", flush_s=10, deployments=[_deployment()])

    async def body() -> None:
        await log.start()
        for i in range(3):
            _record(log, i, rows=2)
        await log.flush()
        assert (log.dropped, log.queue_rows) == (6, 0)
        await log.close()

    _run(body)


def test_records_whose_outputs_do_not_match_their_rows_are_dropped_alone() -> None:
    store = Predictions()
    log = PredictionLog(store, project="shop", flush_s=3600, deployments=[_deployment()])

    async def body() -> None:
        await log.start()
        _record(log, 1, rows=2)
        log.record(
            deployment_id="d1",
            version_id=CHAMPION,
            prediction_ids=[f"{2:032x}-0", f"{2:032x}-1"],
            inputs=Rows(2, columns={"x": [1.0, 2.0]}),
            outputs=iter([1, 2]),  # a caller's mistake: no length
            latency_ms=1.0,
            at_ms=0,
        )
        _record(log, 3, rows=1)
        await log.close()

    _run(body)
    assert store.rows().num_rows == 3 and log.dropped == 2


def test_close_flushes_what_is_queued() -> None:
    store = Predictions()
    log = PredictionLog(store, project="shop", flush_s=3600, deployments=[_deployment()])

    async def body() -> None:
        await log.start()
        for i in range(7):
            _record(log, i, rows=3)
        assert store.tables == []
        await log.close()

    _run(body)
    assert store.rows().num_rows == 21 and log.queue_rows == 0


def test_sampling_keeps_a_share_of_requests_with_all_their_rows() -> None:
    store = Predictions()
    log = PredictionLog(
        store, project="shop", flush_s=3600, deployments=[_deployment(sample_rate=0.25)]
    )
    rng = np.random.default_rng(7)

    async def body() -> None:
        await log.start()
        for _ in range(4000):
            request = rng.bytes(16).hex()
            for shadow in (False, True):
                log.record(
                    deployment_id="d1",
                    version_id=CHAMPION,
                    prediction_ids=[f"{request}-0", f"{request}-1"],
                    inputs=Rows(2, tensor=np.zeros((2, 3))),
                    outputs=[{"label": 1, "p": 0.5}, {"label": 0, "p": 0.25}],
                    latency_ms=1.0,
                    at_ms=0,
                    shadow=shadow,
                )
        await log.close()

    _run(body)
    table = store.rows()
    kept = table.num_rows / (4000 * 2 * 2)
    assert 0.2 < kept < 0.3
    # a request's live answer and its shadow copy are kept or left together
    assert table.filter(pa.compute.field("shadow")).num_rows == table.num_rows // 2
    assert {"input", "output.label", "output.p"} <= set(table.column_names)
    assert table.column("input").to_pylist()[0] == [0.0, 0.0, 0.0]


def test_rows_of_a_deployment_the_log_was_not_told_of_are_counted_as_dropped() -> None:
    log = PredictionLog(Predictions(), project="shop")
    _record(log, 1, deployment_id="unknown", rows=4)
    assert (log.dropped, log.queue_rows) == (4, 0)


def test_record_costs_a_few_microseconds() -> None:
    """record is on the request path: measured per call (the median of 20 rounds of
    5,000 calls, printed for the report)."""
    log = PredictionLog(
        Predictions(), project="shop", max_queue_rows=10**7, deployments=[_deployment()]
    )
    rows = Rows(1, columns={"x": [1.0], "y": [2.0]})
    ids = [[f"{i:032x}-0"] for i in range(100_000)]
    outputs = [0]
    rounds = []
    for r in range(20):
        start = time.perf_counter()
        for i in range(r * 5000, (r + 1) * 5000):
            log.record(
                deployment_id="d1",
                version_id=CHAMPION,
                prediction_ids=ids[i],
                inputs=rows,
                outputs=outputs,
                latency_ms=0.1,
                at_ms=0,
            )
        rounds.append((time.perf_counter() - start) / 5000)
    per_call_us = sorted(rounds)[len(rounds) // 2] * 1e6
    print(f"record: {per_call_us:.2f} us per call")
    assert per_call_us < 10


def test_what_the_log_writes_the_service_keeps_and_loads(tmp_path: Any) -> None:
    """The writer's tables are segments: through the embedded service and back."""
    from modelyard import Client
    from modelyard.config import load_settings

    settings = load_settings(
        home=tmp_path / "home", store={"url": f"sqlite:///{tmp_path / 'store.db'}"}
    )
    with Client(settings) as client:
        client.create_project("shop")
        log = PredictionLog(
            client.predictions, project="shop", flush_s=3600, deployments=[_deployment()]
        )

        async def body() -> None:
            await log.start()
            _record(log, 1, rows=2)
            log.record(
                deployment_id="d1",
                version_id=CHAMPION,
                prediction_ids=[f"{2:032x}-0"],
                inputs=Rows(1, tensor=np.ones((1, 2))),
                outputs=[{"label": "churn", "p": 0.9}],
                latency_ms=2.0,
                at_ms=1_780_000_000_500,
                shadow=True,
            )
            await log.close()

        _run(body)
        assert log.written == 3 and log.dropped == 0
        client.predictions.add_labels("shop", "churn-api", {f"{1:032x}": 1})
        frame = client.predictions.load("shop", "churn-api").set_index("prediction_id")
    assert frame.loc[f"{1:032x}-0", "label"] == 1
    assert frame.loc[f"{1:032x}-1", "input.city"] == "oslo"
    shadow = frame.loc[f"{2:032x}-0"]
    assert bool(shadow["shadow"]) and shadow["output.label"] == "churn"
    assert list(shadow["input"]) == [1.0, 1.0]
    assert (shadow["model"], shadow["version"]) == ("churn", 3)  # from the plan's routes


def test_a_segment_costs_the_same_per_row_however_many_rows_it_holds() -> None:
    """A flush's table is built in time linear in its rows (30 input columns, one row per
    request): 10,000 requests cost per request at most twice what 1,000 do."""
    target = _Target("churn-api", 1 << 32, {CHAMPION: ("churn", 3)})
    columns = [f"x{c}" for c in range(30)]

    def items(n: int) -> list[Any]:
        return [
            ("d1", target, CHAMPION, [f"{i:032x}-0"], Rows(1, columns={c: [0.5] for c in columns}),
             [1], 0.25, 1_780_000_000_000 + i, False)
            for i in range(n)
        ]  # fmt: skip

    def per_request_s(n: int) -> float:
        built = items(n)
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            table = _table(built)
            best = min(best, time.process_time() - start)
        assert table.num_rows == n and table.num_columns == 7 + 30 + 1
        return best / n

    small, large = per_request_s(1_000), per_request_s(10_000)
    print(f"segment table: {small * 1e6:.1f} us/request at 1,000, {large * 1e6:.1f} at 10,000")
    assert large < 2 * small


def test_a_column_some_requests_lack_is_null_in_their_rows() -> None:
    target = _Target("churn-api", 1 << 32, {CHAMPION: ("churn", 3)})

    def item(i: int, columns: dict[str, list[Any]]) -> Any:
        return ("d1", target, CHAMPION, [f"{i:032x}-0"], Rows(1, columns=columns), [i], 0.25,
                1_780_000_000_000, False)  # fmt: skip

    table = _table(
        [item(0, {"x": [1.0]}), item(1, {"x": [2.0], "city": ["oslo"]}), item(2, {"x": [3.0]})]
    )
    assert table.column("input.x").to_pylist() == [1.0, 2.0, 3.0]
    assert table.column("input.city").to_pylist() == [None, "oslo", None]
    assert table.column("output").to_pylist() == [0, 1, 2]
