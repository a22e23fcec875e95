"""The closed loop of a server: what ``client.loops`` is in remote mode. ``RemoteLoops``
has the methods of :class:`~modelyard.monitoring.contract.LoopContract`, with the same
signatures, results and errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from modelyard._util import validate_name
from modelyard.errors import InvalidInput
from modelyard.monitoring.entities import LoopPolicy, LoopRun, LoopStep
from modelyard.remote._http import HttpSession

__all__ = ["RemoteLoops"]


class RemoteLoops:
    """Loop policies and runs on a Modelyard server."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    def set_policy(
        self, deployment: str, config: Mapping[str, Any] | str, *, project: str
    ) -> LoopPolicy:
        """Set the deployment's loop policy (a mapping or YAML), checked whole."""
        body = {"policy": config if isinstance(config, str) else dict(config)}
        answer = self.http.call(
            "PUT", _deployment(project, deployment, "loop-policy"), json_body=body
        )
        return LoopPolicy(**answer.json())

    def get_policy(self, deployment: str, *, project: str) -> LoopPolicy:
        answer = self.http.call("GET", _deployment(project, deployment, "loop-policy"))
        return LoopPolicy(**answer.json())

    def start(self, deployment: str, *, project: str, reason: str = "") -> LoopRun:
        """Start a loop now (a person's trigger); Conflict while one is running."""
        answer = self.http.call(
            "POST",
            _deployment(project, deployment, "loops"),
            json_body={"reason": reason},
            idempotent=False,
        )
        return _run(answer.json())

    def get_run(self, run_id: str, *, project: str) -> LoopRun:
        return _run(self.http.call("GET", _loop(project, run_id)).json())

    def list_runs(self, deployment: str, *, project: str, limit: int = 50) -> list[LoopRun]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput("limit must be a positive whole number", field="limit")
        items = self.http.all_pages(_deployment(project, deployment, "loops"), {})
        return [_run(item) for item in items[:limit]]

    def decide(self, run_id: str, *, project: str, approve: bool, comment: str = "") -> LoopRun:
        """A person's decision on a loop waiting for one (production approval)."""
        answer = self.http.call(
            "POST",
            f"{_loop(project, run_id)}/decide",
            json_body={"approve": approve, "comment": comment},
            idempotent=False,
        )
        return _run(answer.json())

    def cancel(self, run_id: str, *, project: str, reason: str = "") -> LoopRun:
        answer = self.http.call(
            "POST", f"{_loop(project, run_id)}/cancel", json_body={"reason": reason}
        )
        return _run(answer.json())


def _deployment(project: str, deployment: str, tail: str) -> str:
    validate_name(project, "project")
    validate_name(deployment, "deployment")
    return f"/projects/{quote(project, safe='')}/deployments/{quote(deployment, safe='')}/{tail}"


def _loop(project: str, run_id: str) -> str:
    validate_name(project, "project")
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInput("a loop run id is a string", field="run_id")
    return f"/projects/{quote(project, safe='')}/loops/{quote(run_id, safe='')}"


def _run(data: dict[str, Any]) -> LoopRun:
    steps = tuple(LoopStep(**step) for step in data.pop("steps"))
    return LoopRun(**data, steps=steps)
