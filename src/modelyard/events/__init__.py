"""Events and webhooks: the outbox every registry and dataset change writes to in its own
transaction (:func:`emit`), the kinds of events (:data:`EVENT_KINDS`), and the webhooks
that receive them, signed, at least once (:class:`WebhookService`; a worker delivers)."""

from modelyard.events.entities import Delivery, Job, Webhook
from modelyard.events.kinds import EVENT_KINDS
from modelyard.events.outbox import emit
from modelyard.events.service import WebhookService

__all__ = ["EVENT_KINDS", "Delivery", "Job", "Webhook", "WebhookService", "emit"]
