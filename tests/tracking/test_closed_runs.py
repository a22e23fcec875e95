"""What may be written to a run, and when, in both SDK modes: an ended run's params,
metrics, artifacts, lineage and child runs are closed (its tags are not), a run ends
once, an artifact name is write-once and is a file or a folder of others, never both,
and a run's resource figures are finite numbers >= 0. The SDK's own flow (log, leave the
block: flushed, then ended) keeps working."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pytest

from modelyard import Client
from modelyard.errors import Conflict, InvalidInput
from modelyard.tracking._buffer import Batch


@pytest.mark.parametrize("status", ["finished", "failed", "killed"])
def test_an_ended_run_takes_no_params_metrics_or_artifacts(client: Client, status: str) -> None:
    run = client.start_run("p", capture=False)
    run.log_param("lr", 0.1)
    run.log_metric("loss", 1.0)
    run.log_text("first", "notes.txt")
    run.end(status)

    with pytest.raises(Conflict, match=f"run {run.id} is {status}") as refused:
        run.log_text("second", "other.txt")
    assert refused.value.field == "run_id"
    with pytest.raises(Conflict, match="closed"):
        run.log_param("momentum", 0.9)
    # Past the SDK's own bookkeeping: the service refuses the rows, and stores the rest.
    other = client.start_run("p", capture=False)
    batch = Batch(
        metrics=[(run.id, "loss", 9.0, 5, 1), (other.id, "loss", 2.0, 0, 1)],
        params=[(run.id, "lr", "0.5"), (run.id, "new", "x")],
        heartbeats=[run.id],
    )
    deferred = client.tracking.write_batch(batch, batch_id="closed-run-1")
    assert isinstance(deferred, Conflict)
    assert run.id in deferred.message and status in deferred.message
    other.end()

    stored = client.get_run(run.id)
    assert stored.status == status and stored.params == {"lr": "0.1"}
    assert stored.metrics == {"loss": 1.0}
    assert client.get_metric_history(run.id, "loss").values == [1.0]
    assert [a.path for a in client.list_artifacts(run.id)] == ["notes.txt"]
    assert client.read_artifact(run.id, "notes.txt") == b"first"
    assert client.get_metric_history(other.id, "loss").values == [2.0]


def test_an_ended_runs_lineage_is_closed(client: Client) -> None:
    client.datasets.register("raw", pa.table({"x": [1, 2]}), project="p")
    with client.start_run("p", capture=False) as run:  # the SDK's own flow records both
        client.datasets.load("raw", project="p", format="arrow")
        client.datasets.register("made", pa.table({"y": [1]}), project="p")
    service = client.datasets.service

    def relations() -> list[str]:
        edges = client.lineage_service.edges("run", run.id, "both")
        return sorted(e.relation for e in edges)

    assert relations() == ["input", "output"]
    raw = service.get("raw", project="p")
    with pytest.raises(Conflict, match=f"run {run.id} is finished") as refused:
        service.record_input(raw, run.id)
    assert refused.value.field == "run_id"
    with pytest.raises(Conflict, match="lineage and child runs are closed"):
        service.register("later", pa.table({"z": [1]}), project="p", run_id=run.id)
    with pytest.raises(Conflict, match="lineage and child runs are closed"):  # data it did not make
        service.register("raw", pa.table({"x": [1, 2]}), project="p", run_id=run.id)
    assert relations() == ["input", "output"]
    assert [d.name for d in service.list_datasets("p")] == ["made", "raw"]

    client.tracking.resume_run(run.id)
    service.register("later", pa.table({"z": [1]}), project="p", run_id=run.id)
    assert relations() == ["input", "output", "output"]


def test_an_ended_run_takes_no_child_runs(client: Client) -> None:
    with client.start_run("p", capture=False) as run, run.start_run("inner") as inner:
        inner.log_metric("auc", 0.9)  # the SDK's own flow: children while it is open
    with pytest.raises(Conflict, match=f"run {run.id} is finished") as refused:
        client.start_run("p", name="late", parent=run.id, capture=False)
    assert refused.value.field == "parent_id"
    children = client.search_runs("p", f"attributes.parent_id = '{run.id}'", output="list")
    assert [r.name for r in children.runs] == ["inner"]


def test_tags_stay_open_after_the_end(client: Client) -> None:
    with client.start_run("p", capture=False, tags={"stage": "draft"}) as run:
        pass
    assert client.tracking.write_batch(Batch(tags=[(run.id, "stage", "best")])) is None
    assert client.get_run(run.id).tags["stage"] == "best"


def test_logging_then_leaving_the_block_stores_everything(client: Client) -> None:
    """Buffered values are flushed before the run's status changes."""
    with client.start_run("p", capture=False) as run:
        run.log_params({"a": 1, "b": 2})
        for step in range(2000):
            run.log_metric("loss", 1.0 / (step + 1))
        with run.start_run("child") as child:
            child.log_metric("auc", 0.9)
            child.log_bytes(b"weights", "model.bin")
        run.set_tag("done", "yes")
    assert len(client.get_metric_history(run.id, "loss")) == 2000
    stored = client.get_run(run.id)
    assert stored.status == "finished" and stored.params == {"a": "1", "b": "2"}
    assert stored.tags["done"] == "yes"
    assert client.get_run(child.id).metrics == {"auc": 0.9}


