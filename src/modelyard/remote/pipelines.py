"""Pipeline runs on a server: why each step ran or was cached.

Pipelines run where the stores are (their steps read and write blobs and the step
index); a client in remote mode reads their explanations through the server.
"""

from __future__ import annotations

from urllib.parse import quote

from modelyard.pipelines.explanations import StepExplanation
from modelyard.remote._http import HttpSession, entity

__all__ = ["explain"]


def explain(http: HttpSession, run_id: str) -> list[StepExplanation]:
    """:func:`modelyard.pipelines.explanations.explain` answered by the server."""
    answer = http.call("GET", f"/runs/{quote(run_id, safe='')}/explain").json()
    return [entity(StepExplanation, step) for step in answer["steps"]]
