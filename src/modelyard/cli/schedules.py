"""``modelyard schedules``: run pipelines on cron expressions or on new dataset versions;
``modelyard worker`` runs them.

A schedule is named per project (``--project``, ``default``). Its pipeline is
``MODULE:PIPELINE`` or ``path/to/file.py:PIPELINE`` and its ``--param key=value`` are
read as ``modelyard pipelines run`` reads them. Through a server (``--tracking-uri``) the
reference is sent as typed (and loaded here only when this installation's
``worker.pipeline_*`` settings allow it) and the server checks it against what its
administrator allows, without importing it (a relative file path is taken from its
``worker.pipeline_dir``); a reference that does not load here has each value read as
JSON, else as text, and the worker checks the names when it fires. ``modelyard worker``
works where the store is, never through a server.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

import typer

from modelyard.cli._common import (
    JsonOption,
    client,
    console,
    err_console,
    fmt_time,
    one_line_errors,
    print_json,
    project_option,
    say_empty,
    state,
    styled,
    table,
)
from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    from modelyard.schedules import Schedule

app = typer.Typer(
    help="Schedules: run pipelines on cron expressions or on new dataset versions.",
    no_args_is_help=True,
)

ProjectOption = project_option("Project of the schedule.")


def _show(found: Schedule, as_json: bool) -> None:
    if as_json:
        print_json(found.as_dict())
        return
    rows = [
        ("project", found.project),
        ("name", found.name),
        ("pipeline", found.pipeline),
        ("params", ", ".join(f"{k}={v!r}" for k, v in found.params.items())),
        ("trigger", found.trigger),
        ("enabled", "yes" if found.enabled else "no"),
        ("next fire", fmt_time(found.next_fire_at) + (" UTC" if found.next_fire_at else "")),
        ("created", f"{fmt_time(found.created_at)} UTC by {found.created_by}"),
    ]
    if found.dataset is not None:
        rows.append(("last version seen", str(found.seen_version or "none yet")))
    if found.requested_at is not None:
        asked = f"{fmt_time(found.requested_at)} UTC by {found.requested_by}"
        rows.append(("run requested", f"{asked}, waiting for a worker"))
    table(f"Schedule {found.name}", ["field", "value"], rows)


@app.command("create")
@one_line_errors
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Schedule name (unique in the project)."),
    pipeline: str = typer.Option(
        ..., "--pipeline", help="MODULE:PIPELINE or path/to/file.py:PIPELINE."
    ),
    param: list[str] = typer.Option([], "--param", help="A pipeline parameter, key=value."),
    cron: str | None = typer.Option(
        None, "--cron", help="Five-field cron expression, e.g. '0 3 * * *'."
    ),
    tz: str | None = typer.Option(
        None, "--tz", help="Timezone of the cron expression (IANA name; default UTC)."
    ),
    on_dataset: str | None = typer.Option(
        None, "--on-dataset", help="Run on each new version of this dataset of the project."
    ),
    disabled: bool = typer.Option(False, "--disabled", help="Create it disabled."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a schedule: a pipeline with its parameters, on --cron or --on-dataset."""
    from modelyard._refs import PipelineSources
    from modelyard.cli.pipelines import parse_params
    from modelyard.pipelines import Pipeline
    from modelyard.schedules.service import resolve

    if (cron is None) == (on_dataset is None):
        raise InvalidInput("give --cron EXPR or --on-dataset NAME (one of them)")
    if tz is not None and cron is None:
        raise InvalidInput("--tz goes with --cron")
    with client(ctx) as c:
        try:  # only code this installation allows is imported here too
            local = resolve(pipeline, PipelineSources.from_settings(c.settings))
        except InvalidInput:
            if not c.is_remote:
                raise
            local = None  # the server loads it, and checks the parameters' names
        params = parse_params(local if isinstance(local, Pipeline) else None, param)
        found = c.schedules.create(
            name,
            project=project,
            pipeline=pipeline,
            params=params,
            cron=cron,
            timezone=tz,
            dataset=on_dataset,
            enabled=not disabled,
        )
    if as_json:
        print_json(found.as_dict())
        return
    if found.cron is None:
        when = f"on each new version of dataset {found.dataset}"
    else:
        when = f"on {found.trigger}"
        if found.next_fire_at is not None:
            when += f", next at {fmt_time(found.next_fire_at)} UTC"
    state_ = "" if found.enabled else " (disabled)"
    console.print(
        styled(
            "created schedule ",
            (found.name, "bold"),
            f" in project {found.project}{state_}: runs {found.pipeline} {when}",
        ),
        soft_wrap=True,
    )


@app.command("list")
@one_line_errors
def list_(
    ctx: typer.Context,
    project: str | None = typer.Option(None, "--project", "-p", help="Only this project."),
    as_json: bool = JsonOption,
) -> None:
    """List schedules with their trigger and next fire."""
    with client(ctx) as c:
        found = c.schedules.list_schedules(project)
    if as_json:
        print_json([s.as_dict() for s in found])
        return
    if not found:
        say_empty("no schedules" + (f" in project {project}" if project else ""), ctx)
        return
    table(
        "Schedules",
        ["project", "name", "pipeline", "trigger", "enabled", "next fire (UTC)"],
        [
            (
                s.project,
                s.name,
                s.pipeline,
                s.trigger,
                "yes" if s.enabled else "no",
                fmt_time(s.next_fire_at),
            )
            for s in found
        ],
    )


