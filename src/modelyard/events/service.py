"""The webhook service: subscriptions per project and event kind, their deliveries, and
the claiming rule the workers follow.

A project's administrator creates, lists and deletes its webhooks, reads their deliveries
(the dead ones are the dead-letter list) and sends one again by hand. Creating checks the
target (:func:`~modelyard.events.targets.check_target`: http or https, public addresses
only unless ``webhooks.allowed_hosts`` names the host) and makes the signing secret,
which is shown once and kept sealed with the server key (it is needed to sign).

**Delivering.** :func:`~modelyard.events.outbox.emit` writes a ``pending`` delivery per
subscribed webhook with the change. A worker claims due deliveries in one write
transaction (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two workers take
different rows; SQLite has one writer) by leasing them (``worker``, ``lease_until``) and
counting the attempt; it sends, then records the outcome only while it still holds the
lease. A failed attempt waits ``backoff_s * 2**(attempt - 1)`` (at most ``max_backoff_s``)
times a random factor from 0.5 to 1 (jitter); after ``max_attempts`` it is ``dead``. A
worker that dies mid-attempt leaves its lease to expire and the next worker sends the same
delivery again, under the same id: at least once.
"""

from __future__ import annotations

import copy
import json
import random
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from modelyard import limits
from modelyard._util import new_id, now_ms, validate_name
from modelyard.errors import InvalidInput, NotFound
from modelyard.events.entities import Delivery, Job, Webhook
from modelyard.events.kinds import EVENT_KINDS
from modelyard.events.outbox import ALL_KINDS, PENDING
from modelyard.events.targets import Resolver, check_target, system_resolve
from modelyard.governance.access import Access
from modelyard.governance.identity import Actor
from modelyard.governance.roles import Role, missing_project
from modelyard.governance.secret_box import SecretBox, SecretUnreadable
from modelyard.store import Store
from modelyard.store.tables import events, projects, webhook_deliveries, webhooks

__all__ = [
    "DEAD",
    "DELIVERED",
    "FORMATS",
    "MAX_DELIVERIES",
    "MAX_WEBHOOKS",
    "STATUSES",
    "WEBHOOK",
    "WebhookService",
]

#: Object type of webhooks in the audit log.
WEBHOOK = "webhook"
DELIVERED, DEAD = "delivered", "dead"
STATUSES = (PENDING, DELIVERED, DEAD)
#: ``json``: the event as JSON; ``slack``: ``{"text": ...}`` for Slack-compatible hooks.
FORMATS = ("json", "slack")
#: Webhooks of one project, at most.
MAX_WEBHOOKS = 20
#: The most deliveries one call to :meth:`WebhookService.deliveries` returns.
MAX_DELIVERIES = 500


def _kinds(kinds: object) -> list[str]:
    if isinstance(kinds, str) or not isinstance(kinds, Sequence) or not kinds:
        raise InvalidInput(
            "events must be a non-empty list of event kinds ('*' for all)", field="events"
        )
    checked = []
    for kind in kinds:
        if kind != ALL_KINDS and kind not in EVENT_KINDS:
            known = ", ".join(EVENT_KINDS)
            raise InvalidInput(
                f"unknown event kind {kind!r}; the kinds are {known} (or '*' for all)",
                field="events",
            )
        checked.append(kind)
    return sorted(set(checked))


