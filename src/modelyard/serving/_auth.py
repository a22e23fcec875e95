"""Who may predict: a Modelyard token whose user holds a role in the deployment's project,
checked once and then remembered for a few seconds (a predict request makes no database
call in steady state; a revoked token stops working within that time).

- :class:`StoreTokens` (embedded: the server holds the store): the API's own token check
  (``governance.tokens.authenticate``) and the project role (``governance.roles``).
- :class:`ControlPlaneTokens` (remote: the server reaches the control plane by URL): the
  control plane is asked, with the caller's token, to read the deployment.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from modelyard.errors import ModelyardError, PermissionDenied, StorageError, Unauthenticated

if TYPE_CHECKING:
    from modelyard.governance import Governance

__all__ = [
    "LABEL_ROLE",
    "PREDICT_ROLE",
    "Authorizer",
    "ControlPlaneTokens",
    "StoreTokens",
    "TokenCache",
    "bearer_token",
]

#: The role a token's user needs in the deployment's project to predict: ``predictor``
#: (may only predict) or any role above it.
PREDICT_ROLE = "predictor"
#: The role that may give a deployment's predictions their labels.
LABEL_ROLE = "contributor"


def bearer_token(header: bytes | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; Unauthenticated if none."""
    if header is None:
        raise Unauthenticated(
            "send `Authorization: Bearer <access token>` (create one with "
            "`modelyard tokens create`)",
            field="Authorization",
        )
    scheme, _, credential = header.decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated(
            "the Authorization header must read `Bearer <access token>`", field="Authorization"
        )
    return credential.strip()


class Verifier(Protocol):
    def __call__(self, token: str, project: str, deployment: str, role: str) -> None:
        """Return if the token's user holds ``role`` for the deployment; raise
        Unauthenticated, PermissionDenied (or NotFound) if not, StorageError if it cannot
        be told now."""
        ...


class TokenCache:
    """Answers of a :class:`Verifier`, by token digest, project and deployment, for
    ``ttl_s`` seconds, at most ``max_entries`` (least recently used dropped first). When
    the verifier cannot answer (StorageError: the store or control plane is down), the
    last answer for the same key stands, however old."""

    def __init__(
        self,
        verify: Verifier,
        *,
        ttl_s: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.verify = verify
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._answers: OrderedDict[tuple[bytes, str, str, str], tuple[float, ModelyardError | None]]
        self._answers = OrderedDict()

    async def check(
        self, token: str, project: str, deployment: str, role: str = PREDICT_ROLE
    ) -> None:
        key = (hashlib.sha256(token.encode()).digest(), project, deployment, role)
        now = self.clock()
        known = self._answers.get(key)
        if known is None or known[0] <= now:
            try:
                await asyncio.to_thread(self.verify, token, project, deployment, role)
                refusal: ModelyardError | None = None
            except StorageError:
                if known is None:
                    raise
                refusal = known[1]
            except PermissionDenied as exc:
                refusal = exc
            except ModelyardError as exc:  # NotFound: the deployment is hidden from it
                refusal = PermissionDenied(exc.message)
            known = (now + self.ttl_s, refusal)
            self._answers[key] = known
            if len(self._answers) > self.max_entries:
                self._answers.popitem(last=False)
        else:
            self._answers.move_to_end(key)
        if known[1] is not None:
            raise known[1]


class StoreTokens:
    """Tokens checked against the store, as the API checks them."""

    def __init__(self, governance: Governance) -> None:
        self.governance = governance

    def __call__(self, token: str, project: str, deployment: str, role: str) -> None:
        try:
            principal = self.governance.tokens.authenticate(token)
        except PermissionDenied as exc:
            raise Unauthenticated(exc.message, field="Authorization") from None
        self.governance.roles.require(principal, project, role)


class ControlPlaneTokens:
    """Tokens checked by the control plane at ``url``: the caller's token must read the
    deployment there (``GET /api/v1/projects/{project}/deployments/{name}``)."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        import httpx

        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s)

    def __call__(self, token: str, project: str, deployment: str, role: str) -> None:
        import httpx

        if role != PREDICT_ROLE:
            raise PermissionDenied(
                f"this inference server cannot tell whether a token holds {role} in "
                f"{project!r}: send labels to the control plane"
            )
        path = f"/api/v1/projects/{project}/deployments/{deployment}"
        try:
            answer = self.client.get(path, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise StorageError(f"the control plane cannot be reached: {exc}") from None
        if answer.status_code == 401:
            raise Unauthenticated("the token was refused", field="Authorization")
        if answer.status_code in (403, 404):
            raise PermissionDenied(
                f"the token may not predict with deployment {deployment!r} of {project!r}"
            )
        if answer.status_code != 200:
            raise StorageError(f"the control plane answered {answer.status_code}")

    def close(self) -> None:
        self.client.close()


class Authorizer(Protocol):
    async def check(
        self, token: str, project: str, deployment: str, role: str = PREDICT_ROLE
    ) -> None: ...
