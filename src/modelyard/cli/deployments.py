"""``modelyard deployments``: create a deployment (a name plus a traffic plan over model
versions), list and show them (routes resolved to versions, with their status), change
the traffic (canary weights, an A/B sticky key, shadows), promote a route, roll back,
read the plan's history, delete.

A route is ``MODEL@ALIAS`` or ``MODEL/VERSION``, with ``=WEIGHT`` (a percentage) where a
plan has several: ``--route churn-rf@champion=90 --route churn-rf/2=10``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from modelyard.cli._common import (
    JsonOption,
    client,
    confirm,
    console,
    fmt,
    fmt_time,
    one_line_errors,
    print_json,
    project_option,
    say_empty,
    table,
)
from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    from modelyard.serving.entities import Deployment, Route

app = typer.Typer(
    help="Deployments: traffic plans over model versions (canary, A/B, shadow), promotion "
    "and rollback.",
    no_args_is_help=True,
)

ProjectOption = project_option("Project of the deployment.")
ReasonOption = typer.Option("", "--reason", help="Why (kept with the revision).")


def _route(text: str, option: str, weight: int | None = None) -> Route:
    """``MODEL@ALIAS=WEIGHT`` or ``MODEL/VERSION=WEIGHT`` (the weight may be left out when
    ``weight`` is given)."""
    from modelyard.serving.service import parse_route

    ref, sep, number = text.rpartition("=")
    if not sep:
        ref, number = text, ""
    if not number and weight is None:
        raise InvalidInput(
            f"{option} {text!r} needs a weight: MODEL@ALIAS=WEIGHT or MODEL/VERSION=WEIGHT",
            field=option,
        )
    if number and not (number.isascii() and number.isdigit()):
        raise InvalidInput(
            f"the weight in {option} {text!r} must be a whole number from 0 to 100", field=option
        )
    return parse_route(ref, int(number) if number else weight or 0, option)


def _written(r: Route) -> str:
    return f"{r.model}/{r.ref}" if r.ref.isascii() and r.ref.isdigit() else f"{r.model}@{r.ref}"


def _print(found: Deployment, statuses: dict[str, str]) -> None:
    plan = found.plan
    facts: list[tuple[str, Any]] = [
        ("deployment", f"{found.project}/{found.name}"),
        ("revision", found.revision),
        ("strategy", plan.strategy),
        ("sticky key", plan.sticky_key),
        ("sample rate", found.sample_rate),
        ("updated", f"{fmt_time(found.updated_at)} by {found.updated_by}"),
        ("created", f"{fmt_time(found.created_at)} by {found.created_by}"),
        ("description", found.description),
        ("rollout", _rollout_text(found)),
    ]
    shown = [(k, fmt(v)) for k, v in facts if v not in (None, "")]
    table(f"Deployment {found.project}/{found.name}", ["", ""], shown)

    def row(kind: str, r: Route) -> tuple[Any, ...]:
        status = statuses.get(r.version_id or "", "-")
        return (kind, _written(r), r.weight, r.version if r.version is not None else "-", status)

    rows = [row("champion" if i == 0 else "live", r) for i, r in enumerate(plan.routes)]
    rows += [row("shadow", r) for r in plan.shadows]
    table("Plan", ["route", "ref", "weight %", "version", "status"], rows)


def _rollout_text(found: Deployment) -> str | None:
    """The rollout's guards and steps in one line (None: no rollout)."""
    rollout = found.rollout
    if rollout is None:
        return None
    parts = [
        f"{name} {value:g}"
        for name, value in (
            ("max error rate", rollout.max_error_rate),
            ("max error rate over the champion's", rollout.max_error_rate_delta),
            ("max p99 ms", rollout.max_p99_ms),
            ("max p99 x the champion's", rollout.max_p99_ratio),
        )
        if value is not None
    ]
    parts.append(f"over {rollout.window_s} s from {rollout.min_requests} requests")
    if rollout.live_monitor is not None and rollout.max_live_drop is not None:
        parts.append(
            f"live {rollout.live_monitor} at most {rollout.max_live_drop:g} worse than the "
            "champion's"
        )
    if rollout.steps:
        steps = " -> ".join(str(s) for s in rollout.steps)
        parts.append(f"steps {steps} every {rollout.step_every_s} s")
    return ", ".join(parts)


