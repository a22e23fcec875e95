"""``modelyard projects``: list and create projects."""

from __future__ import annotations

from dataclasses import asdict

import typer

from modelyard.cli._common import (
    JsonOption,
    client,
    console,
    fmt_time,
    one_line_errors,
    print_json,
    say_empty,
    styled,
    table,
)

app = typer.Typer(
    help="Projects: the namespace of runs, datasets and models.", no_args_is_help=True
)


@app.command("list")
@one_line_errors
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List projects."""
    with client(ctx) as c:
        projects = c.projects.list_projects()
    if as_json:
        print_json([asdict(p) for p in projects])
        return
    if not projects:
        say_empty("no projects yet: `modelyard projects create NAME` makes one", ctx)
        return
    table(
        "Projects",
        ["name", "description", "created"],
        [(p.name, p.description, fmt_time(p.created_at)) for p in projects],
    )


@app.command("create")
@one_line_errors
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Project name (letters, digits, '.', '_', '-')."),
    description: str = typer.Option("", "--description", "-d", help="What the project is for."),
    as_json: bool = JsonOption,
) -> None:
    """Create a project."""
    with client(ctx) as c:
        project = c.projects.create(name, description)
    if as_json:
        print_json(asdict(project))
    else:
        console.print(styled("created project ", (project.name, "bold")))
