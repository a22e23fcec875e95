"""``modelyard quickstart``: the end-to-end tour on the embedded store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from modelyard.cli._common import console, one_line_errors, state, styled, table

if TYPE_CHECKING:
    from modelyard.examples.quickstart_registry import RegistryTour
    from modelyard.examples.quickstart_serving import ServingTour
    from modelyard.registry.entities import ModelVersion


@one_line_errors
def quickstart(
    ctx: typer.Context,
    project: str = typer.Option("quickstart", "--project", "-p", help="Project to record into."),
) -> None:
    """Train a small model sweep on scikit-learn's breast-cancer data and track it all,
    retrain the best configuration as a pipeline twice (the second run is cached), then
    register the best model, evaluate it on held-out rows, approve it into production
    and load it as the champion; deploy it, serve it on a loopback port, call it, label a
    prediction and read the prediction log back."""
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
    _print_registry(result["registry"], project)
    model = result["registry"].version.name
    serving = result["serving"]
    served, serve_hints = "  and nothing deployed (no server extra).\n", ""
    if serving is None:
        console.print(
            "\nNot deployed: modelyard serve needs the server extra "
            "(pip install 'modelyard[server]').",
            highlight=False,
        )
    else:
        _print_serving(serving)
        served = (
            f"  and deployment {serving.deployment}: its plan, the predictions it answered "
            "(logged) and a label.\n"
        )
        serve_hints = (
            f"\n  modelyard deployments show {serving.deployment} --project {project}"
            f"\n  {serving.command}   # then curl localhost:8600 (a predictor's token)"
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
            "  two pipeline runs of 3 steps each (a run per step, outputs as artifacts),\n"
            f"  model {model}: its version, evaluation, card, approved request and alias,\n"
            f"{served}"
            "\nLook at it:\n"
            f"  modelyard runs list --project {project}\n"
            f"  modelyard runs show {best['run_id'][:12]}\n"
            f"  modelyard runs compare {' '.join(r['run_id'][:12] for r in children[:2])}\n"
            f"  modelyard artifacts list {best['run_id'][:12]}\n"
            f"  modelyard pipelines explain {tour.second.run_id[:12]}\n"
            f"  modelyard models show {model}@champion --project {project}\n"
            f"  modelyard models requests {model} --project {project}\n"
            f"  modelyard models card {model}@champion --project {project}{serve_hints}",
        )
    )


def _print_serving(tour: ServingTour) -> None:
    rows = [
        (call.endpoint, call.version, pid, str(prediction))
        for call in tour.calls
        for pid, prediction in call.rows
    ]
    table(
        f"Deployment {tour.deployment} ({tour.route}) served at {tour.url}",
        ["request", "version", "prediction id", "prediction"],
        rows,
    )
    labelled = tour.log[tour.log["label"].notna()]
    shadows = int(tour.log["shadow"].sum())
    console.print(
        f"Labelled {tour.labelled[0]} as {tour.labelled[1]}; stopped the server and read "
        f"its prediction log back: {len(tour.log)} rows ({shadows} from shadows), "
        f"{len(labelled)} labelled; {tour.seconds:.2f} s in all.",
        highlight=False,
    )


def _print_registry(tour: RegistryTour, project: str) -> None:
    version, metrics = tour.version, tour.evaluation.metrics
    rows = [
        (
            "registered",
            f"{version.name} version {version.version} from the best run "
            f"({version.flavor}, a signature of {_columns(version)} columns)",
        ),
        (
            "evaluated",
            f"on {tour.evaluation.rows} held-out rows: roc_auc {metrics['roc_auc']:.4f}, "
            f"accuracy {metrics['accuracy']:.4f}",
        ),
        ("card", "intended_use, limitations and license filled in"),
    ]
    if tour.asked is not None and tour.approved is not None:
        passed = sum(1 for c in tour.asked.checks if c.passed)
        rows += [
            (
                "requested",
                f"{tour.asked.from_status} -> production by {tour.asked.requested_by}: "
                f"{tour.asked.state}, {passed} of {len(tour.asked.checks)} rules passed, "
                f"{tour.asked.approvals_needed} approval needed",
            ),
            (
                "approved",
                f"by {tour.approved.decisions[-1].decided_by} (approver): "
                f"{tour.approved.state}, now {version.status}",
            ),
        ]
    else:
        rows.append(("requested", f"nothing: version {version.version} is in production"))
    rows += [
        ("alias", f"champion -> version {version.version}"),
        (
            "loaded",
            f"{version.name}@champion: a {tour.loaded_type}, accuracy "
            f"{tour.loaded_accuracy:.4f} on the held-out rows",
        ),
    ]
    table(f"The best model through the registry of {project}", ["step", "what"], rows)


def _columns(version: ModelVersion) -> int | str:
    signature = version.signature
    if signature is None or signature.inputs.columns is None:
        return "no"
    return len(signature.inputs.columns)