def _statuses(c: Any, found: list[Deployment]) -> dict[str, str]:
    """Each routed version's status, by version id."""
    ids = {
        r.version_id
        for d in found
        for r in (*d.plan.routes, *d.plan.shadows)
        if r.version_id is not None
    }
    return {i: c.model_service.get_version_by_id(i).status for i in ids}


def _show(c: Any, found: Deployment, as_json: bool) -> None:
    if as_json:
        print_json(found.as_dict())
        return
    _print(found, _statuses(c, [found]))


@app.command("create")
@one_line_errors
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Deployment name."),
    route: str = typer.Argument(..., help="All traffic to MODEL@ALIAS or MODEL/VERSION."),
    description: str = typer.Option("", "--description", help="What it serves, for people."),
    sample_rate: float = typer.Option(
        1.0, "--sample-rate", help="The share of predictions logged, from 0 to 1."
    ),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a deployment sending all traffic to one version (by alias or number)."""
    with client(ctx) as c:
        found = c.deployments.create(
            name, route, project=project, description=description, sample_rate=sample_rate
        )
        _show(c, found, as_json)


@app.command("list")
@one_line_errors
def list_deployments(
    ctx: typer.Context, project: str = ProjectOption, as_json: bool = JsonOption
) -> None:
    """The deployments of a project, with their strategy and routes."""
    with client(ctx) as c:
        found = c.deployments.list_deployments(project)
    if as_json:
        print_json([d.as_dict() for d in found])
        return
    if not found:
        say_empty(f"No deployments in project {project!r}.", ctx)
        return

    def when(d: Deployment) -> str:
        return fmt_time(d.updated_at)

    def routes(d: Deployment) -> str:
        weighted = len(d.plan.routes) > 1
        return ", ".join(_written(r) + (f"={r.weight}" if weighted else "") for r in d.plan.routes)

    rows = [
        (d.name, d.plan.strategy, routes(d), len(d.plan.shadows), d.revision, when(d))
        for d in found
    ]
    table(
        f"Deployments in {project}",
        ["name", "strategy", "routes", "shadows", "revision", "updated"],
        rows,
    )


@app.command("show")
@one_line_errors
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Deployment name."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """One deployment: its plan, each route resolved to a version now, with its status."""
    with client(ctx) as c:
        _show(c, c.deployments.get(name, project=project), as_json)


@app.command("set-traffic")
@one_line_errors
def set_traffic(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Deployment name."),
    routes: list[str] = typer.Option(
        ...,
        "--route",
        help="A live route MODEL@ALIAS=WEIGHT or MODEL/VERSION=WEIGHT; the first is the "
        "champion; the weights add up to 100 (a lone route may leave its weight out).",
    ),
    shadows: list[str] = typer.Option(
        [],
        "--shadow",
        help="A shadow route MODEL/VERSION=PERCENT (100 when left out): that share of "
        "requests copied to it, its answers logged, never returned.",
    ),
    sticky_key: str | None = typer.Option(
        None, "--sticky-key", help="A/B: the request header whose value picks the route."
    ),
    expected_revision: int | None = typer.Option(
        None, "--expected-revision", help="Refuse unless the plan is at this revision now."
    ),
    max_error_rate: float | None = typer.Option(
        None, "--max-error-rate", help="Guard: a candidate's highest error rate (0.01: 1%)."
    ),
    max_error_rate_delta: float | None = typer.Option(
        None,
        "--max-error-rate-delta",
        help="Guard: a candidate's error rate at most the champion's plus this.",
    ),
    max_p99_ms: float | None = typer.Option(
        None, "--max-p99-ms", help="Guard: a candidate's highest p99 latency, in ms."
    ),
    max_p99_ratio: float | None = typer.Option(
        None, "--max-p99-ratio", help="Guard: a candidate's p99 at most the champion's times this."
    ),
    live_monitor: str | None = typer.Option(
        None,
        "--live-monitor",
        help="Live guard: a performance monitor of the deployment (with --max-live-drop).",
    ),
    max_live_drop: float | None = typer.Option(
        None,
        "--max-live-drop",
        help="Live guard: how much worse than the champion's the candidate's live value of "
        "the monitor's metric may be.",
    ),
    window: int = typer.Option(60, "--window", help="Seconds of reports the guards judge."),
    min_requests: int = typer.Option(
        100, "--min-requests", help="Requests a candidate answers before it is judged."
    ),
    steps: str | None = typer.Option(
        None,
        "--steps",
        help="Stepping: the candidate's weights, e.g. 5,25,50,100 (100 promotes it).",
    ),
    step_every: int = typer.Option(600, "--step-every", help="Seconds between steps."),
    reason: str = ReasonOption,
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Replace the traffic plan with a new revision (canary, A/B, shadows), with guard
    rails and stepping when a guard is given."""
    from modelyard.serving.entities import TrafficPlan
    from modelyard.serving.rollouts import Rollout

    rollout = None
    guards = (
        max_error_rate,
        max_error_rate_delta,
        max_p99_ms,
        max_p99_ratio,
        live_monitor,
        max_live_drop,
    )
    if steps is not None or any(g is not None for g in guards):
        try:
            schedule = tuple(int(s) for s in steps.split(",")) if steps else ()
        except ValueError:
            raise InvalidInput(
                f"--steps must be whole numbers separated by commas; got {steps!r}",
                field="steps",
            ) from None
        rollout = Rollout(
            max_error_rate=max_error_rate,
            max_error_rate_delta=max_error_rate_delta,
            max_p99_ms=max_p99_ms,
            max_p99_ratio=max_p99_ratio,
            window_s=window,
            min_requests=min_requests,
            steps=schedule,
            step_every_s=step_every,
            live_monitor=live_monitor,
            max_live_drop=max_live_drop,
        )
    single = 100 if len(routes) == 1 else None
    plan = TrafficPlan(
        tuple(_route(r, "--route", single) for r in routes),
        tuple(_route(r, "--shadow", 100) for r in shadows),
        sticky_key,
    )
    with client(ctx) as c:
        found = c.deployments.set_traffic(
            name,
            plan,
            project=project,
            reason=reason,
            expected_revision=expected_revision,
            rollout=rollout,
        )
        _show(c, found, as_json)