@app.command("show")
@one_line_errors
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Schedule name."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Show a schedule."""
    with client(ctx) as c:
        found = c.schedules.get(name, project=project)
    _show(found, as_json)


def _toggle(ctx: typer.Context, name: str, project: str, enabled: bool, as_json: bool) -> None:
    with client(ctx) as c:
        found = c.schedules.set_enabled(name, enabled, project=project)
    if as_json:
        print_json(found.as_dict())
        return
    console.print(
        f"schedule {found.name} in project {found.project} is "
        f"{'enabled' if found.enabled else 'disabled'}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("enable")
@one_line_errors
def enable(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Schedule name."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Enable a schedule; it starts from now (nothing missed while disabled runs)."""
    _toggle(ctx, name, project, True, as_json)


@app.command("disable")
@one_line_errors
def disable(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Schedule name."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Disable a schedule (a fire already running finishes)."""
    _toggle(ctx, name, project, False, as_json)


@app.command("run")
@one_line_errors
def run_now(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Schedule name."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Ask for a run now: the next worker to poll runs the pipeline once with the
    schedule's params, even when the schedule is disabled."""
    with client(ctx) as c:
        found = c.schedules.run_now(name, project=project)
    if as_json:
        print_json(found.as_dict())
        return
    console.print(
        f"asked for a run of schedule {found.name} in project {found.project} "
        f"(at {fmt_time(found.requested_at)} UTC by {found.requested_by}): the next "
        "worker to poll runs it",
        highlight=False,
        soft_wrap=True,
    )


@app.command("delete")
@one_line_errors
def delete(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Schedule name."),
    project: str = ProjectOption,
) -> None:
    """Delete a schedule and the record of its fires (its runs stay)."""
    with client(ctx) as c:
        c.schedules.delete(name, project=project)
    console.print(f"deleted schedule {name} in project {project}", highlight=False, soft_wrap=True)


@app.command("fires")
@one_line_errors
def fires(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Schedule name."),
    project: str = ProjectOption,
    limit: int = typer.Option(50, "--limit", "-n", help="How many, newest first."),
    as_json: bool = JsonOption,
) -> None:
    """The history of a schedule: each fire, its trigger, run and outcome."""
    with client(ctx) as c:
        found = c.schedules.fires(name, project=project, limit=limit)
    if as_json:
        print_json([f.as_dict() for f in found])
        return
    if not found:
        say_empty(f"schedule {name} in project {project} has not fired yet")
        return
    table(
        f"Fires of {name}",
        ["claimed (UTC)", "trigger", "status", "run", "attempts", "worker", "error"],
        [
            (
                fmt_time(f.claimed_at),
                f.trigger + (f" (+{f.missed} missed)" if f.missed else ""),
                f.status,
                (f.run_id or "")[:12],
                f.attempts,
                f.worker,
                f.error,
            )
            for f in found
        ],
    )


@one_line_errors
def worker(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="One pass over what is due, then exit."),
    poll_interval: float | None = typer.Option(
        None, "--poll-interval", help="Seconds between passes [worker.poll_interval_s]."
    ),
    project: str | None = typer.Option(
        None, "--project", "-p", help="Only the schedules of this project (default: all)."
    ),
    inline: bool = typer.Option(
        False,
        "--inline",
        help="Run pipelines in the worker's own process, not a fresh process per fire "
        "[worker.isolation].",
    ),
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        "-c",
        min=1,
        max=64,
        help="How many fires run at once [worker.concurrency].",
    ),
) -> None:
    """Run scheduled pipelines: cron occurrences and new dataset versions as they come
    due, each in a fresh process, one line per fire on stderr; deliver webhooks; and
    advance the closed loops (``modelyard loop``). Several workers may share a store: each
    occurrence runs once, each webhook delivery and each loop's step is held by one worker
    at a time. Stops after the running fires on SIGINT or SIGTERM
    (again: interrupts them)."""
    try:
        from modelyard.worker.worker import Worker

        if poll_interval is not None and poll_interval <= 0:
            raise InvalidInput("--poll-interval must be positive", field="--poll-interval")
        settings = state(ctx).settings()
        with Worker(
            settings,
            project=project,
            poll_interval_s=poll_interval,
            isolation="inline" if inline else None,
            concurrency=concurrency,
        ) as w:
            if once:
                w.run_once()
                return
            fires = "fire (again to interrupt it)"
            if w.concurrency > 1:
                fires = "fires (again to interrupt them)"

            def on_signal(signum: int, _frame: object) -> None:
                if w.stopping:
                    w.interrupt()
                    return
                w.stop()
                err_console.print(
                    f"{signal.Signals(signum).name}: stopping after the running {fires}",
                    highlight=False,
                )

            previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
            err_console.print(
                f"worker {w.name}: every {w.poll_interval_s:g} s, "
                f"{'project ' + project if project else 'all projects'}, "
                f"{'inline' if w.isolation == 'inline' else 'a process per fire'}, "
                f"{w.concurrency} at a time",
                highlight=False,
            )
            try:
                w.run_forever()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            if w.interrupted:  # the running fires are recorded interrupted
                raise KeyboardInterrupt
            err_console.print(f"worker {w.name} stopped", highlight=False)
    except KeyboardInterrupt:
        err_console.print("interrupted", highlight=False)
        raise typer.Exit(130) from None
