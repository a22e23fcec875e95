"""Sending a delivery: its body, its signature, one safe HTTP request, and a worker's pass.

Every attempt is a ``POST`` with the headers

- ``Modelyard-Delivery``: the delivery's id, the same on every attempt (drop duplicates
  by it);
- ``Modelyard-Timestamp``: seconds since the epoch when the attempt was signed;
- ``Modelyard-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed with the webhook's
  secret, of ``"{delivery id}.{timestamp}."`` followed by the body's bytes
  (:func:`sign`; a receiver checks it with :func:`verify` or the snippet in
  ``docs/webhooks.md``);
- ``Modelyard-Event``: the event's kind.

The body is the event as JSON (``{"id", "kind", "project", "actor", "created_at",
"payload"}``) or, for a webhook in the ``slack`` format, ``{"text": "..."}``. The target
is checked and resolved again for every attempt (:func:`~modelyard.events.targets.
check_target`) and the request goes to an address just checked, with the name in the
``Host`` header and as the TLS server name; redirects are not followed (an attempt
answered 3xx failed); a 2xx answer delivers. Proxies from the environment are not used.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInput
from modelyard.events.kinds import (
    ALERT_OPENED,
    ALERT_RESOLVED,
    ALIAS_DELETED,
    ALIAS_MOVED,
    DATASET_VERSION_CREATED,
    DEPLOYMENT_CREATED,
    DEPLOYMENT_DELETED,
    DEPLOYMENT_PROMOTED,
    DEPLOYMENT_ROLLED_BACK,
    MODEL_VERSION_CREATED,
)
from modelyard.events.targets import check_target

if TYPE_CHECKING:
    from modelyard.events.entities import Job
    from modelyard.events.service import WebhookService

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Attempt",
    "Deliverer",
    "body_of",
    "send",
    "sign",
    "summary",
    "verify",
]

DELIVERY_HEADER = "Modelyard-Delivery"
TIMESTAMP_HEADER = "Modelyard-Timestamp"
SIGNATURE_HEADER = "Modelyard-Signature"
EVENT_HEADER = "Modelyard-Event"
_USER_AGENT = "modelyard-webhooks"


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt went: delivered (a 2xx answer), the HTTP status when there was an
    answer, and why it failed."""

    delivered: bool
    status_code: int | None = None
    error: str | None = None


