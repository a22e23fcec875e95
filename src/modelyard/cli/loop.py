"""``modelyard loop``: the closed loop of a deployment -- its policy (``policy set`` from
a YAML file, ``policy show``), its runs (``start``, ``list``, ``show`` as a timeline of
steps), a person's decision on a run waiting for one (``approve``, ``reject``) and
``cancel``. A worker (``modelyard worker``) advances the runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.tree import Tree

from modelyard.cli._common import (
    JsonOption,
    client,
    console,
    fmt_time,
    one_line_errors,
    print_json,
    project_option,
    say_empty,
    styled,
    table,
)

if TYPE_CHECKING:
    from modelyard.monitoring.entities import LoopRun, LoopStep

app = typer.Typer(
    help="The closed loop: retrain, evaluate, canary and promote a deployment's model on "
    "its policy's triggers.",
    no_args_is_help=True,
)
policy_app = typer.Typer(help="A deployment's loop policy.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")

ProjectOption = project_option("Project of the deployment.")
#: How each step status is drawn in the timeline.
_MARKS = {
    "done": ("✓", "green"),
    "failed": ("✗", "red"),
    "running": ("▶", "cyan"),
    "waiting": ("⏸", "yellow"),
    "pending": ("·", "dim"),
    "skipped": ("-", "dim"),
}
_STATES = {
    "promoted": "green",
    "rolled_back": "yellow",
    "rejected": "yellow",
    "failed": "red",
    "cancelled": "dim",
}


@policy_app.command("set")
@one_line_errors
def policy_set(
    ctx: typer.Context,
    deployment: str = typer.Argument(..., help="Deployment name."),
    path: str = typer.Argument(..., help="The policy's YAML file ('-': standard input)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Set the deployment's loop policy from YAML (checked whole; project admins)."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    with client(ctx) as c:
        found = c.loops.set_policy(deployment, text, project=project)
    _print_policy(found.as_dict(), as_json)


@policy_app.command("show")
@one_line_errors
def policy_show(
    ctx: typer.Context,
    deployment: str = typer.Argument(..., help="Deployment name."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """The deployment's loop policy, its defaults filled in, as YAML."""
    with client(ctx) as c:
        found = c.loops.get_policy(deployment, project=project)
    _print_policy(found.as_dict(), as_json)


