"""``modelyard quickstart``: the end-to-end tour on the embedded store, then the
monitoring story (``--tour`` or ``--story`` tells one of them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from modelyard.cli._common import console, one_line_errors, state, styled, table
from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    from modelyard.config import Settings
    from modelyard.examples._replay import ReplayStep
    from modelyard.examples._timeline import Timeline
    from modelyard.examples.quickstart_monitoring import Story
    from modelyard.examples.quickstart_registry import RegistryTour
    from modelyard.examples.quickstart_serving import ServingTour
    from modelyard.registry.entities import ModelVersion

#: July to December 2011: the days the story replays.
REPLAYED_DAYS = 184
DAY_MS = 86_400_000


@one_line_errors
def quickstart(
    ctx: typer.Context,
    project: str = typer.Option("quickstart", "--project", "-p", help="Project to record into."),
    tour: bool = typer.Option(
        False, "--tour", help="Only the tour (about 20 s), not the monitoring story after it."
    ),
    story: bool = typer.Option(
        False, "--story", help="Only the monitoring story (about two minutes), not the tour."
    ),
) -> None:
    """Tour the platform on a small model, then tell the monitoring story of a year of
    bike-share traffic.

    The tour: train a small model sweep on scikit-learn's breast-cancer data and track it
    all, retrain the best configuration as a pipeline twice (the second run is cached),
    register the best model, evaluate it on held-out rows, approve it into production and
    load it as the champion; deploy it, serve it on a loopback port, call it, label a
    prediction and read the prediction log back.

    The story: a model of busy hours trained on the first half of 2011's hourly
    bike-share (ISLP), deployed behind the real server, and the second half replayed
    through it with labels arriving later and a change of behaviour from October; its
    monitors catch the change, a loop retrains, canaries and promotes v2, and the health
    score recovers. It prints the timeline and leaves HTML reports."""
    if tour and story:
        raise InvalidInput(
            "give --tour or --story, not both (neither: the tour, then the story)", field="--story"
        )
    settings = state(ctx).settings()
    if not story:
        _tour(settings, project)
    if tour:
        return
    missing = _story_missing()
    if missing is not None and not story:  # the tour went as far as it could without it
        console.print(f"\nNo monitoring story: {missing}", highlight=False)
        return
    _tell_story(settings, project)


def _tour(settings: Settings, project: str) -> None:
    """The tour, with what it recorded and where to look."""
    from modelyard.examples.quickstart import run_quickstart

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


def _story_missing() -> str | None:
    """Why the story cannot be told here (an extra not installed), or None."""
    from importlib.util import find_spec

    from modelyard.errors import MissingDependency
    from modelyard.examples.quickstart import SERVER_MODULES

    if find_spec("sklearn") is None:
        return MissingDependency.for_extra("scikit-learn", "sklearn").message
    missing = [m for m in SERVER_MODULES if find_spec(m) is None]
    if missing:
        return MissingDependency.for_extra(missing[0], "server").message
    return None


def _tell_story(settings: Settings, project: str) -> None:
    """The monitoring story (``examples/quickstart_monitoring.py``) watched by its monitors
    and loop (``examples/story_loop.py``), a progress bar over the replayed weeks: its
    timeline and reports."""
    from modelyard.errors import MissingDependency

    missing = _story_missing()
    if missing is not None:
        raise MissingDependency(missing)
    from modelyard.examples.story_loop import tell_story

    console.print(
        "\nThe monitoring story: v1 learns busy hours from January-June 2011; July-December "
        "is replayed through its server, watched.",
        highlight=False,
    )
    with _replay_progress() as on_week:
        told = tell_story(settings, project, on_week=on_week)
    _print_timeline(told.story.timeline, f"The story of {told.story.route} in {project}")
    _print_story_end(told.story, settings.store_url, project)
    console.print("\nReports:")
    for path in told.reports:
        console.print(f"  {path}")


@contextmanager
def _replay_progress() -> Iterator[Callable[[ReplayStep], None]]:
    """A Rich progress bar over the replayed days (on stderr, when it is a terminal):
    training and deploying first, then each replayed week as its pass and loop finish."""
    from rich.progress import TextColumn, TimeElapsedColumn

    from modelyard.cli._common import progress
    from modelyard.examples.quickstart_monitoring import TRAINED_UNTIL

    start_ms = datetime.fromisoformat(TRAINED_UNTIL).timestamp() * 1000
    days = TextColumn("{task.completed:.0f}/{task.total:.0f} days")
    with progress(days, TimeElapsedColumn()) as bar:
        task = bar.add_task("training v1 and deploying it", total=REPLAYED_DAYS)

        def on_week(step: ReplayStep) -> None:
            day = (step.end - start_ms) / DAY_MS
            when = datetime.fromtimestamp(step.end / 1000, UTC).strftime("%d %b")
            bar.update(task, completed=min(day, REPLAYED_DAYS), description=f"replayed to {when}")

        yield on_week


def _print_timeline(timeline: Timeline, title: str) -> None:
    """Each event on the data's clock; those that wait for a part not there yet, dimmed."""
    from rich.text import Text

    rows = [
        (
            Text(event.when or "-", style="dim" if event.waiting else ""),
            Text(event.kind, style="dim" if event.waiting else "bold"),
            Text(f"{event.what}: waits for the monitors and the loop", style="dim")
            if event.waiting
            else Text(event.what),
        )
        for event in timeline.events
    ]
    table(title, ["when (UTC)", "event", "what"], rows)


def _print_story_end(told: Story, store_url: str, project: str) -> None:
    from modelyard.examples.quickstart_monitoring import DEPLOYMENT

    replay = told.replay
    console.print(
        styled(
            f"Replayed {len(replay.predictions)} hours, with a monitoring pass and the loop "
            f"after each week, in {replay.seconds:.1f} s; {told.seconds:.1f} s in all; "
            "recorded into ",
            (store_url, "bold"),
            ".\n\nLook at it:\n"
            f"  modelyard models show {told.trained.version.name}@champion --project {project}\n"
            f"  modelyard deployments show {DEPLOYMENT} --project {project}\n"
            f"  modelyard alerts list --project {project}\n"
            f"  modelyard loop list {DEPLOYMENT} --project {project}\n"
            f"  modelyard data show {told.trained.dataset.dataset}:{told.trained.dataset.version} "
            f"--project {project}\n"
            "\nIn the web UI: modelyard server --no-auth, then open "
            f"http://127.0.0.1:8080/projects/{project}/monitoring/{DEPLOYMENT}",
        )
    )
