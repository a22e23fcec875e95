"""The contract of the model registry service: one typed surface with two implementations,
in this process and through a server (mypy checks both; ``tests/remote/test_contracts.py``
checks that their signatures are the contract's)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.registry.entities import (
    AliasMove,
    Evaluation,
    ModelCard,
    ModelVersion,
    RegisteredModel,
    TransitionRequest,
)
from modelyard.registry.policy import ModelPolicy, Policy
from modelyard.registry.retirement import ModelRetirementPolicy, RetirementMove, RetirementPolicy
from modelyard.registry.signature import Signature, SignatureDiff
from modelyard.tracking.entities import TarArchive

if TYPE_CHECKING:
    from modelyard.datasets.entities import DatasetVersion

__all__ = ["ModelContract"]


class ModelContract(Protocol):
    """The registry's surface the SDK uses: :class:`~modelyard.registry.service.ModelService`
    in this process and :class:`~modelyard.remote.models.RemoteModels` through a server
    both implement it."""

    def alias_at(self, name: str, alias: str, at: int | datetime, *, project: str) -> int | None:
        """The version ``alias`` pointed at at time ``at`` (None: nowhere then)."""

    def check_register(
        self, name: str, *, project: str, flavor: str, run_id: str | None = None
    ) -> None:
        """Raise unless a version of ``name`` in ``flavor`` may be registered."""

    def compare(self, name: str, before: int, after: int, *, project: str) -> SignatureDiff:
        """How version ``after``'s signature differs from version ``before``'s."""

    def create_model(
        self,
        name: str,
        *,
        project: str,
        description: str = "",
        owners: Sequence[str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> RegisteredModel:
        """Register a model name (the name taken: the model as it is, or Conflict)."""

    def delete_alias(self, name: str, alias: str, *, project: str, reason: str = "") -> AliasMove:
        """Remove an alias, recording the move (to no version)."""

    def download(self, version: ModelVersion, dest: str | Path) -> Path:
        """Write the version's files into the folder ``dest``, each verified first."""

    def get_model(self, name: str, *, project: str) -> RegisteredModel:
        """One registered model."""

    def get_version(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
    ) -> ModelVersion:
        """One version: by number, by alias, or the newest."""

    def get_version_by_id(self, version_id: str) -> ModelVersion:
        """A version by its id (as lineage edges name it)."""

    def history(self, name: str, *, project: str, alias: str | None = None) -> list[AliasMove]:
        """Every move of the model's aliases (of ``alias`` only, when given), oldest first."""

    def list_models(self, project: str) -> list[RegisteredModel]:
        """The models of a project, by name."""

    def list_versions(
        self, name: str, *, project: str, after: int = 0, limit: int | None = None
    ) -> list[ModelVersion]:
        """The versions of a model numbered above ``after``, oldest first, at most
        ``limit`` of them (None: every one)."""

    def register(
        self,
        name: str,
        files: str | Path | TarArchive,
        *,
        project: str,
        flavor: str,
        flavor_config: dict[str, Any] | None = None,
        packages: dict[str, str] | None = None,
        signature: Signature | dict[str, Any] | None = None,
        input_example: str | None = None,
        run_id: str | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Register the folder ``files`` (or a tar archive of one) written by ``flavor`` as
        a version of model ``name``; the same files again are the existing version."""

    def register_from_run(
        self,
        name: str,
        *,
        project: str,
        run_id: str,
        path: str,
        flavor: str,
        flavor_config: dict[str, Any] | None = None,
        packages: dict[str, str] | None = None,
        signature: Signature | dict[str, Any] | None = None,
        input_example: str | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Register the run's artifact folder ``path`` (the flavor's files under
        ``model/``) as a version of model ``name``, pointing at the stored blobs: nothing
        is copied. The same files again are the existing version."""

    def resolve(self, ref: str, *, project: str) -> ModelVersion:
        """The version ``ref`` names: ``name@alias``, ``name/3`` or ``name`` (the newest)."""

    def set_alias(
        self, name: str, alias: str, version: int, *, project: str, reason: str = ""
    ) -> AliasMove:
        """Point ``alias`` at ``version`` (moving it from where it was), recording the move."""

    def update_model(
        self,
        name: str,
        *,
        project: str,
        description: str | None = None,
        owners: Sequence[str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> RegisteredModel:
        """Change a model's description, owners or tags (those given)."""

    def get_card(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
    ) -> ModelCard:
        """A version's model card: what the registry knows and the fields filled in."""

    def set_card_fields(
        self,
        name: str,
        fields: dict[str, str],
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
    ) -> ModelCard:
        """Fill in (an empty text: clear) fields of a version's card."""

    def request_transition(
        self,
        name: str,
        *,
        project: str,
        to: str,
        version: int | None = None,
        alias: str | None = None,
        comment: str = "",
    ) -> TransitionRequest:
        """Ask to move a version to status ``to``, judged by the model's policy."""

    def approve(self, request_id: str, *, comment: str = "") -> TransitionRequest:
        """Approve an open request (an approver other than its requester)."""

    def reject(self, request_id: str, *, comment: str = "") -> TransitionRequest:
        """Reject an open request (an approver other than its requester)."""

    def get_request(self, request_id: str) -> TransitionRequest:
        """One status change request."""

    def list_requests(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        state: str | None = None,
    ) -> list[TransitionRequest]:
        """A model's status change requests (of one version, in one state), oldest first."""

    def get_policy(self, *, project: str, name: str | None = None) -> ModelPolicy:
        """The policy in force for a model (or the project's)."""

    def set_policy(
        self,
        policy: Policy | dict[str, Any] | str,
        *,
        project: str,
        name: str | None = None,
    ) -> ModelPolicy:
        """Set the policy of a project (or of one model), as project admin."""

    def evaluate(
        self,
        ref: str,
        data: DatasetVersion | Iterable[Any],
        target: str,
        *,
        project: str,
        baseline: str | None = None,
        slices: Sequence[str] = (),
        task: str | None = None,
        seed: int = 0,
        sample_rows: int = 5000,
        bootstrap: int = 200,
        source: str = "",
        trusted: Sequence[str] = (),
    ) -> Evaluation:
        """Evaluate the version ``ref`` where the registry is, on a stored dataset version
        or Arrow record batches, and keep the report."""

    def evaluations(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
        limit: int | None = 1,
    ) -> list[Evaluation]:
        """A version's evaluations, newest first (the latest only unless ``limit``)."""

    def evaluation_html(self, evaluation_id: str) -> str:
        """The HTML page of an evaluation (by its id)."""

    def archive(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
        reason: str = "",
    ) -> TransitionRequest:
        """Archive a version by hand: a status change request judged by the policy."""

    def retire(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
        reason: str = "",
    ) -> TransitionRequest:
        """Retire a version by hand: a status change request judged by the policy."""

    def get_retirement_policy(
        self, *, project: str, name: str | None = None
    ) -> ModelRetirementPolicy:
        """The retirement policy in force for a model (or the project's)."""

    def set_retirement_policy(
        self,
        policy: RetirementPolicy | dict[str, Any] | str,
        *,
        project: str,
        name: str | None = None,
    ) -> ModelRetirementPolicy:
        """Set the retirement policy of a project (or of one model), as project admin."""

    def run_retirement(
        self, *, project: str, name: str | None = None, dry_run: bool = False
    ) -> list[RetirementMove]:
        """Apply the retirement policies (admins), or list what they would do (viewers)."""
