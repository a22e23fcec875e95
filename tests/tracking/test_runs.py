"""Runs end to end through the SDK: lifecycle, params, metrics, tags, artifacts."""

from __future__ import annotations

import dataclasses
import math
import time

import pytest
from sqlalchemy import update

import modelyard as my
from modelyard import Client, Conflict, InvalidInput, NotFound
from modelyard.artifacts import open_blob_store
from modelyard.store import open_store
from modelyard.store.tables import runs


def test_run_records_params_metrics_tags(client: Client) -> None:
    with client.start_run("churn", name="rf-baseline") as run:
        run.log_params({"n_estimators": 200, "max_depth": 8})
        for epoch in range(100):
            run.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
        run.log_metric("auc", 0.91)
        run.set_tag("team", "growth")
    stored = client.get_run(run.id)
    assert stored.status == "finished"
    assert stored.project == "churn"
    assert stored.name == "rf-baseline"
    assert stored.params == {"n_estimators": "200", "max_depth": "8"}
    assert stored.metrics["loss"] == pytest.approx(0.01)
    assert stored.metrics["auc"] == pytest.approx(0.91)
    assert stored.tags["team"] == "growth"
    assert stored.end_time is not None and stored.end_time >= stored.start_time
    history = client.get_metric_history(run.id, "loss")
    assert history.steps == list(range(100))
    assert history.values[0] == 1.0


def test_steps_default_to_a_counter_per_key(client: Client) -> None:
    with client.start_run("p") as run:
        for value in (3.0, 2.0, 1.0):
            run.log_metric("loss", value)
        run.log_metric("acc", 0.5)
    assert client.get_metric_history(run.id, "loss").steps == [0, 1, 2]
    assert client.get_metric_history(run.id, "acc").steps == [0]


def test_failed_block_is_marked_failed_with_traceback(client: Client) -> None:
    with pytest.raises(ZeroDivisionError), client.start_run("p") as run:
        run.log_metric("x", 1)
        _ = 1 / 0
    stored = client.get_run(run.id)
    assert stored.status == "failed"
    assert "ZeroDivisionError" in stored.error
    assert "Traceback" in stored.error
    assert stored.metrics["x"] == 1.0


def test_keyboard_interrupt_marks_killed(client: Client) -> None:
    with pytest.raises(KeyboardInterrupt), client.start_run("p") as run:
        raise KeyboardInterrupt
    assert client.get_run(run.id).status == "killed"


def test_nested_runs_link_to_their_parent(client: Client) -> None:
    with client.start_run("p", name="parent") as parent:
        with client.start_run(name="child-1") as child:
            pass
        with parent.start_run(name="child-2") as child2:
            pass
    assert client.get_run(child.id).parent_id == parent.id
    assert client.get_run(child2.id).parent_id == parent.id
    assert client.get_run(child.id).project == "p"


def test_params_are_write_once(client: Client) -> None:
    with client.start_run("p") as run:
        run.log_param("lr", 0.1)
        run.log_param("lr", 0.1)
        with pytest.raises(Conflict, match="write-once"):
            run.log_param("lr", 0.2)
    assert client.get_run(run.id).params == {"lr": "0.1"}


def test_param_conflict_from_another_writer_surfaces_on_flush(client: Client) -> None:
    with client.start_run("p") as run:
        run.log_param("lr", "0.1")
        run.flush()
        other = Client(client.settings)
        try:
            from modelyard.sdk.run import ActiveRun

            # a writer that started before the param was logged (knows no params yet)
            twin = ActiveRun(other, dataclasses.replace(client.get_run(run.id), params={}))
            twin.log_param("lr", "0.5")
            with pytest.raises(Conflict, match="'lr'"):
                twin.flush()
        finally:
            other.close()
    assert client.get_run(run.id).params["lr"] == "0.1"


