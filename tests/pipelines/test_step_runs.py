"""Pipeline and step runs as tracked runs: parent and children, params, tags, captured
output, stored outputs, datasets, retries and timeouts."""

from __future__ import annotations

import concurrent.futures
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from modelyard import Client, InvalidInput, NotFound
from modelyard.config import Settings
from modelyard.pipelines import explain

STEPS = """
import sys
import time
from pathlib import Path

import pandas as pd

import modelyard as my


@my.step(dataset="squares")
def table(n: int) -> pd.DataFrame:
    assert sys.stdout.encoding and sys.stderr.fileno() >= 0 and not sys.stdout.isatty()
    print("making", n, "rows")
    print("a warning", file=sys.stderr)
    return pd.DataFrame({"x": range(n), "y": [i * i for i in range(n)]})


@my.step
def summary(df: pd.DataFrame) -> dict:
    return {"rows": len(df), "total": int(df["y"].sum())}


@my.pipeline
def squares(n: int = 4):
    summary(table(n))


@my.step(retries=2, retry_delay_s=0)
def flaky(counter: str) -> int:
    path = Path(counter)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    if seen < 1:
        raise ConnectionError("try again")
    return seen


@my.pipeline
def retrying(counter: str):
    flaky(counter)


@my.step(timeout_s=0.2)
def slow(marker: str) -> int:
    time.sleep(0.6)
    Path(marker).write_text("finished")
    return 1


@my.pipeline
def sleeping(marker: str):
    slow(marker)
"""

Write = Callable[..., dict[str, ModuleType]]


@pytest.fixture
def steps(write_modules: Write) -> ModuleType:
    return write_modules(run_steps=STEPS)["run_steps"]


def test_a_pipeline_run_is_a_parent_run_with_a_child_run_per_step(
    pipe_client: Client, steps: ModuleType
) -> None:
    result = steps.squares.run(n=3, client=pipe_client, project="shapes")

    parent = pipe_client.get_run(result.run_id)
    assert parent.project == "shapes"
    assert parent.status == "finished"
    assert parent.params == {"n": "3"}
    assert parent.tags["modelyard.pipeline"] == "squares"
    assert parent.tags["modelyard.executor"] == "sequential"
    for name in ("table", "summary"):
        child = pipe_client.get_run(result.steps[name].run_id)
        assert child.parent_id == parent.id
        assert child.name == f"{parent.name}/{name}"
        assert child.status == "finished"
        assert child.duration_s is not None
        assert child.wall_time_s is not None and child.cpu_time_s is not None
        assert child.tags["modelyard.step"] == name
        assert child.tags["modelyard.cached"] == "false"
        assert child.tags["modelyard.attempts"] == "1"
        assert len(child.tags["modelyard.cache_key"]) == 64
    assert pipe_client.get_run(result.steps["table"].run_id).params == {"n": "3"}


def test_step_output_and_streams_are_artifacts(pipe_client: Client, steps: ModuleType) -> None:
    result = steps.squares.run(n=3, client=pipe_client)
    table_run = result.steps["table"].run_id

    names = {a.path for a in pipe_client.list_artifacts(table_run)}
    assert names == {"outputs/output.parquet", "logs/stdout.txt", "logs/stderr.txt"}
    assert pipe_client.read_artifact(table_run, "logs/stdout.txt") == b"making 3 rows\n"
    assert pipe_client.read_artifact(table_run, "logs/stderr.txt") == b"a warning\n"
    output = result.steps["table"].output
    assert output.materializer == "pandas"
    assert output.type == "pandas.DataFrame"
    assert pipe_client.blobs.exists(output.digest)
    pd.testing.assert_frame_equal(
        result.output("table"), pd.DataFrame({"x": range(3), "y": [0, 1, 4]})
    )
    assert result.output("summary") == {"rows": 3, "total": 5}
    with pytest.raises(NotFound, match="has no step 'nope'"):
        result.output("nope")


def test_a_cached_step_run_links_the_run_that_made_its_outputs(
    pipe_client: Client, steps: ModuleType
) -> None:
    first = steps.squares.run(n=3, client=pipe_client)
    again = steps.squares.run(n=3, client=pipe_client)

    cached = pipe_client.get_run(again.steps["table"].run_id)
    assert cached.tags["modelyard.cached"] == "true"
    assert cached.tags["modelyard.cached_from"] == first.steps["table"].run_id
    assert cached.tags["modelyard.dataset"] == "squares:1"
    [artifact] = pipe_client.list_artifacts(cached.id)
    assert artifact.digest == first.steps["table"].output.digest


