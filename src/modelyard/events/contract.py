"""The contract of the webhook service: one typed surface with two implementations, in
this process and through a server (mypy checks both; ``tests/remote/test_contracts.py``
checks that their signatures are the contract's)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from modelyard.events.entities import Delivery, Webhook

__all__ = ["WebhookContract"]


class WebhookContract(Protocol):
    """The webhook service's user-facing surface:
    :class:`~modelyard.events.service.WebhookService` in this process and
    :class:`~modelyard.remote.webhooks.RemoteWebhooks` through a server both implement it
    (a worker's methods stay off it: it works where the store is)."""

    def create(
        self, project: str, url: str, *, events: Sequence[str], format: str = "json"
    ) -> Webhook:
        """Subscribe ``url`` to the event kinds ``events`` (``["*"]``: all) of ``project``;
        ``format``: ``json`` or ``slack``. The webhook with its signing secret, which is
        shown this once."""

    def list_webhooks(self, project: str) -> list[Webhook]:
        """The webhooks of a project, oldest first (without their secrets)."""

    def delete(self, project: str, webhook_id: str) -> None:
        """Delete a webhook and its deliveries (the events stay in the outbox)."""

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

    def redeliver(self, project: str, delivery_id: str) -> Delivery:
        """Send a delivery again: pending from now, with a fresh count of attempts, under
        the same id."""
