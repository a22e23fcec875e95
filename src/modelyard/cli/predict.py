"""``modelyard predict``: batch scoring of a stored dataset version (``client.predict``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer

from modelyard.cli._common import (
    JsonOption,
    client,
    console,
    one_line_errors,
    print_json,
    progress,
    project_option,
    styled,
)


@one_line_errors
def predict(
    ctx: typer.Context,
    target: str = typer.Argument(
        ...,
        metavar="DEPLOYMENT|MODEL@ALIAS|MODEL/VERSION",
        help="A deployment (the version its plan's champion route resolves to now), or a "
        "model version by alias or number.",
    ),
    input: str = typer.Option(
        ...,
        "--input",
        "-i",
        help="dataset:NAME@VERSION (or @ALIAS, /VERSION, or dataset:NAME for the newest).",
    ),
    output: str = typer.Option(
        ..., "--output", "-o", help="Dataset to register the predictions as (a new version)."
    ),
    columns: list[str] = typer.Option(
        [],
        "--columns",
        "-c",
        help="Input columns to copy beside the predictions, such as ids (repeat, or "
        "comma-separated).",
    ),
    batch_rows: int = typer.Option(
        10_000, "--batch-rows", min=1, help="Rows scored at a time (memory follows this)."
    ),
    ray: bool = typer.Option(
        False, "--ray", help="Score the batches on Ray (ray.address, else a local Ray)."
    ),
    project: str = project_option("Project of the deployment or model and of the datasets."),
    as_json: bool = JsonOption,
) -> None:
    """Batch scoring: predict every row of a dataset version with a deployment's champion
    or a model version, and register the predictions as a dataset version.

    Each batch is checked against the version's signature before it is predicted; the
    output holds the --columns asked for, then `prediction` (`prediction_0`, ... for
    several values a row), and is registered only once every batch is scored, with
    lineage from the input and the model version. An output dataset that exists gets a
    new version, unless its columns differ (refused)."""
    wanted = [name.strip() for item in columns for name in item.split(",") if name.strip()]
    with client(ctx) as c, _row_progress(f"predicting {input} with {target}") as update:
        scored = c.predict(
            target,
            input,
            output=output,
            project=project,
            batch_rows=batch_rows,
            columns=wanted,
            ray=ray,
            progress=update,
        )
    if as_json:
        print_json(scored.as_dict())
        return
    console.print(
        styled(
            f"{scored.rows:,} rows of {scored.input.ref} predicted by "
            f"{scored.model.name}/{scored.model.version}"
            + (f" (deployment {scored.deployment})" if scored.deployment else "")
            + f" in {scored.batches} batches, {scored.seconds:.1f} s: ",
            (f"{scored.output.project}/{scored.output.ref}", "bold"),
        )
    )


@contextmanager
def _row_progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar over rows on stderr (silent when not a terminal)."""
    from rich.progress import MofNCompleteColumn, TextColumn, TimeRemainingColumn

    with progress(MofNCompleteColumn(), TextColumn("rows"), TimeRemainingColumn()) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