def test_a_step_can_register_its_output_as_a_dataset_version(
    pipe_client: Client, steps: ModuleType
) -> None:
    result = steps.squares.run(n=5, client=pipe_client)
    run_id = result.steps["table"].run_id

    version = pipe_client.datasets.get("squares")
    assert version.version == 1 and version.num_rows == 5
    assert result.steps["table"].output.dataset == "squares:1"
    assert pipe_client.get_run(run_id).tags["modelyard.dataset"] == "squares:1"
    [edge] = pipe_client.datasets.lineage("squares", direction="up")
    assert (edge.source_kind, edge.source_id, edge.relation) == ("run", run_id, "output")
    pd.testing.assert_frame_equal(
        pipe_client.datasets.load("squares"), pd.DataFrame({"x": range(5), "y": [0, 1, 4, 9, 16]})
    )


def test_a_failing_step_is_retried(pipe_client: Client, steps: ModuleType, tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    result = steps.retrying.run(counter=str(counter), client=pipe_client)

    assert result.output("flaky") == 1
    assert counter.read_text() == "2"
    run = pipe_client.get_run(result.steps["flaky"].run_id)
    assert run.tags["modelyard.attempts"] == "2"
    stderr = pipe_client.read_artifact(run.id, "logs/stderr.txt").decode()
    assert "attempt 1 of 3 failed" in stderr and "ConnectionError: try again" in stderr


def test_a_step_past_its_timeout_is_stopped(
    pipe_client: Client, steps: ModuleType, tmp_path: Path
) -> None:
    marker = tmp_path / "finished"
    timer_before = signal.getitimer(signal.ITIMER_REAL)[0]  # pytest-timeout's, if any
    with pytest.raises(TimeoutError, match=r"step 'slow' did not finish within 0\.2 s"):
        steps.sleeping.run(marker=str(marker), client=pipe_client)
    [run] = [
        r for r in pipe_client.search_runs("default", output="list") if r.name.endswith("/slow")
    ]
    assert run.status == "failed"
    timer_after = signal.getitimer(signal.ITIMER_REAL)[0]
    assert (0 < timer_after <= timer_before) if timer_before else timer_after == 0
    time.sleep(0.8)
    assert not marker.exists()  # stopped, not left running


def test_off_the_main_thread_a_timed_out_step_is_abandoned(
    pipe_client: Client, steps: ModuleType, tmp_path: Path
) -> None:
    marker = tmp_path / "finished"
    with (
        concurrent.futures.ThreadPoolExecutor(1) as pool,
        pytest.raises(TimeoutError, match="did not finish within"),
    ):
        pool.submit(steps.sleeping.run, marker=str(marker), client=pipe_client).result()
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == "finished"  # Python cannot stop a thread


def test_pipelines_need_the_stores(steps: ModuleType) -> None:
    remote = Client(tracking={"uri": "http://127.0.0.1:9"})
    with pytest.raises(InvalidInput, match="pipelines run against the stores"):
        steps.squares.run(client=remote)


def test_unknown_executor_is_rejected(pipe_client: Client, steps: ModuleType) -> None:
    with pytest.raises(InvalidInput, match="executor must be one of sequential, local, ray"):
        steps.squares.run(client=pipe_client, executor="dask")


def test_step_runs_and_their_artifacts_are_linked_by_lineage_edges(
    pipe_client: Client, steps: ModuleType
) -> None:
    first = steps.squares.run(n=3, client=pipe_client)
    table_run, summary_run = first.steps["table"].run_id, first.steps["summary"].run_id
    table_out = first.steps["table"].output.digest

    up = pipe_client.lineage(("run", summary_run), direction="up", depth=2)
    assert {(n.kind, n.id) for n in up.nodes} == {
        ("run", summary_run),
        ("artifact", table_out),
        ("run", table_run),
    }
    assert [(e.source_id, e.target_id, e.relation) for e in up.edges] == [
        (table_out, summary_run, "input"),
        (table_run, table_out, "output"),
    ]
    assert up.node("artifact", table_out).label == f"artifact blake3:{table_out[:16]}"
    down = pipe_client.lineage(("run", table_run), direction="down", depth=2)
    version = pipe_client.datasets.get("squares")
    assert {(n.kind, n.id) for n in down.nodes} == {
        ("run", table_run),
        ("artifact", table_out),
        ("run", summary_run),
        ("dataset_version", version.id),
    }

    again = steps.squares.run(n=3, client=pipe_client)
    cached = pipe_client.lineage(("run", again.steps["summary"].run_id), direction="up", depth=1)
    assert {(e.source_id, e.relation) for e in cached.edges} == {
        (table_out, "input"),
        (summary_run, "reused"),
    }
    readers = pipe_client.lineage(("artifact", table_out), direction="down", depth=1)
    assert {n.id for n in readers.nodes} == {table_out, summary_run, again.steps["summary"].run_id}
    with pytest.raises(NotFound, match="no run holds an artifact"):
        pipe_client.lineage_service.edges("artifact", "0" * 64)


def test_without_a_client_the_settings_make_one(settings_env: Settings, steps: ModuleType) -> None:
    result = steps.squares.run(n=2)
    assert result.output("summary") == {"rows": 2, "total": 1}
    assert [str(e) for e in explain(result.run_id)] == [
        "table: ran: no earlier run",
        "summary: ran: no earlier run",
    ]
    with Client(settings_env) as client:
        assert client.get_run(result.run_id).status == "finished"


def test_garbage_collection_keeps_step_outputs(pipe_client: Client, steps: ModuleType) -> None:
    first = steps.squares.run(n=3, client=pipe_client)
    pipe_client.gc(min_age_s=0)
    again = steps.squares.run(n=3, client=pipe_client)
    assert again.cached == ["table", "summary"]
    assert again.output("summary") == first.output("summary")


def test_the_step_index_answers_gc_for_the_blobs_of_step_outputs(
    pipe_client: Client, steps: ModuleType, tmp_path: Path
) -> None:
    from modelyard.pipelines.index import OutputRef, StepIndex

    result = steps.squares.run(n=3, client=pipe_client)
    files = {o.digest for o in (step.output for step in result.steps.values()) if o}
    index = StepIndex(pipe_client.store)
    assert index.referenced_digests() == files and len(files) == 2
    assert index.tree_digests() == set()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"w")
    tree = pipe_client.blobs.put_tree(tmp_path / "model")
    with pipe_client.start_run("default") as run:  # a step run whose output is a folder
        pass
    record = index.of_pipeline_run(result.run_id)[0]
    with pipe_client.store.write() as conn:
        index.record(
            conn,
            run_id=run.id,
            pipeline_run_id=result.run_id,
            project_id=str(index.project_of(result.run_id)),
            pipeline=record.pipeline,
            step="folder",
            parts=record.parts,
            cached=False,
            source_run_id=None,
            output=OutputRef("outputs/model", tree.digest, "tree", tree.size, "folder", "dir"),
        )
    assert index.referenced_digests() == files | {tree.digest}
    assert index.tree_digests() == {tree.digest}


