"""The SDK's side of the model registry (``client.models``): model objects are saved and
loaded here, with a flavor, in the caller's process; everything else is the registry
service's (``client.model_service``), called with plain arguments.

Logging saves the model with its flavor into a temporary folder (``model/`` and the input
example), infers the signature from the example and the model's prediction on it, and
registers the folder from the active run. Loading resolves the reference, checks the
flavor may be loaded here and its packages, fetches the files (each blob verified against
its digest first) and hands them to the flavor.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInput
from modelyard.registry._loading import MODEL_DIR

if TYPE_CHECKING:
    from modelyard.datasets.service import Progress
    from modelyard.registry.contract import ModelContract
    from modelyard.registry.entities import (
        AliasMove,
        Evaluation,
        ModelCard,
        ModelVersion,
        RegisteredModel,
        TransitionRequest,
    )
    from modelyard.registry.flavors import Flavor
    from modelyard.registry.policy import ModelPolicy, Policy
    from modelyard.registry.retirement import (
        ModelRetirementPolicy,
        RetirementMove,
        RetirementPolicy,
    )
    from modelyard.registry.signature import Signature, SignatureDiff
    from modelyard.sdk.client import Client
    from modelyard.sdk.run import ActiveRun

__all__ = ["Models"]


class Models:
    """Registered models of one :class:`~modelyard.Client` (``client.models``)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def service(self) -> ModelContract:
        """The registry service: in this process, or on the server in remote mode."""
        return self._client.model_service

    def _run(self) -> ActiveRun | None:
        """The active run, when it tracks into this client's store."""
        from modelyard.sdk.run import active_run

        run = active_run()
        if run is None:
            return None
        if run.client is self._client or (
            not run.client.is_remote
            and run.client.settings.store_url == self._client.settings.store_url
        ):
            return run
        return None

    def _project(self, project: str | None) -> str:
        if project is not None:
            return project
        from modelyard.sdk.client import DEFAULT_PROJECT

        run = self._run()
        return str(run.project) if run is not None else DEFAULT_PROJECT

    # -- saving and loading model objects ----------------------------------------------

    def log(
        self,
        model: object,
        name: str,
        *,
        input_example: object = None,
        project: str | None = None,
        flavor: str | None = None,
        signature: Signature | None = None,
        description: str = "",
        code_paths: Sequence[str | Path] = (),
    ) -> ModelVersion:
        """Register ``model`` as a version of ``name`` from the active run: saved by its
        flavor (chosen from the object unless named), with the signature inferred from
        ``input_example`` and the model's prediction on it, and the run's metrics, the
        dataset versions it read and its git commit. ``code_paths``: files and folders of
        code the model needs (the modules of its classes), copied with it and put on
        ``sys.path`` when it is loaded -- for flavors whose format runs code."""
        from modelyard.registry.flavors import CODE_DIR, FLAVORS, flavor_for, package_versions
        from modelyard.registry.signature import check_example, infer_schema, infer_signature

        run = self._run()
        if run is None:
            raise InvalidInput(
                "models.log registers a model from the active run: call it inside "
                "`with modelyard.start_run(...)`",
                field="run",
            )
        project = project if project is not None else str(run.project)
        chosen = FLAVORS.get(flavor) if flavor is not None else flavor_for(model)
        if not chosen.handles(model):
            raise InvalidInput(
                f"the {chosen.name} flavor does not save a {type(model).__qualname__}",
                field="flavor",
            )
        sources = _code_sources(code_paths, chosen)
        self.service.check_register(name, project=project, flavor=chosen.name, run_id=run.id)
        if signature is None and input_example is not None:
            signature = infer_signature(input_example, _predict(chosen, model, input_example))
        elif signature is not None and input_example is not None:  # before anything is saved
            check_example(signature, infer_schema(input_example, "input_example"))
        run.flush()  # the run's metrics, recorded with the version
        with tempfile.TemporaryDirectory(prefix="modelyard-model-") as tmp:
            folder = Path(tmp)
            (folder / MODEL_DIR).mkdir()
            config = chosen.save(model, folder / MODEL_DIR)
            if sources:
                _copy_code(sources, folder / MODEL_DIR / CODE_DIR)
                config = {**config, "code": CODE_DIR}
            example = _write_example(input_example, folder) if input_example is not None else None
            return self.service.register(
                name,
                folder,
                project=project,
                flavor=chosen.name,
                flavor_config=config,
                packages=package_versions(chosen.packages(model)),
                signature=signature,
                input_example=example,
                run_id=str(run.id),
                description=description,
            )

    def load(
        self,
        ref: str,
        version: int | None = None,
        *,
        project: str | None = None,
        trusted: Sequence[str] = (),
    ) -> Any:
        """The model object of a version: ``ref`` is ``name@alias``, ``name/3``, or a name
        (with ``version``, else the newest). Its files are verified against their digests
        before the flavor reads them; ``trusted`` names types you vouch for that the
        flavor's safe loader would refuse (skops' untrusted types)."""
        found = (
            self.get_version(ref, version, project=project)
            if version is not None
            else self.service.resolve(ref, project=self._project(project))
        )
        return self._load(found, trusted)

    def _load(self, found: ModelVersion, trusted: Sequence[str]) -> Any:
        from modelyard.registry._loading import downloaded, load_model
        from modelyard.registry.flavors import CODE_FORMATS_SETTING

        settings = self._client.settings
        return load_model(
            found,
            partial(downloaded, self.service, found),
            installation=settings.registry.allow_code_formats,  # this process's setting
            project=lambda name: self._client.projects.settings(name)[CODE_FORMATS_SETTING],
            trusted=trusted,
            code_home=settings.home / "model-code",
        )

    # -- evaluation --------------------------------------------------------------------

    def evaluate(
        self,
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
        progress: Progress | None = None,
    ) -> Evaluation:
        """Evaluate the version ``ref`` (``name@alias``, ``name/3``, ``name``) on ``data``
        against the column ``target``, and keep the report with the version. Where the
        registry is, the model is loaded and run: in this process, or on the server
        (which computes and keeps the report itself).

        ``data``: a dataset version (``client.datasets.get(...)``), a pandas or polars
        DataFrame, an Arrow table, record batch reader or iterable of record batches, or a
        Parquet or CSV path; it is read once, batch by batch, so it may be larger than
        memory. ``baseline``: another version, compared on the same rows with paired
        bootstrap intervals. ``slices``: columns whose values (categorical) or quantile
        bins (numeric) get metrics of their own. ``task``: ``classification`` (the
        default for models with ``classes_``) or ``regression``. ``trusted``: as for
        :meth:`load`, in this process only (a server trusts the types of its setting
        ``registry.trusted_types``). ``progress``: called with the bytes read so far and
        the total (None: unknown) as data that is not a dataset version is read. See
        :mod:`modelyard.registry.evaluation` for the report.

        A dataset version is read where it is stored: through a server its rows are not
        sent back; other data is streamed to the server once, as an Arrow IPC stream."""
        from modelyard.datasets._sources import open_input
        from modelyard.datasets.entities import DatasetVersion

        project = self._project(project)
        found: DatasetVersion | Iterable[Any]
        source = ""
        if isinstance(data, DatasetVersion):
            found = data
        else:
            opened = open_input(data, progress=progress)
            found, source = opened.batches, opened.source
        return self.service.evaluate(
            ref,
            found,
            target,
            project=project,
            baseline=baseline,
            slices=slices,
            task=task,
            seed=seed,
            sample_rows=sample_rows,
            bootstrap=bootstrap,
            source=source,
            trusted=trusted,
        )

    def evaluations(
        self, ref: str, *, project: str | None = None, limit: int | None = 1
    ) -> list[Evaluation]:
        """The evaluations of the version ``ref`` names, newest first: the latest only
        unless ``limit`` says otherwise (None: every one)."""
        from modelyard.registry.service import parse_ref

        name, version, alias = parse_ref(ref)
        return self.service.evaluations(
            name, project=self._project(project), version=version, alias=alias, limit=limit
        )

    def evaluation_html(self, evaluation: Evaluation | str) -> str:
        """The self-contained HTML page of an evaluation (or of its id)."""
        return self.service.evaluation_html(
            evaluation if isinstance(evaluation, str) else evaluation.id
        )

    # -- the service's calls, with the project defaulted ---------------------------------

    def create_model(
        self,
        name: str,
        *,
        project: str | None = None,
        description: str = "",
        owners: Sequence[str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> RegisteredModel:
        return self.service.create_model(
            name, project=self._project(project), description=description, owners=owners, tags=tags
        )

    def update_model(
        self,
        name: str,
        *,
        project: str | None = None,
        description: str | None = None,
        owners: Sequence[str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> RegisteredModel:
        return self.service.update_model(
            name, project=self._project(project), description=description, owners=owners, tags=tags
        )

    def get_model(self, name: str, *, project: str | None = None) -> RegisteredModel:
        return self.service.get_model(name, project=self._project(project))

    def list_models(self, project: str | None = None) -> list[RegisteredModel]:
        return self.service.list_models(self._project(project))

    def get_version(
        self,
        name: str,
        version: int | None = None,
        alias: str | None = None,
        *,
        project: str | None = None,
    ) -> ModelVersion:
        """One version's metadata: by number, alias, a reference (``name@alias``,
        ``name/3``) or the newest."""
        if version is None and alias is None and ("@" in name or "/" in name):
            return self.service.resolve(name, project=self._project(project))
        return self.service.get_version(
            name, project=self._project(project), version=version, alias=alias
        )

    def list_versions(
        self, name: str, *, project: str | None = None, after: int = 0, limit: int | None = None
    ) -> list[ModelVersion]:
        return self.service.list_versions(
            name, project=self._project(project), after=after, limit=limit
        )

    def set_alias(
        self, name: str, alias: str, version: int, *, project: str | None = None, reason: str = ""
    ) -> AliasMove:
        return self.service.set_alias(
            name, alias, version, project=self._project(project), reason=reason
        )

    def delete_alias(
        self, name: str, alias: str, *, project: str | None = None, reason: str = ""
    ) -> AliasMove:
        return self.service.delete_alias(name, alias, project=self._project(project), reason=reason)

    def history(
        self, name: str, *, alias: str | None = None, project: str | None = None
    ) -> list[AliasMove]:
        return self.service.history(name, project=self._project(project), alias=alias)

    def alias_at(
        self, name: str, alias: str, at: int | datetime, *, project: str | None = None
    ) -> int | None:
        return self.service.alias_at(name, alias, at, project=self._project(project))

    def compare(
        self, name: str, before: int, after: int, *, project: str | None = None
    ) -> SignatureDiff:
        """How version ``after``'s signature differs from version ``before``'s."""
        return self.service.compare(name, before, after, project=self._project(project))

    # -- model cards ----------------------------------------------------------------------

    def card(
        self,
        name: str,
        version: int | None = None,
        alias: str | None = None,
        *,
        project: str | None = None,
    ) -> ModelCard:
        """A version's model card (``name@alias``, ``name/3``, or the number apart):
        what the registry knows about it and the fields people filled in."""
        name, version, alias = _split(name, version, alias)
        return self.service.get_card(
            name, project=self._project(project), version=version, alias=alias
        )

    def set_card_fields(
        self,
        name: str,
        version: int | None = None,
        *,
        alias: str | None = None,
        project: str | None = None,
        **fields: str,
    ) -> ModelCard:
        """Fill in fields of a version's card (``intended_use=``, ``limitations=``,
        ``ethical_considerations=``, ``license=`` or any other snake_case name; an empty
        text clears one)."""
        name, version, alias = _split(name, version, alias)
        return self.service.set_card_fields(
            name, fields, project=self._project(project), version=version, alias=alias
        )

    @staticmethod
    def card_markdown(card: ModelCard) -> str:
        """The card as Markdown (every text escaped)."""
        from modelyard.registry.cards import render_markdown

        return render_markdown(card)

    @staticmethod
    def card_html(card: ModelCard) -> str:
        """The card as one self-contained HTML page (no script, no external address)."""
        from modelyard.registry.cards import render_html

        return render_html(card)

    # -- status through policy gates ------------------------------------------------------

    def request(
        self,
        name: str,
        version: int | None = None,
        *,
        to: str,
        comment: str = "",
        alias: str | None = None,
        project: str | None = None,
    ) -> TransitionRequest:
        """Ask to move a version to status ``to``; the model's policy judges it (a failed
        rule: PolicyViolation naming each)."""
        name, version, alias = _split(name, version, alias)
        return self.service.request_transition(
            name,
            project=self._project(project),
            to=to,
            version=version,
            alias=alias,
            comment=comment,
        )

    def approve(
        self,
        name: str,
        version: int | None = None,
        *,
        comment: str = "",
        project: str | None = None,
    ) -> TransitionRequest:
        """Approve the open request of a version (or the request whose id ``name`` is)."""
        return self.service.approve(self._open_request(name, version, project), comment=comment)

    def reject(
        self,
        name: str,
        version: int | None = None,
        *,
        comment: str = "",
        project: str | None = None,
    ) -> TransitionRequest:
        """Reject the open request of a version (or the request whose id ``name`` is)."""
        return self.service.reject(self._open_request(name, version, project), comment=comment)

    def _open_request(self, name: str, version: int | None, project: str | None) -> str:
        """A request id as it is, else the id of the open request of the version named."""
        if version is None and _REQUEST_ID.match(name):
            return name
        name, version, alias = _split(name, version, alias=None)
        found = self.service.get_version(
            name, project=self._project(project), version=version, alias=alias
        )
        pending = self.service.list_requests(
            found.name, project=found.project, version=found.version, state="open"
        )
        if not pending:
            from modelyard.errors import NotFound

            raise NotFound(
                f"model version {found.project}/{found.ref} has no open status change request",
                field="version",
            )
        return pending[0].id

    def requests(
        self,
        name: str,
        version: int | None = None,
        *,
        state: str | None = None,
        project: str | None = None,
    ) -> list[TransitionRequest]:
        """A model's status change requests (of one version, in one state), oldest first."""
        return self.service.list_requests(
            name, project=self._project(project), version=version, state=state
        )

    def policy(self, name: str | None = None, *, project: str | None = None) -> ModelPolicy:
        """The status policy in force for model ``name`` (or the project's)."""
        return self.service.get_policy(project=self._project(project), name=name)

    def set_policy(
        self,
        policy: Policy | dict[str, Any] | str | Path,
        name: str | None = None,
        *,
        project: str | None = None,
    ) -> ModelPolicy:
        """Set the status policy of the project (or of model ``name``): a Policy, its
        mapping, YAML text, or the Path of a YAML file (project admins)."""
        if isinstance(policy, Path):
            policy = policy.read_text()
        return self.service.set_policy(policy, project=self._project(project), name=name)

    def archive(
        self,
        name: str,
        version: int | None = None,
        *,
        reason: str = "",
        alias: str | None = None,
        project: str | None = None,
    ) -> TransitionRequest:
        """Archive a version by hand: a status change request to ``archived`` that the
        model's policy judges (open for approvers when its gate needs approvals)."""
        name, version, alias = _split(name, version, alias)
        return self.service.archive(
            name, project=self._project(project), version=version, alias=alias, reason=reason
        )

    def retire(
        self,
        name: str,
        version: int | None = None,
        *,
        reason: str = "",
        alias: str | None = None,
        project: str | None = None,
    ) -> TransitionRequest:
        """Retire a version by hand (registered or archived, no alias pointing at it): a
        status change request to ``retired`` that the model's policy judges."""
        name, version, alias = _split(name, version, alias)
        return self.service.retire(
            name, project=self._project(project), version=version, alias=alias, reason=reason
        )

    def retirement_policy(
        self, name: str | None = None, *, project: str | None = None
    ) -> ModelRetirementPolicy:
        """The retirement policy in force for model ``name`` (else the project's)."""
        return self.service.get_retirement_policy(project=self._project(project), name=name)

    def set_retirement_policy(
        self,
        policy: RetirementPolicy | dict[str, Any] | str | Path,
        name: str | None = None,
        *,
        project: str | None = None,
    ) -> ModelRetirementPolicy:
        """Set the retirement policy of the project (or of model ``name``): a
        RetirementPolicy, its mapping, YAML text, or the Path of a YAML file (project
        admins)."""
        if isinstance(policy, Path):
            policy = policy.read_text()
        return self.service.set_retirement_policy(policy, project=self._project(project), name=name)

    def run_retirement(
        self, name: str | None = None, *, dry_run: bool = False, project: str | None = None
    ) -> list[RetirementMove]:
        """Apply the retirement policies of the project (of model ``name``), or with
        ``dry_run`` list what they would do: which version, which move, which rule."""
        return self.service.run_retirement(
            project=self._project(project), name=name, dry_run=dry_run
        )


_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def _split(name: str, version: int | None, alias: str | None) -> tuple[str, int | None, str | None]:
    """A reference (``name@alias``, ``name/3``) taken apart, or the parts as given."""
    if version is None and alias is None and ("@" in name or "/" in name):
        from modelyard.registry.service import parse_ref

        return parse_ref(name)
    return name, version, alias


def _code_sources(code_paths: Sequence[str | Path], flavor: Flavor) -> list[Path]:
    """The files and folders of ``code_paths``, checked: only a flavor whose format runs
    code loads code, and two may not share a name."""
    if isinstance(code_paths, str | Path):
        raise InvalidInput("code_paths is a list of files and folders", field="code_paths")
    sources = [Path(p) for p in code_paths]
    if sources and not flavor.runs_code:
        raise InvalidInput(
            "code_paths is for flavors whose format runs code (python_function, pytorch, "
            f"torch_export); the {flavor.name} flavor loads no code",
            field="code_paths",
        )
    names: set[str] = set()
    for source in sources:
        if not source.exists():
            raise InvalidInput(f"code path {str(source)!r} does not exist", field="code_paths")
        if source.resolve().name in names:
            raise InvalidInput(
                f"two code paths are named {source.resolve().name!r}", field="code_paths"
            )
        names.add(source.resolve().name)
    return sources


def _copy_code(sources: list[Path], code: Path) -> None:
    """Copy the code paths into the version's ``code`` folder (beside any code the flavor
    packaged: a name it used is refused)."""
    import shutil

    code.mkdir(exist_ok=True)
    for source in sources:
        target = code / source.resolve().name
        if target.exists():
            raise InvalidInput(
                f"code path {str(source)!r} has the name of code the flavor packaged already",
                field="code_paths",
            )
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target)


def _predict(flavor: Flavor, model: object, example: object) -> object:
    from modelyard.registry.flavors import predict

    if getattr(flavor, "predict", None) is None and not callable(getattr(model, "predict", None)):
        return None
    try:
        return predict(flavor, model, example)
    except Exception as exc:
        raise InvalidInput(
            f"the model could not predict on the input example ({type(exc).__name__}: {exc}); "
            "give an example of what it takes",
            field="input_example",
        ) from exc


def _write_example(example: object, folder: Path) -> str:
    """Keep the input example with the model (a table as Parquet, dtypes and missing
    values as they are; an array as .npy); returns its path in the folder."""
    import numpy as np
    import pandas as pd

    if isinstance(example, np.ndarray) and example.dtype != object and example.dtype.names is None:
        np.save(folder / "input_example.npy", example, allow_pickle=False)
        return "input_example.npy"
    if isinstance(example, pd.Series):
        frame = example.to_frame()
    elif isinstance(example, pd.DataFrame):
        frame = example.copy()
    else:
        try:
            frame = pd.DataFrame(example)  # type: ignore[call-overload]
        except (ValueError, TypeError) as exc:
            raise InvalidInput(
                f"input_example is not a table: {exc}", field="input_example"
            ) from None
    frame.columns = [str(c) for c in frame.columns]
    try:
        frame.to_parquet(folder / "input_example.parquet", index=False)
    except (ValueError, TypeError, ImportError) as exc:
        raise InvalidInput(
            f"input_example could not be stored as Parquet: {exc}", field="input_example"
        ) from None
    return "input_example.parquet"
