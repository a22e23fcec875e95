"""Webhooks of a project: create (the secret is in this answer only), list, delete, their
deliveries (``status=dead``: the dead-letter list) and redelivery by hand.

Every rule -- the project administrator's right, the safe target, the event kinds -- is
the webhook service's; routes translate. Deliveries are made by ``modelyard worker``,
never by the server.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from modelyard.api._routing import Route
from modelyard.api._services import get_webhooks
from modelyard.api.schemas.webhooks import (
    DeliveryList,
    DeliveryPublic,
    WebhookCreate,
    WebhookList,
    WebhookPublic,
)
from modelyard.events.service import MAX_DELIVERIES, WebhookService

__all__ = ["router"]

router = APIRouter(tags=["webhooks"], route_class=Route)
_IN_PROJECT = "/projects/{project}/webhooks"

Webhooks = Annotated[WebhookService, Depends(get_webhooks)]


@router.post(_IN_PROJECT, status_code=201, response_model=WebhookPublic)
def create_webhook(project: str, body: WebhookCreate, webhooks: Webhooks) -> WebhookPublic:
    """Subscribe a URL to event kinds of the project (project admin). The answer carries
    the signing secret, shown this once."""
    made = webhooks.create(project, body.url, events=body.events, format=body.format)
    return WebhookPublic.model_validate(made)


@router.get(_IN_PROJECT, response_model=WebhookList)
def list_webhooks(project: str, webhooks: Webhooks) -> WebhookList:
    """The webhooks of the project, oldest first (without their secrets)."""
    found = webhooks.list_webhooks(project)
    return WebhookList(items=[WebhookPublic.model_validate(w) for w in found])


@router.delete(_IN_PROJECT + "/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(project: str, webhook_id: str, webhooks: Webhooks) -> None:
    """Delete a webhook and its deliveries."""
    webhooks.delete(project, webhook_id)


@router.get("/projects/{project}/webhook-deliveries", response_model=DeliveryList)
def list_deliveries(
    project: str,
    webhooks: Webhooks,
    webhook_id: Annotated[
        str | None, Query(max_length=64, description="Only this webhook's.")
    ] = None,
    status: Annotated[
        str | None, Query(max_length=16, description="Only `pending`, `delivered` or `dead`.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_DELIVERIES, description=f"How many, at most {MAX_DELIVERIES}.")
    ] = 50,
) -> DeliveryList:
    """The deliveries of the project's webhooks, newest first."""
    found = webhooks.deliveries(project, webhook_id=webhook_id, status=status, limit=limit)
    return DeliveryList(items=[DeliveryPublic.model_validate(d) for d in found])


@router.post(
    "/projects/{project}/webhook-deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryPublic,
)
def redeliver(project: str, delivery_id: str, webhooks: Webhooks) -> DeliveryPublic:
    """Send a delivery again (pending from now, a fresh count of attempts, the same id)."""
    return DeliveryPublic.model_validate(webhooks.redeliver(project, delivery_id))