def _id(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.isalnum() or len(value) > 64:
        raise InvalidInput(f"{field} must be an id", field=field)
    return value


def _limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_DELIVERIES:
        raise InvalidInput(
            f"limit must be an integer from 1 to {MAX_DELIVERIES}; got {limit!r}", field="limit"
        )
    return limit


class WebhookService:
    """Webhooks of projects and the deliveries of their events, over one metadata store.

    ``secret_box`` seals the signing secrets; ``allowed_hosts`` are the hosts a webhook
    may name whatever they resolve to; ``resolve`` turns a host name into addresses.
    ``max_attempts``, ``backoff_s`` and ``max_backoff_s`` are the retry rule."""

    def __init__(
        self,
        store: Store,
        access: Access,
        secret_box: SecretBox,
        *,
        allowed_hosts: Sequence[str] = (),
        resolve: Resolver = system_resolve,
        max_attempts: int = 8,
        backoff_s: float = 10.0,
        max_backoff_s: float = 3600.0,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store = store
        self.access = access
        self.secret_box = secret_box
        self.allowed_hosts = tuple(allowed_hosts)
        self.resolve = resolve
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.clock = clock

    def acting_as(self, actor: Actor) -> WebhookService:
        """This service acting for ``actor`` (a server makes one per request)."""
        view = copy.copy(self)
        view.access = self.access.acting_as(actor)
        return view

    # -- webhooks --------------------------------------------------------------------------

    def _project_id(self, conn: Connection, project: str) -> str:
        """The project's id, after the actor's right to manage its webhooks (admin)."""
        validate_name(project, "project")
        found = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
        if found is None:
            raise missing_project(project)
        self.access.require(conn, project, Role.ADMIN, hidden=missing_project(project))
        return str(found)

    def create(
        self, project: str, url: str, *, events: Sequence[str], format: str = "json"
    ) -> Webhook:
        """Subscribe ``url`` to the event kinds ``events`` (``["*"]``: all) of ``project``;
        ``format``: ``json`` or ``slack``. The webhook with its signing secret, which is
        shown this once."""
        kinds = _kinds(events)
        if format not in FORMATS:
            raise InvalidInput(
                f"format must be one of {', '.join(FORMATS)}; got {format!r}", field="format"
            )
        with self.store.read() as conn:  # who may ask, before a name is resolved for them
            self._project_id(conn, project)
        target = check_target(url, self.allowed_hosts, self.resolve)
        secret = "whsec_" + secrets.token_urlsafe(32)
        sealed = self.secret_box.seal(secret)
        webhook_id, at = new_id(), self.clock()
        with self.store.write() as conn:
            project_id = self._project_id(conn, project)
            count = conn.execute(
                select(func.count()).where(webhooks.c.project_id == project_id)
            ).scalar_one()
            if count >= MAX_WEBHOOKS:
                raise InvalidInput(
                    f"project {project!r} has {count} webhooks, the most there may be",
                    field="url",
                )
            conn.execute(
                webhooks.insert().values(
                    id=webhook_id,
                    project_id=project_id,
                    url=target.url,
                    events=json.dumps(kinds),
                    format=format,
                    secret=sealed,
                    created_by=self.access.who(),
                    created_at=at,
                )
            )
            self.access.record(
                conn,
                "webhook.created",
                WEBHOOK,
                webhook_id,
                f"{project}: {limits.preview(target.url)} for {', '.join(kinds)}",
            )
            made = _webhook(
                conn.execute(_webhook_select().where(webhooks.c.id == webhook_id)).one()
            )
        return Webhook(**{**made.as_dict(), "secret": secret})

    def list_webhooks(self, project: str) -> list[Webhook]:
        """The webhooks of a project, oldest first (without their secrets)."""
        with self.store.read() as conn:
            project_id = self._project_id(conn, project)
            rows = conn.execute(
                _webhook_select()
                .where(webhooks.c.project_id == project_id)
                .order_by(webhooks.c.created_at, webhooks.c.id)
            ).all()
        return [_webhook(row) for row in rows]

    def delete(self, project: str, webhook_id: str) -> None:
        """Delete a webhook and its deliveries (the events stay in the outbox)."""
        with self.store.write() as conn:
            row = self._hook(conn, project, webhook_id)
            conn.execute(webhooks.delete().where(webhooks.c.id == row.id))
            self.access.record(
                conn, "webhook.deleted", WEBHOOK, row.id, f"{project}: {limits.preview(row.url)}"
            )

    def _hook(self, conn: Connection, project: str, webhook_id: str) -> Any:
        """The webhook's row, after the actor's right to manage the project's."""
        project_id = self._project_id(conn, project)
        _id(webhook_id, "webhook_id")
        row = conn.execute(
            _webhook_select().where(
                webhooks.c.id == webhook_id, webhooks.c.project_id == project_id
            )
        ).first()
        if row is None:
            raise NotFound(
                f"webhook {webhook_id!r} does not exist in project {project!r}", field="webhook_id"
            )
        return row

    # -- deliveries ------------------------------------------------------------------------

    def deliveries(
        self,
        project: str,
        *,
        webhook_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        """The deliveries of a project's webhooks (of one, when given), newest first, at
        most ``limit`` (1 to :data:`MAX_DELIVERIES`); ``status``: only ``pending``,
        ``delivered`` or ``dead`` (the dead-letter list)."""
        _limit(limit)
        if status is not None and status not in STATUSES:
            raise InvalidInput(
                f"status must be one of {', '.join(STATUSES)}; got {status!r}", field="status"
            )
        d = webhook_deliveries.c
        with self.store.read() as conn:
            project_id = self._project_id(conn, project)
            if webhook_id is not None:
                self._hook(conn, project, webhook_id)
            stmt = _delivery_select().where(webhooks.c.project_id == project_id)
            if webhook_id is not None:
                stmt = stmt.where(d.webhook_id == webhook_id)
            if status is not None:
                stmt = stmt.where(d.status == status)
            rows = conn.execute(stmt.order_by(d.created_at.desc(), d.id.desc()).limit(limit)).all()
        return [_delivery(row) for row in rows]

    def redeliver(self, project: str, delivery_id: str) -> Delivery:
        """Send a delivery again: it is pending from now, with a fresh count of attempts,
        under the same id (a receiver that already handled it may drop it)."""
        d = webhook_deliveries.c
        with self.store.write() as conn:
            project_id = self._project_id(conn, project)
            _id(delivery_id, "delivery_id")
            row = conn.execute(
                _delivery_select().where(d.id == delivery_id, webhooks.c.project_id == project_id)
            ).first()
            if row is None:
                raise NotFound(
                    f"delivery {delivery_id!r} does not exist in project {project!r}",
                    field="delivery_id",
                )
            conn.execute(
                update(webhook_deliveries)
                .where(d.id == delivery_id)
                .values(
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=self.clock(),
                    lease_until=None,
                    worker=None,
                )
            )
            self.access.record(
                conn, "webhook.redelivered", WEBHOOK, row.webhook_id, f"{project}: {delivery_id}"
            )
            return _delivery(conn.execute(_delivery_select().where(d.id == delivery_id)).one())

    # -- the workers' side -------------------------------------------------------------------

    def claim(
        self, *, worker: str, lease_s: float, limit: int = 10, project: str | None = None
    ) -> list[Job]:
        """Lease up to ``limit`` due deliveries to ``worker`` for ``lease_s`` and count the
        attempt; what to send for each. A due delivery whose lease expired after its last
        attempt (its worker died) is marked dead on the way."""
        now = self.clock()
        d = webhook_deliveries.c
        free = and_(
            d.status == PENDING,
            d.next_attempt_at <= now,
            or_(d.lease_until.is_(None), d.lease_until < now),
        )
        stmt = select(d.id, d.attempts).where(free)
        if project is not None:
            stmt = stmt.where(
                d.webhook_id.in_(
                    select(webhooks.c.id)
                    .join(projects, projects.c.id == webhooks.c.project_id)
                    .where(projects.c.name == project)
                )
            )
        stmt = stmt.order_by(d.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
        taken = []
        with self.store.write() as conn:
            for delivery_id, attempts in conn.execute(stmt).all():
                mine = and_(d.id == delivery_id, free)
                if attempts >= self.max_attempts:
                    conn.execute(
                        update(webhook_deliveries)
                        .where(mine)
                        .values(
                            status=DEAD,
                            lease_until=None,
                            last_error=f"its worker stopped during attempt {attempts}",
                        )
                    )
                    continue
                won = conn.execute(
                    update(webhook_deliveries)
                    .where(mine)
                    .values(
                        worker=worker,
                        lease_until=now + int(lease_s * 1000),
                        attempts=d.attempts + 1,
                    )
                ).rowcount
                if won == 1:
                    taken.append(delivery_id)
            if not taken:
                return []
            rows = conn.execute(
                select(
                    d.id,
                    d.attempts,
                    webhooks.c.url,
                    webhooks.c.format,
                    webhooks.c.secret,
                    events.c.id.label("event_id"),
                    events.c.kind,
                    events.c.payload,
                    events.c.actor,
                    events.c.created_at,
                    projects.c.name.label("project"),
                )
                .join(webhooks, webhooks.c.id == d.webhook_id)
                .join(events, events.c.id == d.event_id)
                .join(projects, projects.c.id == events.c.project_id)
                .where(d.id.in_(taken))
                .order_by(d.next_attempt_at)
            ).all()
        jobs = []
        for row in rows:
            try:
                secret = self.secret_box.open(row.secret)
            except SecretUnreadable as exc:  # the server key changed: this attempt fails
                self.record_attempt(row.id, worker=worker, delivered=False, error=exc.message)
                continue
            event = {
                "id": row.event_id,
                "kind": row.kind,
                "project": row.project,
                "actor": row.actor,
                "created_at": row.created_at,
                "payload": json.loads(row.payload),
            }
            jobs.append(Job(row.id, row.attempts, row.url, row.format, secret, event))
        return jobs

    def record_attempt(
        self,
        delivery_id: str,
        *,
        worker: str,
        delivered: bool,
        status_code: int | None = None,
        error: str | None = None,
    ) -> str | None:
        """Record ``worker``'s attempt at a delivery it holds: ``delivered``, or failed
        (retried after the backoff, or dead after the last attempt). The delivery's status
        now; None when ``worker`` no longer held it (its lease expired and another worker
        took it)."""
        now = self.clock()
        d = webhook_deliveries.c
        held = and_(
            d.id == delivery_id, d.worker == worker, d.status == PENDING, d.lease_until >= now
        )
        values: dict[str, Any] = {"lease_until": None, "last_status": status_code}
        with self.store.write() as conn:
            attempts = conn.execute(select(d.attempts).where(held)).scalar()
            if attempts is None:
                return None
            if delivered:
                status = DELIVERED
                values.update(status=status, delivered_at=now, last_error=None)
            elif attempts >= self.max_attempts:
                status = DEAD
                values.update(status=status, last_error=limits.tail(error, limits.RUN_ERROR))
            else:
                status = PENDING
                values.update(
                    next_attempt_at=now + self.backoff_ms(attempts),
                    last_error=limits.tail(error, limits.RUN_ERROR),
                )
            conn.execute(update(webhook_deliveries).where(held).values(**values))
        return status

    def backoff_ms(self, attempts: int) -> int:
        """How long to wait after failed attempt number ``attempts``: exponential, capped,
        with jitter (a random 50 to 100 % of it)."""
        wait = min(self.max_backoff_s, self.backoff_s * 2 ** min(attempts - 1, 60))
        return int(wait * 1000 * random.uniform(0.5, 1.0))


def _webhook_select() -> Any:
    return select(webhooks, projects.c.name.label("project")).join(
        projects, projects.c.id == webhooks.c.project_id
    )


def _webhook(row: Any) -> Webhook:
    return Webhook(
        id=row.id,
        project=row.project,
        url=row.url,
        events=json.loads(row.events),
        format=row.format,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _delivery_select() -> Any:
    return (
        select(
            webhook_deliveries,
            events.c.kind,
            projects.c.name.label("project"),
        )
        .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
        .join(events, events.c.id == webhook_deliveries.c.event_id)
        .join(projects, projects.c.id == webhooks.c.project_id)
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        project=row.project,
        kind=row.kind,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )
