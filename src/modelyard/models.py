"""The model registry, as sugar: register models from runs, load them by alias.

>>> import modelyard as my                                                   # doctest: +SKIP
>>> with my.start_run(project="churn"):                                      # doctest: +SKIP
...     mv = my.models.log(model, "churn-rf", input_example=X_train[:5])
>>> my.models.set_alias("churn-rf", "champion", mv.version, project="churn")  # doctest: +SKIP
>>> model = my.models.load("churn-rf@champion", project="churn", trusted=[...])  # doctest: +SKIP

These functions are thin sugar over ``Client.models`` (:class:`~modelyard.sdk.models.Models`):
each uses the active run's client, or a Client built from the settings (``settings=`` or
the environment). Importing this module is light.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.sdk.client import client_for

if TYPE_CHECKING:
    from modelyard.config import Settings
    from modelyard.registry.entities import (
        AliasMove,
        Evaluation,
        ModelCard,
        ModelVersion,
        RegisteredModel,
        TransitionRequest,
    )
    from modelyard.registry.policy import ModelPolicy, Policy
    from modelyard.registry.retirement import (
        ModelRetirementPolicy,
        RetirementMove,
        RetirementPolicy,
    )
    from modelyard.registry.signature import Signature, SignatureDiff

__all__ = [
    "alias_at",
    "approve",
    "archive",
    "card",
    "card_html",
    "card_markdown",
    "compare",
    "create_model",
    "delete_alias",
    "evaluate",
    "evaluation_html",
    "evaluations",
    "get_model",
    "get_version",
    "history",
    "list_models",
    "list_versions",
    "load",
    "log",
    "policy",
    "reject",
    "request",
    "requests",
    "retire",
    "retirement_policy",
    "run_retirement",
    "set_alias",
    "set_card_fields",
    "set_policy",
    "set_retirement_policy",
    "update_model",
]


def log(
    model: object,
    name: str,
    *,
    input_example: object = None,
    project: str | None = None,
    flavor: str | None = None,
    signature: Signature | None = None,
    description: str = "",
    settings: Settings | None = None,
) -> ModelVersion:
    """Register ``model`` as a new version of ``name`` from the active run."""
    with client_for(settings) as client:
        return client.models.log(
            model,
            name,
            input_example=input_example,
            project=project,
            flavor=flavor,
            signature=signature,
            description=description,
        )


def load(
    ref: str,
    version: int | None = None,
    *,
    project: str | None = None,
    trusted: Sequence[str] = (),
    settings: Settings | None = None,
) -> Any:
    """The model object of ``name@alias``, ``name/3`` or ``name`` (with ``version``, else
    the newest), its files verified first."""
    with client_for(settings) as client:
        return client.models.load(ref, version, project=project, trusted=trusted)


def create_model(
    name: str,
    *,
    project: str | None = None,
    description: str = "",
    owners: Sequence[str] | None = None,
    tags: dict[str, str] | None = None,
    settings: Settings | None = None,
) -> RegisteredModel:
    """Register a model name with its description, owners and tags."""
    with client_for(settings) as client:
        return client.models.create_model(
            name, project=project, description=description, owners=owners, tags=tags
        )


def update_model(
    name: str,
    *,
    project: str | None = None,
    description: str | None = None,
    owners: Sequence[str] | None = None,
    tags: dict[str, str] | None = None,
    settings: Settings | None = None,
) -> RegisteredModel:
    """Change a model's description, owners or tags."""
    with client_for(settings) as client:
        return client.models.update_model(
            name, project=project, description=description, owners=owners, tags=tags
        )


def get_model(
    name: str, *, project: str | None = None, settings: Settings | None = None
) -> RegisteredModel:
    """A registered model: description, owners, tags, newest version, aliases."""
    with client_for(settings) as client:
        return client.models.get_model(name, project=project)


def list_models(
    project: str | None = None, *, settings: Settings | None = None
) -> list[RegisteredModel]:
    """The models of a project, by name."""
    with client_for(settings) as client:
        return client.models.list_models(project)


def get_version(
    name: str,
    version: int | None = None,
    alias: str | None = None,
    *,
    project: str | None = None,
    settings: Settings | None = None,
) -> ModelVersion:
    """One version's metadata (by number, alias, ``name@alias``/``name/3``, or the newest)."""
    with client_for(settings) as client:
        return client.models.get_version(name, version, alias, project=project)


def list_versions(
    name: str, *, project: str | None = None, settings: Settings | None = None
) -> list[ModelVersion]:
    """Every version of a model, oldest first."""
    with client_for(settings) as client:
        return client.models.list_versions(name, project=project)


def set_alias(
    name: str,
    alias: str,
    version: int,
    *,
    project: str | None = None,
    reason: str = "",
    settings: Settings | None = None,
) -> AliasMove:
    """Point ``alias`` at ``version``; the move is recorded with ``reason``."""
    with client_for(settings) as client:
        return client.models.set_alias(name, alias, version, project=project, reason=reason)


def delete_alias(
    name: str,
    alias: str,
    *,
    project: str | None = None,
    reason: str = "",
    settings: Settings | None = None,
) -> AliasMove:
    """Remove an alias; the move is recorded."""
    with client_for(settings) as client:
        return client.models.delete_alias(name, alias, project=project, reason=reason)


def history(
    name: str,
    *,
    alias: str | None = None,
    project: str | None = None,
    settings: Settings | None = None,
) -> list[AliasMove]:
    """Every move of a model's aliases (of ``alias`` only, when given), oldest first."""
    with client_for(settings) as client:
        return client.models.history(name, alias=alias, project=project)


def alias_at(
    name: str,
    alias: str,
    at: int | datetime,
    *,
    project: str | None = None,
    settings: Settings | None = None,
) -> int | None:
    """The version ``alias`` pointed at at time ``at`` (None: nowhere)."""
    with client_for(settings) as client:
        return client.models.alias_at(name, alias, at, project=project)


def compare(
    name: str,
    before: int,
    after: int,
    *,
    project: str | None = None,
    settings: Settings | None = None,
) -> SignatureDiff:
    """Columns added, removed and retyped from version ``before``'s signature to ``after``'s."""
    with client_for(settings) as client:
        return client.models.compare(name, before, after, project=project)


def evaluate(
    ref: str,
    data: object,
    target: str,
    *,
    baseline: str | None = None,
    slices: Sequence[str] = (),
    project: str | None = None,
    task: str | None = None,
    trusted: Sequence[str] = (),
    seed: int = 0,
    sample_rows: int = 5000,
    bootstrap: int = 200,
    settings: Settings | None = None,
) -> Evaluation:
    """Evaluate a version on ``data`` (streamed) against ``target``, optionally against a
    ``baseline`` version on the same rows, and keep the report with the version."""
    with client_for(settings) as client:
        return client.models.evaluate(
            ref,
            data,
            target,
            baseline=baseline,
            slices=slices,
            project=project,
            task=task,
            trusted=trusted,
            seed=seed,
            sample_rows=sample_rows,
            bootstrap=bootstrap,
        )


def evaluations(
    ref: str,
    *,
    project: str | None = None,
    limit: int | None = 1,
    settings: Settings | None = None,
) -> list[Evaluation]:
    """A version's evaluations, newest first (the latest only unless ``limit`` says
    otherwise; None: all)."""
    with client_for(settings) as client:
        return client.models.evaluations(ref, project=project, limit=limit)


def evaluation_html(evaluation: Evaluation | str, *, settings: Settings | None = None) -> str:
    """The self-contained HTML page of an evaluation (or of its id)."""
    with client_for(settings) as client:
        return client.models.evaluation_html(evaluation)


def card(
    name: str,
    version: int | None = None,
    alias: str | None = None,
    *,
    project: str | None = None,
    settings: Settings | None = None,
) -> ModelCard:
    """A version's model card: what the registry knows and the fields people filled in."""
    with client_for(settings) as client:
        return client.models.card(name, version, alias, project=project)


def set_card_fields(
    name: str,
    version: int | None = None,
    *,
    alias: str | None = None,
    project: str | None = None,
    settings: Settings | None = None,
    **fields: str,
) -> ModelCard:
    """Fill in fields of a version's card (``intended_use=``, ``limitations=``, ...)."""
    with client_for(settings) as client:
        return client.models.set_card_fields(name, version, alias=alias, project=project, **fields)