def sign(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """The ``Modelyard-Signature`` of a body: ``sha256=`` and the hex HMAC-SHA256 of
    ``"{delivery_id}.{timestamp}."`` + ``body`` keyed with ``secret``."""
    message = f"{delivery_id}.{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    delivery_id: str,
    timestamp: str | int,
    body: bytes,
    signature: str,
    *,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """Whether ``signature`` signs ``body`` for this delivery and timestamp, and the
    timestamp is within ``tolerance_s`` of ``now`` (a replayed old request fails)."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, delivery_id, stamp, body), signature)


def summary(event: dict[str, Any]) -> str:
    """The event in one line, for people (the ``slack`` format's text)."""
    p, project = event["payload"], event["project"]
    kind = event["kind"]
    if kind == MODEL_VERSION_CREATED:
        return (
            f"[{project}] model {p['model']} version {p['version']} registered by {p['created_by']}"
        )
    if kind in (ALIAS_MOVED, ALIAS_DELETED):
        after = p["to_version"] if p["to_version"] is not None else "nothing (deleted)"
        before = p["from_version"] if p["from_version"] is not None else "nothing"
        why = f": {p['reason']}" if p.get("reason") else ""
        return (
            f"[{project}] model {p['model']} alias {p['alias']} moved from {before} to {after} "
            f"by {p['moved_by']}{why}"
        )
    if kind == DATASET_VERSION_CREATED:
        return (
            f"[{project}] dataset {p['dataset']} version {p['version']} registered "
            f"({p['rows']} rows) by {p['created_by']}"
        )
    if kind.startswith("deployment."):
        return f"[{project}] deployment {p['deployment']} " + _deployment_summary(kind, p)
    if kind in (ALERT_OPENED, ALERT_RESOLVED):
        return f"[{project}] " + _alert_summary(kind, p)
    return f"[{project}] {kind}: " + json.dumps(p, sort_keys=True)


def _deployment_summary(kind: str, p: dict[str, Any]) -> str:
    """What happened to a deployment, after its name (``modelyard.events.kinds``)."""
    if kind == DEPLOYMENT_DELETED:
        return f"deleted by {p['deleted_by']}"
    plan = p["plan"]
    weighted = len(plan["routes"]) > 1

    def route(r: dict[str, Any]) -> str:
        written = f"{r['model']}/{r['ref']}" if r["ref"].isdigit() else f"{r['model']}@{r['ref']}"
        return written + (f"={r['weight']}" if weighted else "")

    what = f"{plan['strategy']}: {', '.join(route(r) for r in plan['routes'])}"
    if plan["shadows"]:
        what += f"; {len(plan['shadows'])} shadow(s)"
    why = f": {p['reason']}" if p.get("reason") else ""
    if kind == DEPLOYMENT_CREATED:
        return f"created ({what}) by {p['created_by']}"
    if kind == DEPLOYMENT_PROMOTED:
        return (
            f"promoted {p['model']}@{p['alias']} from {p['from_version'] or 'nothing'} to "
            f"{p['to_version']}, revision {p['revision']} by {p['changed_by']}{why}"
        )
    if kind == DEPLOYMENT_ROLLED_BACK:
        to = f"revision {p['to_revision']}" if p["to_revision"] is not None else "the champion"
        return f"rolled back to {to}, revision {p['revision']} ({what}) by {p['changed_by']}{why}"
    return f"plan changed, revision {p['revision']} ({what}) by {p['changed_by']}{why}"


#: The most characters of a title or comment in an alert's one line.
_ALERT_TEXT = 300


def _plain(text: object, limit: int = _ALERT_TEXT) -> str:
    """``text`` on one line, shortened, with Slack's control characters escaped (``&``,
    ``<``, ``>``), so a monitor's title or a person's comment can never make a link or a
    mention in a chat."""
    line = " ".join(str(text).split())
    if len(line) > limit:
        line = line[: limit - 1] + "…"
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _alert_summary(kind: str, p: dict[str, Any]) -> str:
    """An alert in one line: severity, subject, title, monitor (and who resolved it)."""
    subject = _plain(p["subject"], 200)
    head = f"{str(p['severity']).upper()} alert on {subject}: {_plain(p['title'])}"
    monitor = f" (monitor {_plain(p['monitor'], 200)})"
    if kind == ALERT_OPENED:
        return f"{head}{monitor}"
    if p["resolved_by"] == "system":
        return f"resolved, the condition cleared: {head}{monitor}"
    why = f": {_plain(p['comment'])}" if p.get("comment") else ""
    return f"resolved by {_plain(p['resolved_by'], 200)}: {head}{monitor}{why}"


def body_of(job: Job) -> bytes:
    """What an attempt sends: the event as JSON, or ``{"text": ...}`` (``slack``)."""
    data = {"text": summary(job.event)} if job.format == "slack" else job.event
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def send(
    job: Job,
    *,
    service: WebhookService,
    timeout_s: float,
    clock: Callable[[], float] = time.time,
) -> Attempt:
    """One attempt at ``job``: the target checked and resolved now (with the service's
    allowed hosts and resolver), a POST to an address just checked, no redirect
    followed."""
    import httpx

    try:
        target = check_target(job.url, service.allowed_hosts, service.resolve)
    except InvalidInput as exc:
        return Attempt(False, None, exc.message)
    body = body_of(job)
    stamp = int(clock())
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": _USER_AGENT,
        DELIVERY_HEADER: job.delivery_id,
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: sign(job.secret, job.delivery_id, stamp, body),
        EVENT_HEADER: str(job.event["kind"]),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    error = "no address to connect to"
    with httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False) as http:
        for address in target.addresses:
            request = http.build_request(
                "POST",
                target.url_for(address),
                content=body,
                headers=headers,
                extensions=extensions,
            )
            try:
                response = http.send(request, stream=True)
            except httpx.ConnectError as exc:  # the next address, if there is one
                error = f"cannot connect to {address}: {exc}"
                continue
            except httpx.HTTPError as exc:
                return Attempt(False, None, f"{type(exc).__name__}: {exc}".rstrip(": "))
            response.close()
            code = response.status_code
            if 200 <= code < 300:
                return Attempt(True, code)
            if 300 <= code < 400:
                where = response.headers.get("location", "")
                return Attempt(
                    False, code, f"HTTP {code}: a redirect ({where[:200]}) is not followed"
                )
            return Attempt(False, code, f"HTTP {code}")
    return Attempt(False, None, error)


class Deliverer:
    """A worker's deliveries: each pass claims the due ones (of ``project`` only, when
    given), sends each once and records how it went; one line each to ``log``.

    A delivery is leased for three times ``timeout_s`` (connect, send and answer each
    take at most that), after which another worker may send it again."""

    def __init__(
        self,
        service: WebhookService,
        *,
        worker: str,
        timeout_s: float,
        project: str | None = None,
        log: Callable[[str], None] = lambda line: None,
        batch: int = 10,
    ) -> None:
        self.service = service
        self.worker = worker
        self.timeout_s = timeout_s
        self.lease_s = 3 * timeout_s
        self.project = project
        self.log = log
        self.batch = batch

    def run_pass(self) -> int:
        """Claim up to ``batch`` due deliveries and attempt each; how many were claimed."""
        jobs = self.service.claim(
            worker=self.worker, lease_s=self.lease_s, limit=self.batch, project=self.project
        )
        for job in jobs:
            try:
                attempt = send(job, service=self.service, timeout_s=self.timeout_s)
            except Exception as exc:  # a library's surprise fails this attempt, not the worker
                attempt = Attempt(False, None, f"{type(exc).__name__}: {exc}")
            status = self.service.record_attempt(
                job.delivery_id,
                worker=self.worker,
                delivered=attempt.delivered,
                status_code=attempt.status_code,
                error=attempt.error,
            )
            said = "delivered" if attempt.delivered else f"attempt {job.attempt} failed"
            if attempt.error:
                said += f": {attempt.error}"
            if status is None:
                said += " (not recorded: another worker took it over, or it was deleted)"
            elif status == "dead":
                said += "; no attempt left (dead)"
            self.log(
                f"webhook delivery {job.delivery_id[:12]} {job.event['kind']} to "
                f"{job.url[:200]}: {said}"
            )
        return len(jobs)

    def drain(self) -> None:
        """Passes until one finds less than a full batch due."""
        while self.run_pass() >= self.batch:
            pass
