"""Evaluation rows of the registry: checking a report before it is kept, writing its row
and reading rows back as :class:`~modelyard.registry.entities.Evaluation` (no access
checks: :class:`~modelyard.registry.service.ModelService` does them)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from modelyard import limits
from modelyard.errors import InvalidInput
from modelyard.registry.entities import Evaluation
from modelyard.store.tables import model_evaluations, model_versions, projects, registered_models

if TYPE_CHECKING:
    from modelyard.artifacts import BlobStore

__all__ = ["check_report", "evaluation_select", "hydrate_evaluations"]

TASKS = ("classification", "regression")


def check_report(report: object) -> dict[str, Any]:
    """The report, if it has the parts every evaluation report has; else InvalidInput."""
    if not isinstance(report, dict):
        raise InvalidInput("an evaluation report must be a dict", field="report")
    if report.get("task") not in TASKS:
        raise InvalidInput(
            f"the report's task must be one of {', '.join(TASKS)}", field="report.task"
        )
    rows = report.get("rows")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise InvalidInput("the report's rows must be a positive integer", field="report.rows")
    limits.check_text(report.get("target"), "report.target", limits.SHORT_TEXT)
    metrics = report.get("metrics")
    if not isinstance(metrics, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, int | float)) for k, v in metrics.items()
    ):
        raise InvalidInput("the report's metrics must map names to numbers", field="report.metrics")
    return report


def evaluation_select() -> Any:
    """Evaluations with their version's model, number and project, and the baseline's."""
    base = aliased(model_versions)
    base_model = aliased(registered_models)
    return (
        select(
            model_evaluations,
            registered_models.c.name.label("model_name"),
            model_versions.c.version.label("version"),
            projects.c.name.label("project"),
            base_model.c.name.label("baseline_name"),
            base.c.version.label("baseline_number"),
        )
        .join(model_versions, model_versions.c.id == model_evaluations.c.version_id)
        .join(registered_models, registered_models.c.id == model_versions.c.model_id)
        .join(projects, projects.c.id == registered_models.c.project_id)
        .outerjoin(base, base.c.id == model_evaluations.c.baseline_version_id)
        .outerjoin(base_model, base_model.c.id == base.c.model_id)
    )


def hydrate_evaluations(rows: list[Any], blobs: BlobStore) -> list[Evaluation]:
    """Rows of :func:`evaluation_select` as entities, each report read from its blob."""
    return [
        Evaluation(
            id=row.id,
            project=row.project,
            name=row.model_name,
            version=row.version,
            baseline=(
                f"{row.baseline_name}/{row.baseline_number}"
                if row.baseline_name is not None
                else None
            ),
            task=row.task,
            target=row.target,
            rows=row.rows,
            source=row.source,
            metrics=json.loads(row.metrics),
            report=json.loads(blobs.get_bytes(row.data_digest)),
            created_by=row.created_by,
            created_at=row.created_at,
        )
        for row in rows
    ]