def test_a_param_too_long_to_log_fails_the_runs_it_was_given_to(
    pipe_client: Client, steps: ModuleType
) -> None:
    with pytest.raises(
        InvalidInput, match=r"^params\.counter: 70000 characters, the limit is 65536$"
    ):
        steps.retrying.run(counter="x" * 70_000, client=pipe_client)
    runs = pipe_client.search_runs("default", output="list")
    assert [r.status for r in runs] == ["failed"]  # the pipeline run; no step run began


def test_an_artifact_is_readable_in_lineage_only_through_a_readable_run(
    pipe_client: Client, steps: ModuleType
) -> None:
    from modelyard.governance import SYSTEM, Actor, Governance

    result = steps.squares.run(n=3, client=pipe_client, project="secret")
    digest = result.steps["table"].output.digest
    gov = Governance(pipe_client.store)
    outsider = gov.users.create_service_account("outsider", actor=SYSTEM)
    reader = gov.users.create_service_account("reader", actor=SYSTEM)
    gov.roles.grant("secret", "reader", "viewer", actor=SYSTEM)
    service = pipe_client.services.lineage
    assert service.acting_as(Actor.of(reader.principal())).edges("artifact", digest)
    outsiders = service.acting_as(Actor.of(outsider.principal()))
    with pytest.raises(NotFound) as held:  # as if no run held those bytes
        outsiders.edges("artifact", digest)
    with pytest.raises(NotFound) as unheld:
        outsiders.edges("artifact", "f" * 64)
    assert held.value.message == unheld.value.message.replace("f" * 64, digest)