@app.command("promote")
@one_line_errors
def promote(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Deployment name."),
    route: str | None = typer.Option(
        None,
        "--route",
        help="The route to promote, MODEL/VERSION or MODEL@ALIAS (default: the plan's one "
        "live route besides the champion).",
    ),
    alias: str = typer.Option("champion", "--alias", help="The alias moved to its version."),
    reason: str = ReasonOption,
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Move the alias to a route's version and send all traffic to the alias, in one step."""
    model = ref = None
    if route is not None:
        picked = _route(route, "--route", 0)
        model, ref = picked.model, picked.ref
    with client(ctx) as c:
        found = c.deployments.promote(
            name, project=project, model=model, ref=ref, alias=alias, reason=reason
        )
        _show(c, found, as_json)


@app.command("rollback")
@one_line_errors
def rollback(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Deployment name."),
    to_revision: int | None = typer.Option(
        None,
        "--to-revision",
        help="Restore this revision's plan (default: all traffic to the champion route).",
    ),
    reason: str = ReasonOption,
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Go back: a new revision equal to an earlier one, or all traffic to the champion."""
    with client(ctx) as c:
        found = c.deployments.rollback(
            name, project=project, to_revision=to_revision, reason=reason
        )
        _show(c, found, as_json)


@app.command("history")
@one_line_errors
def history(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Deployment name."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Every revision of the plan, oldest first: what, who, when and why."""
    with client(ctx) as c:
        revisions = c.deployments.history(name, project=project)
    if as_json:
        print_json([r.as_dict() for r in revisions])
        return

    def plan_text(r: Any) -> str:
        routes = [f"{_written(x)}={x.weight}" for x in r.plan.routes]
        shadows = [f"shadow {_written(x)}={x.weight}" for x in r.plan.shadows]
        sticky = [f"sticky {r.plan.sticky_key}"] if r.plan.sticky_key else []
        return ", ".join(routes + shadows + sticky)

    rows = [
        (r.revision, r.action, plan_text(r), r.changed_by, fmt_time(r.changed_at), r.reason)
        for r in revisions
    ]
    table(
        f"History of {project}/{name}",
        ["revision", "action", "plan", "by", "when", "reason"],
        rows,
    )


@app.command("delete")
@one_line_errors
def delete(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Deployment name."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    project: str = ProjectOption,
) -> None:
    """Delete a deployment and its plan's history (the audit log keeps every change)."""
    confirm(f"delete deployment {project}/{name}", yes)
    with client(ctx) as c:
        c.deployments.delete(name, project=project)
    console.print(f"deleted deployment {project}/{name}", highlight=False, soft_wrap=True)