def test_nan_and_infinities_round_trip(client: Client) -> None:
    with client.start_run("p") as run:
        run.log_metric("m", math.nan, step=0)
        run.log_metric("m", math.inf, step=1)
        run.log_metric("m", -math.inf, step=2)
        run.log_metric("last_nan", math.nan)
    history = client.get_metric_history(run.id, "m")
    assert math.isnan(history.values[0])
    assert history.values[1:] == [math.inf, -math.inf]
    stored = client.get_run(run.id)
    assert stored.metrics["m"] == -math.inf
    assert math.isnan(stored.metrics["last_nan"])


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda r: r.log_metric("", 1.0), "metric key"),
        (lambda r: r.log_metric("a\nb", 1.0), "metric key"),
        (lambda r: r.log_metric("k" * 300, 1.0), "metric key"),
        (lambda r: r.log_metric("k", "1.0"), "value"),
        (lambda r: r.log_metric("k", None), "value"),
        (lambda r: r.log_metric("k", 1.0, step=-1), "step"),
        (lambda r: r.log_metric("k", 1.0, step=1.5), "step"),
        (lambda r: r.log_params([1, 2]), "params"),
        (lambda r: r.log_param("p", "x" * 70_000), "params.p"),
        (lambda r: r.set_tag(" t", "x"), "tag key"),
    ],
)
def test_bad_logging_input_is_invalid_input(client: Client, call, field: str) -> None:
    with client.start_run("p") as run:
        with pytest.raises(InvalidInput) as info:
            call(run)
        assert info.value.field == field


def test_numpy_scalars_are_accepted(client: Client) -> None:
    np = pytest.importorskip("numpy")
    with client.start_run("p") as run:
        run.log_metric("a", np.float32(0.5), step=np.int64(3))
    history = client.get_metric_history(run.id, "a")
    assert history.steps == [3] and history.values == [0.5]


def test_artifact_helpers_round_trip(client: Client, tmp_path) -> None:
    pd = pytest.importorskip("pandas")
    src = tmp_path / "reports"
    (src / "nested").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "nested" / "b.txt").write_text("beta")
    with client.start_run("p") as run:
        run.log_artifact(src / "a.txt")
        run.log_artifact(src, "reports")
        run.log_dict({"classes": ["stay", "leave"]}, "meta/classes.json")
        run.log_dict({"k": 1}, "meta/config.yaml")
        run.log_text("hello", "notes/readme.md")
        run.log_table(pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}), "tables/data")
    paths = [a.path for a in client.list_artifacts(run.id)]
    assert paths == [
        "a.txt",
        "meta/classes.json",
        "meta/config.yaml",
        "notes/readme.md",
        "reports",
        "tables/data.parquet",
    ]
    assert client.read_artifact(run.id, "meta/classes.json").startswith(b"{")
    assert client.read_artifact(run.id, "notes/readme.md") == b"hello"
    out = client.download_artifact(run.id, "reports", tmp_path / "out")
    assert (out / "nested" / "b.txt").read_text() == "beta"
    frame = pd.read_parquet(client.download_artifact(run.id, "tables/data.parquet", tmp_path / "t"))
    assert frame["y"].tolist() == ["a", "b"]