def _print_policy(found: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(found)
        return
    import yaml

    console.print(
        f"# loop policy of {found['deployment']}, by {found['updated_by']} at "
        f"{fmt_time(found['updated_at'])}",
        highlight=False,
    )
    console.print(yaml.safe_dump(found["config"], sort_keys=False).rstrip(), highlight=False)


@app.command("start")
@one_line_errors
def start(
    ctx: typer.Context,
    deployment: str = typer.Argument(..., help="Deployment name."),
    reason: str = typer.Option("", "--reason", help="Why (kept with the run)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Start a loop now (a worker advances it); fails while one is under way."""
    with client(ctx) as c:
        _show(c.loops.start(deployment, project=project, reason=reason), as_json)


@app.command("list")
@one_line_errors
def list_runs(
    ctx: typer.Context,
    deployment: str = typer.Argument(..., help="Deployment name."),
    limit: int = typer.Option(50, "--limit", help="At most this many runs (up to 500)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """The deployment's loop runs, newest first."""
    with client(ctx) as c:
        found = c.loops.list_runs(deployment, project=project, limit=limit)
    if as_json:
        print_json([r.as_dict() for r in found])
        return
    if not found:
        say_empty(f"No loop runs of deployment {project}/{deployment}.", ctx)
        return
    rows = [
        (
            r.id,
            r.state,
            r.trigger.get("kind", ""),
            _current(r),
            r.champion or "",
            r.candidate or "",
            fmt_time(r.created_at),
        )
        for r in found
    ]
    table(
        f"Loop runs of {project}/{deployment}",
        ["id", "state", "trigger", "step", "champion", "candidate", "started"],
        rows,
    )


@app.command("show")
@one_line_errors
def show(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Loop run id."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """One loop run as a timeline: its trigger, each step with what it did, its decision."""
    with client(ctx) as c:
        _show(c.loops.get_run(run_id, project=project), as_json)


def _decide(ctx: typer.Context, run_id: str, project: str, approve: bool, comment: str) -> None:
    with client(ctx) as c:
        _show(c.loops.decide(run_id, project=project, approve=approve, comment=comment), False)


@app.command("approve")
@one_line_errors
def approve(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Loop run id."),
    comment: str = typer.Option("", "--comment", help="Why (kept with the decision)."),
    project: str = ProjectOption,
) -> None:
    """Approve what a waiting run waits for (staging, or production; approvers)."""
    _decide(ctx, run_id, project, True, comment)


@app.command("reject")
@one_line_errors
def reject(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Loop run id."),
    comment: str = typer.Option("", "--comment", help="Why (kept with the decision)."),
    project: str = ProjectOption,
) -> None:
    """Reject what a waiting run waits for: before staging it ends, before production its
    canary is rolled back (approvers)."""
    _decide(ctx, run_id, project, False, comment)


@app.command("cancel")
@one_line_errors
def cancel(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Loop run id."),
    reason: str = typer.Option("", "--reason", help="Why (kept with the run)."),
    project: str = ProjectOption,
) -> None:
    """End a run under way; a canary it started goes back to the champion."""
    with client(ctx) as c:
        _show(c.loops.cancel(run_id, project=project, reason=reason), False)


def _current(run: LoopRun) -> str:
    for step in run.steps:
        if step.status in ("running", "waiting", "pending"):
            return step.name
    return ""


def _trigger(trigger: dict[str, Any]) -> str:
    kind = trigger.get("kind", "")
    if kind == "alert":
        title = trigger.get("finding", {}).get("title", "")
        return f"alert {trigger.get('alert_id', '')} of {trigger.get('monitor', '')}: {title}"
    if kind == "schedule":
        return f"schedule {trigger.get('schedule', '')}"
    reason = trigger.get("reason") or ""
    return f"by hand, by {trigger.get('by', '')}" + (f": {reason}" if reason else "")


def _said(step: LoopStep) -> str:
    """What a step did, in a few words, from its detail."""
    d = step.detail
    parts = [
        f"{key.replace('_', ' ')} {d[key]}"
        for key in (
            "pipeline_run_id",
            "candidate",
            "evaluation_id",
            "improvement",
            "request_id",
            "revision",
            "decision",
            "waiting_for",
            "reason",
            "error",
        )
        if d.get(key) not in (None, "")
    ]
    return "; ".join(parts)


def _show(run: LoopRun, as_json: bool) -> None:
    if as_json:
        print_json(run.as_dict())
        return
    head = styled(
        (f"loop {run.id}", "bold"),
        f" {run.project}/{run.deployment} ",
        (run.state, _STATES.get(run.state, "cyan")),
    )
    tree = Tree(head)
    tree.add(styled(("trigger ", "dim"), _trigger(run.trigger)))
    tree.add(
        styled(
            ("champion ", "dim"), run.champion or "-", ("  candidate ", "dim"), run.candidate or "-"
        )
    )
    for step in run.steps:
        mark, style = _MARKS.get(step.status, ("?", ""))
        when = fmt_time(step.started_at)
        line = styled(
            (f"{mark} {step.name:<9}", style),
            (f" {step.status:<8}", style),
            (f" {when}" if when else "", "dim"),
            (f" x{step.attempts}" if step.attempts > 1 else "", "yellow"),
            f"  {_said(step)}" if step.detail else "",
        )
        tree.add(line)
    if run.decision:
        tree.add(styled(("decision ", "dim"), run.decision))
    console.print(tree)
