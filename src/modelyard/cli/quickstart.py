"""``modelyard quickstart``: the end-to-end tour on the embedded store."""

from __future__ import annotations

import typer

from modelyard.cli._common import console, one_line_errors, state, styled, table


@one_line_errors
def quickstart(
    ctx: typer.Context,
    project: str = typer.Option("quickstart", "--project", "-p", help="Project to record into."),
) -> None:
    """Train a small model sweep on scikit-learn's breast-cancer data and track it all, then
    retrain the best configuration as a pipeline twice (the second run is cached)."""
    from modelyard.examples.quickstart import run_quickstart

    settings = state(ctx).settings()
    result = run_quickstart(settings, project=project, console=console)
    best = result["best"]
    children = result["children"]
    table(
        f"Runs of {project} (best first)",
        ["run", "name", "n_estimators", "learning_rate", "val_auc", "val_accuracy"],
        [
            (
                r["run_id"][:12],
                r["name"],
                r["params.n_estimators"],
                r["params.learning_rate"],
                r["metrics.val_auc"],
                r["metrics.val_accuracy"],
            )
            for r in result["children"]
        ],
    )
    tour = result["pipeline"]
    table(
        "The best configuration as a pipeline, run twice",
        ["step", "first run", "second run", "why (second run)"],
        [
            (
                e.step,
                "cached" if tour.first.steps[e.step].cached else "ran",
                e.outcome,
                "; ".join(e.reasons),
            )
            for e in tour.explained
        ],
    )
    console.print(
        f"First run {tour.first_s:.2f} s, second run {tour.second_s:.2f} s "
        f"({len(tour.second.cached)} of {len(tour.second.steps)} steps from the cache); "
        f"val_auc {tour.scores['val_auc']:.4f}.",
        highlight=False,
    )
    console.print(
        styled(
            "\nRecorded into ",
            (settings.store_url, "bold"),
            f" (artifacts in {settings.artifacts_uri}):\n"
            f"  a parent run and {len(result['children'])} child runs with params, "
            "per-iteration metrics, system metrics, resource usage and cost,\n"
            "  artifacts (model, confusion matrix, feature importances, report), git state "
            "and installed packages,\n"
            "  and two pipeline runs of 3 steps each (a run per step, outputs as artifacts).\n"
            "\nLook at it:\n"
            f"  modelyard runs list --project {project}\n"
            f"  modelyard runs show {best['run_id'][:12]}\n"
            f"  modelyard runs compare {' '.join(r['run_id'][:12] for r in children[:2])}\n"
            f"  modelyard artifacts list {best['run_id'][:12]}\n"
            f"  modelyard pipelines explain {tour.second.run_id[:12]}",
        )
    )