def test_log_figure_stores_png(client: Client) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with client.start_run("p") as run:
        run.log_figure(fig, "plots/curve.png")
    plt.close(fig)
    assert client.read_artifact(run.id, "plots/curve.png")[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_file_in_many_runs_is_stored_once(client: Client, settings, tmp_path) -> None:
    data = tmp_path / "weights.bin"
    data.write_bytes(b"w" * 10_000)
    for _ in range(100):
        with client.start_run("p", capture=False) as run:
            run.log_artifact(data)
    with open_blob_store(settings) as blobs:  # the server's, in remote mode
        assert len(list(blobs.iter_digests())) == 1


@pytest.mark.parametrize(
    "name", ["../escape.txt", "/etc/passwd", "a/../../b", "%2e%2e/x", "a\\b", "a\x00b"]
)
def test_artifact_names_are_confined(client: Client, tmp_path, name: str) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    with client.start_run("p") as run, pytest.raises(InvalidInput):
        run.log_artifact(f, name)


def test_dead_process_run_is_shown_lost(client: Client, settings) -> None:
    run = client.tracking.create_run("p", name="orphan")
    store = open_store(settings.store_url)
    with store.write() as conn:
        conn.execute(update(runs).where(runs.c.id == run.id).values(heartbeat_at=0))
    store.dispose()
    assert client.get_run(run.id).status == "lost"
    page = client.search_runs("p", filter="attributes.status = 'lost'", output="list")
    assert [r.id for r in page] == [run.id]


def test_heartbeat_keeps_a_live_run_running(settings) -> None:
    s = settings.model_copy(
        update={
            "tracking": settings.tracking.model_copy(
                update={
                    "heartbeat_interval_s": 0.05,
                    "heartbeat_timeout_s": 0.5,
                    "flush_interval_s": 0.05,
                }
            )
        }
    )
    with Client(s) as c, c.start_run("p") as run:
        time.sleep(1.0)
        assert c.get_run(run.id).status == "running"


def test_unknown_run_is_not_found(client: Client) -> None:
    with pytest.raises(NotFound):
        client.get_run("0" * 32)


def test_delete_hides_and_permanent_delete_removes(client: Client) -> None:
    with client.start_run("p") as run:
        run.log_metric("m", 1.0)
        with run.start_run(name="child") as child:
            pass
    client.delete_run(run.id)
    assert len(client.search_runs("p", output="list")) == 0
    assert len(client.search_runs("p", output="list", include_deleted=True)) == 2
    client.delete_run(run.id, permanent=True)
    with pytest.raises(NotFound):
        client.get_run(child.id)


def test_module_level_sugar(settings_env) -> None:
    with my.start_run(project="churn", name="rf") as run:
        assert my.active_run() is run
        run.log_metric("auc", 0.9)
        run.log_params({"max_depth": 8})
        with my.start_run(name="inner") as inner:
            assert inner.parent_id == run.id
    assert my.active_run() is None
    frame = my.search_runs("churn", filter="metrics.auc > 0.8 and params.max_depth = '8'")
    assert frame["run_id"].tolist() == [run.id]
    assert my.get_run(run.id).metrics["auc"] == 0.9
    assert my.get_metric_history(run, "auc").values == [0.9]
    assert my.get_metric_history(my.get_run(run), "auc").values == [0.9]


@pytest.mark.s3
@pytest.mark.local_only("a server's artifact store is the server's own setting")
def test_artifacts_on_s3_compatible_storage(settings, s3_artifacts, tmp_path) -> None:
    s3_settings = settings.model_copy(
        update={"artifacts": settings.artifacts.model_copy(update=s3_artifacts)}
    )
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 50_000)
    with Client(s3_settings) as c:
        with c.start_run("p", capture=False) as run:
            run.log_artifact(folder)
            run.log_dict({"auc": 0.9}, "eval.json")
        assert c.read_artifact(run.id, "eval.json") == b'{\n  "auc": 0.9\n}'
        out = c.download_artifact(run.id, "model", tmp_path / "out")
        assert (out / "weights.bin").read_bytes() == b"\x00\x01" * 50_000
        assert len(list(c.blobs.iter_digests())) == 3  # weights, tree manifest, eval.json


def test_resume_continues_a_finished_run(client: Client) -> None:
    with client.start_run("p", name="long-job") as run:
        run.log_param("lr", 0.1)
        for _ in range(3):
            run.log_metric("loss", 1.0)
    with client.start_run(run_id=run.id[:10]) as again:
        assert again.id == run.id
        assert client.get_run(run.id).status == "running"
        again.log_param("lr", 0.1)
        with pytest.raises(Conflict):
            again.log_param("lr", 0.5)
        again.log_metric("loss", 0.5)
    assert client.get_metric_history(run.id, "loss").steps == [0, 1, 2, 3]
    stored = client.get_run(run.id)
    assert stored.status == "finished" and stored.metrics["loss"] == 0.5
    with pytest.raises(NotFound):
        client.start_run(run_id="abcdef0123")


def test_a_retried_batch_is_stored_once(client: Client) -> None:
    from modelyard.tracking._buffer import Batch

    with client.start_run("p", capture=False) as run:
        batch = Batch(metrics=[(run.id, "m", 1.0, 0, 1), (run.id, "m", 2.0, 1, 2)])
        for _ in range(3):
            assert client.tracking.write_batch(batch, batch_id="batch-0001") is None
        assert client.get_metric_history(run.id, "m").values == [1.0, 2.0]
        client.tracking.write_batch(batch, batch_id="batch-0002")
        assert len(client.get_metric_history(run.id, "m")) == 4
        with pytest.raises(InvalidInput):
            client.tracking.write_batch(batch, batch_id="short")


def test_a_batch_naming_a_run_that_does_not_exist_is_not_found(client: Client) -> None:
    from modelyard.tracking._buffer import Batch

    run = client.tracking.create_run("p")
    batch = Batch(metrics=[(run.id, "m", 1.0, 0, 1), ("f" * 32, "m", 1.0, 0, 1)])
    with pytest.raises(NotFound, match=f"^run '{'f' * 32}' does not exist$"):
        client.tracking.write_batch(batch, "batch-0001")
    assert client.get_run(run.id).metrics == {}  # none of it stored
