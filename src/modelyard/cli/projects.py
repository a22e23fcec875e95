"""``modelyard projects``: list and create projects, show and change their settings."""

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


@app.command("settings")
@one_line_errors
def settings(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Project name."),
    as_json: bool = JsonOption,
) -> None:
    """Show a project's settings."""
    with client(ctx) as c:
        values = c.projects.settings(name)
    if as_json:
        print_json(values)
        return
    table(f"Settings of {name}", ["setting", "value"], [(k, _on(v)) for k, v in values.items()])


@app.command("set")
@one_line_errors
def set_(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Project name."),
    key: str = typer.Argument(..., help="The setting, e.g. registry.allow_code_formats."),
    value: str = typer.Argument(..., help="true or false (on, off, yes, no, 1, 0)."),
    as_json: bool = JsonOption,
) -> None:
    """Turn a project setting on or off (a project admin; on only where the installation's
    setting of the same name is on)."""
    words = {"true": True, "on": True, "yes": True, "1": True}
    words |= {"false": False, "off": False, "no": False, "0": False}
    if value.lower() not in words:
        raise typer.BadParameter(f"{value!r} is not true or false", param_hint="VALUE")
    with client(ctx) as c:
        values = c.projects.set_setting(name, key, words[value.lower()])
    if as_json:
        print_json(values)
    else:
        console.print(styled(f"{key} = {_on(values[key])} for project ", (name, "bold")))


def _on(value: bool) -> str:
    return "true" if value else "false"
