"""Webhooks and their deliveries on the wire."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from modelyard import limits
from modelyard.api.schemas._types import NUL_FREE, Public, ShortText

__all__ = ["DeliveryList", "DeliveryPublic", "WebhookCreate", "WebhookList", "WebhookPublic"]

Url = Annotated[
    str, StringConstraints(min_length=1, max_length=limits.WEBHOOK_URL, pattern=NUL_FREE)
]


class WebhookCreate(BaseModel):
    """A new webhook of the project."""

    model_config = ConfigDict(extra="forbid", strict=True)

    url: Url = Field(
        description="http:// or https:// URL; its host must resolve to public addresses "
        "unless the administrator allows it by name (webhooks.allowed_hosts)."
    )
    events: list[ShortText] = Field(
        min_length=1, max_length=64, description="Event kinds to receive; ['*'] for all."
    )
    format: Literal["json", "slack"] = Field(
        "json", description='`json`: the event; `slack`: `{"text": ...}`.'
    )


class WebhookPublic(Public):
    id: str
    project: str
    url: str
    events: list[str]
    format: str
    created_by: str
    created_at: int
    secret: str | None = Field(
        description="The signing secret: only in the answer to the create, shown once."
    )


class WebhookList(Public):
    items: list[WebhookPublic]


class DeliveryPublic(Public):
    id: str = Field(description="The `Modelyard-Delivery` header of every attempt.")
    webhook_id: str
    event_id: str
    project: str
    kind: str
    status: str = Field(description="`pending`, `delivered` or `dead`.")
    attempts: int
    next_attempt_at: int
    last_status: int | None
    last_error: str | None
    created_at: int
    delivered_at: int | None


class DeliveryList(Public):
    items: list[DeliveryPublic]