def card_markdown(card: ModelCard) -> str:
    """A model card as Markdown."""
    from modelyard.registry.cards import render_markdown

    return render_markdown(card)


def card_html(card: ModelCard) -> str:
    """A model card as one self-contained HTML page."""
    from modelyard.registry.cards import render_html

    return render_html(card)


def request(
    name: str,
    version: int | None = None,
    *,
    to: str,
    comment: str = "",
    project: str | None = None,
    settings: Settings | None = None,
) -> TransitionRequest:
    """Ask to move a version to status ``to``, judged by the model's policy."""
    with client_for(settings) as client:
        return client.models.request(name, version, to=to, comment=comment, project=project)


def approve(
    name: str,
    version: int | None = None,
    *,
    comment: str = "",
    project: str | None = None,
    settings: Settings | None = None,
) -> TransitionRequest:
    """Approve the open request of a version (or a request by its id)."""
    with client_for(settings) as client:
        return client.models.approve(name, version, comment=comment, project=project)


def reject(
    name: str,
    version: int | None = None,
    *,
    comment: str = "",
    project: str | None = None,
    settings: Settings | None = None,
) -> TransitionRequest:
    """Reject the open request of a version (or a request by its id)."""
    with client_for(settings) as client:
        return client.models.reject(name, version, comment=comment, project=project)


def requests(
    name: str,
    version: int | None = None,
    *,
    state: str | None = None,
    project: str | None = None,
    settings: Settings | None = None,
) -> list[TransitionRequest]:
    """A model's status change requests, oldest first."""
    with client_for(settings) as client:
        return client.models.requests(name, version, state=state, project=project)


def policy(
    name: str | None = None, *, project: str | None = None, settings: Settings | None = None
) -> ModelPolicy:
    """The status policy in force for model ``name`` (or the project's)."""
    with client_for(settings) as client:
        return client.models.policy(name, project=project)


def set_policy(
    policy: Policy | dict[str, Any] | str | Path,
    name: str | None = None,
    *,
    project: str | None = None,
    settings: Settings | None = None,
) -> ModelPolicy:
    """Set the status policy of the project (or of model ``name``)."""
    with client_for(settings) as client:
        return client.models.set_policy(policy, name, project=project)


def archive(
    name: str,
    version: int | None = None,
    *,
    reason: str = "",
    alias: str | None = None,
    project: str | None = None,
    settings: Settings | None = None,
) -> TransitionRequest:
    """Archive a version by hand (a status change request the model's policy judges)."""
    with client_for(settings) as client:
        return client.models.archive(name, version, reason=reason, alias=alias, project=project)


def retire(
    name: str,
    version: int | None = None,
    *,
    reason: str = "",
    alias: str | None = None,
    project: str | None = None,
    settings: Settings | None = None,
) -> TransitionRequest:
    """Retire a version by hand (a status change request the model's policy judges)."""
    with client_for(settings) as client:
        return client.models.retire(name, version, reason=reason, alias=alias, project=project)


def retirement_policy(
    name: str | None = None, *, project: str | None = None, settings: Settings | None = None
) -> ModelRetirementPolicy:
    """The retirement policy in force for model ``name`` (else the project's)."""
    with client_for(settings) as client:
        return client.models.retirement_policy(name, project=project)


def set_retirement_policy(
    policy: RetirementPolicy | dict[str, Any] | str | Path,
    name: str | None = None,
    *,
    project: str | None = None,
    settings: Settings | None = None,
) -> ModelRetirementPolicy:
    """Set the retirement policy of the project (or of model ``name``)."""
    with client_for(settings) as client:
        return client.models.set_retirement_policy(policy, name, project=project)


def run_retirement(
    name: str | None = None,
    *,
    dry_run: bool = False,
    project: str | None = None,
    settings: Settings | None = None,
) -> list[RetirementMove]:
    """Apply the retirement policies of the project (or list, with ``dry_run``, what they
    would do)."""
    with client_for(settings) as client:
        return client.models.run_retirement(name, dry_run=dry_run, project=project)
