"""``modelyard quickstart``: the README's first command, end to end on a fresh store."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from modelyard import Client
from modelyard.cli.main import app


def test_quickstart_tracks_a_sweep_and_reruns_its_pipeline_from_the_cache(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    done = CliRunner().invoke(app, ["--home", str(home), "quickstart"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "3 of 3 steps from the cache" in done.output
    assert "modelyard pipelines explain" in done.output
    with Client(home=home) as client:
        runs = client.search_runs("quickstart", output="list").runs
        by_parent: dict[str | None, list[tuple[str, str]]] = {}
        for run in runs:
            label = run.tags.get("modelyard.step", run.name)
            by_parent.setdefault(run.parent_id, []).append(
                (label, run.tags.get("modelyard.cached", ""))
            )
        assert all(run.status == "finished" for run in runs)
        assert sorted(name.split("-")[0] for name, _ in by_parent[None]) == [
            "gbm",
            "retrain",
            "retrain",
        ]
        steps = sorted(sorted(children) for parent, children in by_parent.items() if parent)
        assert steps == [
            [("evaluate", "false"), ("load_data", "false"), ("train", "false")],
            [("evaluate", "true"), ("load_data", "true"), ("train", "true")],
            [("gbm-1", ""), ("gbm-2", ""), ("gbm-3", "")],
        ]
        best = client.search_runs(
            "quickstart",
            filter="metrics.val_auc > 0",
            order_by=["metrics.val_auc DESC"],
            output="list",
        ).runs[0]
        assert best.name == "gbm-2"
