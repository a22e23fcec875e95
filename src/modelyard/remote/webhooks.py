"""The webhook service over HTTP: what ``client.webhooks`` is in remote mode.

``RemoteWebhooks`` has the user-facing methods of
:class:`~modelyard.events.service.WebhookService` (create, list, delete, deliveries,
redeliver) with the same signatures, results and errors. The worker's methods (claim,
record_attempt) are not here: a worker runs where the store is. The server checks the
target and the rights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from modelyard._util import validate_name
from modelyard.errors import InvalidInput
from modelyard.events.entities import Delivery, Webhook
from modelyard.remote._http import HttpSession, entity

__all__ = ["RemoteWebhooks"]


class RemoteWebhooks:
    """Webhooks and their deliveries on a Modelyard server."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    def create(
        self, project: str, url: str, *, events: Sequence[str], format: str = "json"
    ) -> Webhook:
        """Subscribe ``url`` to the event kinds ``events`` (``["*"]``: all) of ``project``;
        ``format``: ``json`` or ``slack``. The webhook with its signing secret, which is
        shown this once."""
        if isinstance(events, str) or not isinstance(events, Sequence):
            raise InvalidInput(
                "events must be a non-empty list of event kinds ('*' for all)", field="events"
            )
        body = {"url": url, "events": list(events), "format": format}
        # Not sent again: a second create would make a second webhook.
        answer = self.http.call("POST", _path(project), json_body=body, idempotent=False)
        return entity(Webhook, answer.json())

    def list_webhooks(self, project: str) -> list[Webhook]:
        """The webhooks of a project, oldest first (without their secrets)."""
        items = self.http.call("GET", _path(project)).json()["items"]
        return [entity(Webhook, item) for item in items]

    def delete(self, project: str, webhook_id: str) -> None:
        """Delete a webhook and its deliveries (the events stay in the outbox)."""
        self.http.call("DELETE", f"{_path(project)}/{quote(_text(webhook_id), safe='')}")

    def deliveries(
        self,
        project: str,
        *,
        webhook_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        """The deliveries of a project's webhooks (of one, when given), newest first;
        ``status``: only ``pending``, ``delivered`` or ``dead`` (the dead-letter list)."""
        params: dict[str, Any] = {"limit": limit}
        if webhook_id is not None:
            params["webhook_id"] = webhook_id
        if status is not None:
            params["status"] = status
        items = self.http.call("GET", _deliveries(project), params=params).json()["items"]
        return [entity(Delivery, item) for item in items]

    def redeliver(self, project: str, delivery_id: str) -> Delivery:
        """Send a delivery again: pending from now, with a fresh count of attempts, under
        the same id."""
        path = f"{_deliveries(project)}/{quote(_text(delivery_id), safe='')}/redeliver"
        return entity(Delivery, self.http.call("POST", path).json())


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput("an id must be text", field="id")
    return value


def _path(project: str) -> str:
    return f"/projects/{quote(validate_name(project, 'project'), safe='')}/webhooks"


def _deliveries(project: str) -> str:
    return f"/projects/{quote(validate_name(project, 'project'), safe='')}/webhook-deliveries"