def test_a_run_ends_once(client: Client) -> None:
    run = client.start_run("p", capture=False)
    run.end("killed")
    client.tracking.end_run(run.id, "killed")  # the same end again (a retried request)
    with pytest.raises(Conflict, match="already ended") as refused:
        client.tracking.end_run(run.id, "finished", error=None)
    assert refused.value.field == "status"
    assert client.get_run(run.id).status == "killed"


def test_resuming_reopens_the_run(client: Client) -> None:
    with client.start_run("p", capture=False) as run:
        run.log_metric("loss", 1.0)
    with client.start_run(run_id=run.id) as again:
        again.log_metric("loss", 0.5)
        again.log_bytes(b"later", "later.txt")
    assert client.get_metric_history(run.id, "loss").values == [1.0, 0.5]
    assert client.read_artifact(run.id, "later.txt") == b"later"


def test_an_artifact_name_is_write_once(client: Client, tmp_path: Path) -> None:
    with client.start_run("p", capture=False) as run:
        first = run.log_text("v1", "model/weights.txt")
        again = run.log_text("v1", "model/weights.txt")  # the same bytes: fine
        assert again.digest == first.digest and again.created_at == first.created_at
        with pytest.raises(Conflict, match=r"'model/weights\.txt'") as refused:
            run.log_text("v2", "model/weights.txt")
        assert refused.value.field == "path" and "write-once" in refused.value.message
        folder = tmp_path / "tree"
        folder.mkdir()
        (folder / "a.txt").write_text("a")
        run.log_artifact(folder, "tree")
        run.log_artifact(folder, "tree")
        (folder / "a.txt").write_text("changed")
        with pytest.raises(Conflict, match="'tree'"):
            run.log_artifact(folder, "tree")
    assert client.read_artifact(run.id, "model/weights.txt") == b"v1"


def test_a_file_and_a_folder_cannot_share_a_name(client: Client, tmp_path: Path) -> None:
    folder = tmp_path / "tree"
    folder.mkdir()
    (folder / "x.txt").write_text("x")
    with client.start_run("p", capture=False) as run:
        run.log_text("a file", "a")
        with pytest.raises(Conflict, match="has artifact 'a'"):
            run.log_text("under it", "a/x")
        with pytest.raises(Conflict, match="has artifact 'a'"):
            run.log_text("deeper", "a/b/c")
        run.log_text("in a folder", "b/x")
        with pytest.raises(Conflict, match="has artifacts under 'b/'"):
            run.log_text("beside it", "b")
        with pytest.raises(Conflict, match="has artifacts under 'b/'"):
            run.log_artifact(folder, "b")
        run.log_artifact(folder, "model")  # a tree is a file of the run's, as a name
        with pytest.raises(Conflict, match="has artifact 'model'"):
            run.log_text("inside a tree", "model/extra.txt")
        run.log_text("a sibling", "ab")  # a prefix of the text is not a folder
    assert sorted(a.path for a in client.list_artifacts(run.id)) == ["a", "ab", "b/x", "model"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("wall_time_s", -1.0),
        ("cpu_time_s", math.nan),
        ("gpu_time_s", math.inf),
        ("cost", -0.01),
        ("cost", -math.inf),
        ("peak_rss_bytes", -1),
        ("peak_rss_bytes", 2**63),
    ],
)
def test_resource_figures_are_finite_and_not_negative(
    client: Client, field: str, value: float
) -> None:
    run = client.start_run("p", capture=False)
    with pytest.raises(InvalidInput) as refused:
        client.tracking.end_run(run.id, "finished", **{field: value})
    assert refused.value.field == field
    assert client.get_run(run.id).status == "running"
    client.tracking.end_run(run.id, "finished", **{field: 0})
    assert getattr(client.get_run(run.id), field) == 0


@pytest.mark.parametrize(
    ("step", "timestamp", "field"),
    [(-1, None, "step"), (2**63, None, "step"), (0, -5, "timestamp"), (0, 1.5, "timestamp")],
)
def test_steps_and_timestamps_are_bounded(
    client: Client, step: int, timestamp: int | None, field: str
) -> None:
    with client.start_run("p", capture=False) as run:
        with pytest.raises(InvalidInput) as refused:
            run.log_metric("m", 1.0, step=step, timestamp=timestamp)
        assert refused.value.field == field
