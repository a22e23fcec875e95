"""Costs and budgets on the wire."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.monitoring.costs import MAX_THRESHOLD, MAX_THRESHOLDS

__all__ = ["BudgetBody", "BudgetPublic", "CostFigurePublic"]


class CostFigurePublic(BaseModel):
    subject_kind: str = Field(description="`deployment` or `model_version`.")
    subject: str = Field(description="The deployment's name, or `model/3`.")
    start: int = Field(description="From (ms since the epoch, inclusive).")
    end: int = Field(description="To (ms since the epoch).")
    cost: float
    currency: str
    predictions: int | None = Field(description="Requests answered (serving only).")
    per_1000: float | None = Field(description="Cost per 1,000 predictions (null: none).")
    cpu_s: float = Field(description="CPU-seconds behind the cost.")
    gib_hours: float = Field(description="Memory-time behind the cost, in GiB-hours.")
    details: dict[str, Any]


class BudgetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: float = Field(description="Spending a month, in the price table's currency (> 0).")
    thresholds: list[float] = Field(
        [0.5, 0.8, 1.0],
        max_length=MAX_THRESHOLDS,
        description=f"Shares of the amount at which an alert opens: ascending, above 0 and "
        f"at most {MAX_THRESHOLD:g}.",
    )


class BudgetPublic(BaseModel):
    id: str
    project: str
    scope: str
    amount: float
    thresholds: list[float]
    created_by: str
    created_at: int
    spent: float | None = Field(description="Spent this calendar month (UTC).")
