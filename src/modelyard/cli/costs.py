"""``modelyard cost`` and ``modelyard budgets``: what serving a deployment (per 1,000
predictions, per version) and training a model version cost, priced with the price table
(``cost.*`` settings); a project's monthly budgets with what was spent this month (an
alert opens as spending passes each threshold; a worker checks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from modelyard.cli._common import (
    JsonOption,
    client,
    fmt_time,
    one_line_errors,
    print_json,
    project_option,
    say_empty,
    table,
)
from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    from modelyard.monitoring.entities import Budget, CostFigure

app = typer.Typer(
    help="Costs: serving per 1,000 predictions (per deployment and version), training per "
    "model version.",
    no_args_is_help=True,
)
budgets = typer.Typer(
    help="Budgets: a project's monthly spending caps with alerts at thresholds.",
    no_args_is_help=True,
)

ProjectOption = project_option("Project.")
_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]
ScopeOption = typer.Option("all", "--scope", help="What the budget caps: all, serving, training.")


def _ms(when: datetime | None) -> int | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _money(value: float | None, currency: str) -> str:
    return "-" if value is None else f"{value:.6g} {currency}"


def _rows(figures: list[CostFigure]) -> list[tuple[str, ...]]:
    return [
        (
            f.subject,
            _money(f.cost, f.currency),
            str(f.predictions if f.predictions is not None else "-"),
            _money(f.per_1000, f.currency),
            f"{f.cpu_s:.6g}",
            f"{f.gib_hours:.6g}",
        )
        for f in figures
    ]


@app.command("serving")
@one_line_errors
def serving(
    ctx: typer.Context,
    deployment: str = typer.Argument(..., help="Deployment name."),
    by_version: bool = typer.Option(False, "--by-version", help="One line per version."),
    since: datetime | None = typer.Option(
        None, "--since", formats=_DATE_FORMATS, help="From this time (UTC; default 30 days ago)."
    ),
    until: datetime | None = typer.Option(
        None, "--until", formats=_DATE_FORMATS, help="To this time (UTC; default now)."
    ),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """What serving a deployment cost: its servers' CPU-seconds and memory-time, split by
    its share of their requests, priced with the price table."""
    with client(ctx) as c:
        found = c.costs.serving_cost(
            deployment,
            project=project,
            since=_ms(since),
            until=_ms(until),
            by_version=by_version,
        )
    if as_json:
        print_json([f.as_dict() for f in found])
        return
    if not found:
        say_empty(f"Deployment {deployment!r} answered nothing in the period.", ctx)
        return
    start, end = fmt_time(found[0].start), fmt_time(found[0].end)
    table(
        f"Serving cost of {project}/{deployment}, {start} to {end}",
        ["version" if by_version else "deployment", "cost", "predictions", "per 1,000",
         "CPU-s", "GiB-hours"],
        _rows(found),
    )  # fmt: skip


@app.command("training")
@one_line_errors
def training(
    ctx: typer.Context,
    version: str = typer.Argument(..., help="MODEL/VERSION, e.g. churn-rf/3."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """What training a model version cost: its run, or the sum of its pipeline's step
    runs."""
    model, _, number = version.rpartition("/")
    if not model or not (number.isascii() and number.isdigit()):
        raise InvalidInput(f"{version!r} is not MODEL/VERSION (e.g. churn-rf/3)", field="version")
    with client(ctx) as c:
        found = c.costs.training_cost(model, int(number), project=project)
    if as_json:
        print_json(found.as_dict())
        return
    runs = found.details.get("runs", [])
    table(
        f"Training cost of {project}/{found.subject}: {_money(found.cost, found.currency)}",
        ["run", "name", "cost", "cached"],
        [
            (r["run_id"][:8], r["name"], _money(r["cost"], found.currency), "yes" if r["cached"]
             else "")
            for r in runs
        ],
    )  # fmt: skip


def _budget_rows(found: list[Budget], currency: str) -> list[tuple[str, ...]]:
    return [
        (
            b.scope,
            _money(b.amount, currency),
            _money(b.spent, currency),
            f"{(b.spent or 0.0) / b.amount:.0%}",
            ", ".join(f"{t:g}" for t in b.thresholds),
            b.created_by,
        )
        for b in found
    ]


_BUDGET_COLUMNS = ["scope", "amount", "spent this month", "share", "thresholds", "set by"]


@budgets.command("set")
@one_line_errors
def set_budget(
    ctx: typer.Context,
    amount: float = typer.Argument(..., help="Spending a month, in the price table's currency."),
    scope: str = ScopeOption,
    thresholds: str = typer.Option(
        "0.5,0.8,1.0",
        "--thresholds",
        help="Shares of the amount at which an alert opens, ascending (each above 0, at most 10).",
    ),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Set a project's monthly budget (replacing the one for the same scope; admins)."""
    try:
        shares = tuple(float(t) for t in thresholds.split(","))
    except ValueError:
        raise InvalidInput(
            f"--thresholds {thresholds!r} must be numbers separated by commas",
            field="thresholds",
        ) from None
    with client(ctx) as c:
        found = c.costs.set_budget(project, amount, scope=scope, thresholds=shares)
        currency = c.settings.cost.currency
    if as_json:
        print_json(found.as_dict())
        return
    table(f"Budget of {project}", _BUDGET_COLUMNS, _budget_rows([found], currency))


@budgets.command("list")
@one_line_errors
def list_budgets(
    ctx: typer.Context, project: str = ProjectOption, as_json: bool = JsonOption
) -> None:
    """A project's budgets, with what was spent this calendar month (UTC)."""
    with client(ctx) as c:
        found = c.costs.list_budgets(project)
        currency = c.settings.cost.currency
    if as_json:
        print_json([b.as_dict() for b in found])
        return
    if not found:
        say_empty(f"No budgets in project {project!r}.", ctx)
        return
    table(f"Budgets of {project}", _BUDGET_COLUMNS, _budget_rows(found, currency))


@budgets.command("delete")
@one_line_errors
def delete_budget(
    ctx: typer.Context, scope: str = ScopeOption, project: str = ProjectOption
) -> None:
    """Delete a project's budget for a scope (and resolve its open alert; admins)."""
    with client(ctx) as c:
        c.costs.delete_budget(project, scope=scope)
    typer.echo(f"Deleted the {scope} budget of {project}.")
