"""``explain``: why each step of a pipeline run ran or was served from the cache.

A cached step names the run whose outputs it reused. A step that ran is compared with
the previous run of the same step of the same pipeline (by the key parts recorded with
each step run): which step or helper source changed, which constant, param, input, input
file or package version; or there was no earlier run, or the cache was turned off.

Embedded, :func:`explain` reads the step index of the store; in remote mode it asks the
server (``GET /api/v1/runs/{run_id}/explain``), which answers with :func:`explain_in`
for a caller with the viewer role on the run's project.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInput
from modelyard.pipelines.execute import CACHE_OFF_TAG
from modelyard.pipelines.fingerprint import KeyParts
from modelyard.pipelines.index import StepIndex, StepRecord

if TYPE_CHECKING:
    from modelyard.sdk.client import Client
    from modelyard.tracking.service import TrackingService

__all__ = ["StepExplanation", "explain", "explain_in", "parts_changes"]


@dataclass(frozen=True, slots=True)
class StepExplanation:
    """Why one step of a pipeline run ran (``outcome`` ``ran``, or ``failed`` when it
    ran and failed) or was ``cached``."""

    step: str
    run_id: str
    outcome: str
    reasons: list[str]

    def __str__(self) -> str:
        return f"{self.step}: {self.outcome}: {'; '.join(self.reasons)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "run_id": self.run_id,
            "outcome": self.outcome,
            "reasons": list(self.reasons),
        }


def explain(client: Client, run_id: str) -> list[StepExplanation]:
    """Per step of the pipeline run ``run_id`` (a full id or a unique prefix), why it ran
    or was cached, in the order the steps were recorded (embedded: a remote client asks
    the server, :func:`modelyard.remote.pipelines.explain`)."""
    services = client.services
    return explain_in(services.tracking, services.steps, run_id)


def explain_in(tracking: TrackingService, index: StepIndex, run_id: str) -> list[StepExplanation]:
    """:func:`explain` over a tracking service (whose actor must be able to read the
    run) and the step index of its store."""
    full = tracking.resolve_run_id(run_id)
    tracking.get_run(full)
    records = index.of_pipeline_run(full)
    project_id = index.project_of(full)
    if not records or project_id is None:
        raise InvalidInput(f"run {full} is not a pipeline run (it has no step runs)", field="run")
    return [_explain(tracking, index, r, project_id) for r in records]


def _explain(
    tracking: TrackingService, index: StepIndex, record: StepRecord, project_id: str
) -> StepExplanation:
    if record.cached:
        source = record.source_run_id or "?"
        return StepExplanation(
            record.step, record.run_id, "cached", [f"same key as run {source[:8]}"]
        )
    outcome = "failed" if record.status == "failed" else "ran"
    if record.status not in ("finished", "failed"):
        outcome = record.status
    reasons: list[str] = []
    off = tracking.get_run(record.run_id).tags.get(CACHE_OFF_TAG)
    if off == "step":
        reasons.append("cache turned off for the step (cache=False)")
    elif off == "run":
        reasons.append("cache turned off for the run (cache=False)")
    previous = index.previous(record, project_id)
    if previous is None:
        reasons.append("no earlier run")
    else:
        changes = parts_changes(previous.parts, record.parts)
        reasons.extend(changes)
        if not changes and not off:
            if previous.status != "finished":
                reasons.append(
                    f"the earlier run {previous.run_id[:8]} with the same key {previous.status}"
                )
            else:
                reasons.append(
                    f"the outputs of the earlier run {previous.run_id[:8]} with the same key "
                    "were not available"
                )
    return StepExplanation(record.step, record.run_id, outcome, reasons)


def parts_changes(old: KeyParts, new: KeyParts) -> list[str]:
    """What differs between two sets of key parts, in words."""
    changes: list[str] = []
    if old.function != new.function:
        changes.append(f"step function is now `{new.function}` (was `{old.function}`)")
    for name in sorted(old.code.keys() | new.code.keys()):
        was, now = old.code.get(name), new.code.get(name)
        what = "step" if name in (new.function, old.function) else "helper"
        if was is None:
            changes.append(f"now uses {what} `{name}`")
        elif now is None:
            changes.append(f"no longer uses {what} `{name}`")
        elif was != now:
            changes.append(f"source of {what} `{name}` changed")
    for name in sorted(old.constants.keys() | new.constants.keys()):
        if old.constants.get(name) != new.constants.get(name):
            changes.append(f"value of `{name}` changed")
    for name in sorted(old.params.keys() | new.params.keys()):
        if name not in old.params:
            changes.append(f"param {name} = {_show(new.params[name])} (new)")
        elif name not in new.params:
            changes.append(f"param {name} removed")
        elif old.params[name] != new.params[name]:
            changes.append(f"param {name} {_show(old.params[name])} → {_show(new.params[name])}")
    for name in sorted(old.inputs.keys() | new.inputs.keys()):
        if old.inputs.get(name) != new.inputs.get(name):
            changes.append(f"input {name} changed")
    for name in sorted(old.files.keys() | new.files.keys()):
        if name not in new.files:
            changes.append(f"param {name} is no longer read as a file")
        elif name not in old.files:
            changes.append(f"param {name} is now read as a file")
        elif old.files[name] != new.files[name] and old.params.get(name) == new.params[name]:
            changes.append(f"input file changed: {new.params[name]} (param {name})")
    changes.extend(_env_changes(old.env, new.env))
    return changes


def _env_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    changes: list[str] = []
    if old.get("python") != new.get("python"):
        changes.append(f"Python {old.get('python')} → {new.get('python')}")
    if old.get("declared") != new.get("declared"):
        changes.append(
            f"environment fingerprint {_show(old.get('declared'))} → {_show(new.get('declared'))}"
        )
    was, now = old.get("packages", {}), new.get("packages", {})
    for name in sorted(was.keys() | now.keys()):
        if was.get(name) != now.get(name):
            changes.append(f"package {name} {was.get(name, 'absent')} → {now.get(name, 'absent')}")
    return changes


def _show(value: Any) -> str:
    return value if isinstance(value, str) and value.isidentifier() else json.dumps(value)
