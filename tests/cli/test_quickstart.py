"""``modelyard quickstart``: the README's first command, end to end on a fresh store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelyard import Client
from modelyard.cli.main import app
from modelyard.governance import SYSTEM


def test_quickstart_tracks_a_sweep_reruns_its_pipeline_and_approves_its_best_model(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    done = CliRunner().invoke(
        app, ["--home", str(home), "quickstart", "--tour"], env={"COLUMNS": "200"}
    )
    assert done.exit_code == 0, done.output
    assert "3 of 3 steps from the cache" in done.output
    assert "monitoring story" not in done.output
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
        assert best.name == "gbm-3"
        version = client.models.get_version("quickstart-gbm@champion", project="quickstart")
        assert (version.version, version.status, version.run_id) == (1, "production", best.id)
        evaluation = client.models.evaluations("quickstart-gbm/1", project="quickstart")[0]
        assert evaluation.rows == 114 and evaluation.metrics["roc_auc"] > 0.95
        card = client.models.card("quickstart-gbm/1", project="quickstart")
        assert {"intended_use", "limitations", "license"} <= set(card.fields)
        (request,) = client.models.requests("quickstart-gbm", project="quickstart")
        assert (request.to_status, request.state, request.approvals_needed) == (
            "production",
            "applied",
            1,
        )
        assert [(d.decided_by, d.decision) for d in request.decisions] == [("reviewer", "approve")]
        assert request.requested_by != "reviewer"
        policy = client.models.policy("quickstart-gbm", project="quickstart").policy
        assert policy.gate("production").approvals == 1
        moves = client.models.history("quickstart-gbm", alias="champion", project="quickstart")
        assert [m.to_version for m in moves] == [1]
        deployment = client.deployments.get("quickstart-api", project="quickstart")
        assert [(r.model, r.ref, r.version) for r in deployment.plan.routes] == [
            ("quickstart-gbm", "champion", 1)
        ]
        log = client.predictions.load("quickstart", "quickstart-api")
        assert len(log) == 5 and not log["shadow"].any()
        assert set(log["version"]) == {1}
        labelled = log[log["label"].notna()]
        assert len(labelled) == 1 and labelled["prediction_id"].iloc[0] in done.output
        tokens = client.services.governance.tokens.list_tokens("quickstart-app", actor=SYSTEM)
        assert [t.state for t in tokens] == ["revoked"]  # the tour's token does not outlive it
    for text in (
        "quickstart-gbm version 1 from the best run",
        "on 114 held-out rows: roc_auc",
        "registered -> production by",
        "open, 4 of 5 rules passed, 1 approval needed",
        "by reviewer (approver): applied, now production",
        "champion -> version 1",
        "quickstart-gbm@champion: a GradientBoostingClassifier",
        "modelyard models show quickstart-gbm@champion --project quickstart",
        "Deployment quickstart-api (quickstart-gbm@champion) served at http://127.0.0.1:",
        "v1 predict (records)",
        "/invocations (dataframe_split)",
        "5 rows (0 from shadows), 1 labelled",
        "modelyard deployments show quickstart-api --project quickstart",
    ):
        assert text in done.output, text


@pytest.mark.slow
def test_quickstart_without_the_server_extra_says_so_and_deploys_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modelyard.examples.quickstart as quickstart

    monkeypatch.setattr(quickstart, "SERVER_MODULES", ("uvicorn", "modelyard_no_such_module"))
    home = tmp_path / "home"
    done = CliRunner().invoke(app, ["--home", str(home), "quickstart"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "Not deployed: modelyard serve needs the server extra" in done.output
    assert "and nothing deployed (no server extra)" in done.output
    assert "modelyard deployments show" not in done.output
    # the story after the tour needs the server: it says so, and the tour stands
    assert "No monitoring story: 'modelyard_no_such_module' is not installed" in done.output
    assert "pip install 'modelyard[server]'" in done.output
    with Client(home=home) as client:
        assert client.deployments.list_deployments("quickstart") == []


def test_quickstart_tells_the_tour_or_the_story_not_both_alone(tmp_path: Path) -> None:
    done = CliRunner().invoke(
        app, ["--home", str(tmp_path / "home"), "quickstart", "--tour", "--story"]
    )
    assert done.exit_code == 2, done.output
    assert "give --tour or --story, not both" in done.output
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").iterdir())
