"""The model registry service: registered models, their immutable versions and aliases.

Every rule lives here; the SDK (``Client.models``) calls it, and a server and its remote
twin will call the same methods (plain arguments and value objects in and out: the
model objects themselves never cross this surface, the SDK saves and loads them with a
flavor, :mod:`modelyard.registry.flavors`).

Registering takes a folder the flavor wrote (its files and the input example), stores it
as one blob tree and records the version in one transaction, under a lock on the model's
row (SQLite's write lock; ``SELECT ... FOR UPDATE`` on PostgreSQL): the number is the
newest plus one, so concurrent registrations get 1..N with no gap or duplicate, and a tree
already registered under the name is that version. The version keeps what its run knew
then (latest metrics, the dataset versions it read, its git commit) and a lineage edge
``run -> model_version`` ("output").

An alias moves in one transaction under the same lock, and each move (who, from which
version, to which, when, why) is a row that is never changed, so "which version had alias
A at time T" is a query (:meth:`ModelService.alias_at`).

An evaluation (:mod:`modelyard.registry.evaluation` computes it, the SDK runs the model)
is kept with its version: the report as a JSON blob, its HTML page (rendered here from the
report, so the two always agree) as another, and a row of ``model_evaluations`` with the
headline metrics, in one transaction with its audit event; evaluations are appended, never
replaced, and read back newest first.

A service acts for one :class:`~modelyard.governance.Actor`: a signed-in principal needs
``viewer`` on the project to read and ``contributor`` to register, move aliases or keep
an evaluation.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Column, Connection, case, delete, func, literal, select, update

from modelyard import limits
from modelyard._util import new_id, now_ms, validate_name
from modelyard.artifacts import TreeEntry, normalize_artifact_path
from modelyard.datasets.reports import json_bytes
from modelyard.datasets.service import check_alias
from modelyard.errors import Conflict, InvalidInput, NotFound
from modelyard.events import kinds as event_kinds
from modelyard.events.outbox import emit
from modelyard.governance.identity import Actor
from modelyard.governance.roles import Role, missing_project
from modelyard.lineage.edges import DATASET_VERSION, INPUT, MODEL_VERSION, OUTPUT, RUN, Lineage
from modelyard.projects.service import project_setting
from modelyard.registry import _deployed, _lifecycle, _retirement
from modelyard.registry._evaluations import (
    check_report,
    evaluation_select,
    hydrate_evaluations,
)
from modelyard.registry._report_html import render
from modelyard.registry._rows import (
    hydrate_model,
    hydrate_versions,
    latest_version,
    model_row,
    version_select,
)
from modelyard.registry.cards import build_card, check_fields, filled_fields, merge_fields
from modelyard.registry.entities import (
    AliasMove,
    Evaluation,
    ModelCard,
    ModelVersion,
    RegisteredModel,
    TransitionRequest,
)
from modelyard.registry.flavors import CODE_FORMATS_SETTING, FLAVORS, Flavor, check_code_format
from modelyard.registry.policy import ARCHIVED, RETIRED, ModelPolicy, Policy
from modelyard.registry.retirement import (
    ModelRetirementPolicy,
    RetirementMove,
    RetirementPolicy,
)
from modelyard.registry.signature import (
    Signature,
    SignatureDiff,
    check_example,
    compare_signatures,
    example_schema,
)
from modelyard.store import Store
from modelyard.store.tables import (
    artifacts,
    latest_metrics,
    lineage_edges,
    model_alias_moves,
    model_aliases,
    model_cards,
    model_evaluations,
    model_versions,
    projects,
    registered_models,
    runs,
    tags,
)
from modelyard.tracking.entities import TarArchive

if TYPE_CHECKING:
    from modelyard.artifacts import BlobInfo, BlobStore
    from modelyard.datasets.entities import DatasetVersion
    from modelyard.datasets.service import DatasetService
    from modelyard.governance.access import Access
    from modelyard.projects import ProjectService
    from modelyard.tracking.service import TrackingService

__all__ = ["MODEL", "ModelService", "check_page", "parse_ref"]

MODEL = "model"
_MAX_OWNERS = 50
#: The most rows an evaluation samples (for permutation importance) and the most bootstrap
#: replicates it draws: what one call may cost the process that evaluates.
MAX_SAMPLE_ROWS = 1_000_000
MAX_BOOTSTRAP = 10_000
_MAX_TAGS = 100


def parse_ref(ref: str) -> tuple[str, int | None, str | None]:
    """``name@alias``, ``name/3`` or ``name`` (the newest version) as ``(name, version,
    alias)``."""
    if not isinstance(ref, str) or not ref:
        raise InvalidInput(
            f"a model reference must be NAME, NAME/VERSION or NAME@ALIAS; got {ref!r}", field="ref"
        )
    if "@" in ref:
        name, _, alias = ref.partition("@")
        return validate_name(name, "name"), None, validate_name(alias, "alias")
    if "/" in ref:
        name, _, number = ref.partition("/")
        if not number.isdigit() or not 1 <= int(number) <= limits.NUMBER:
            raise InvalidInput(
                f"the version in {ref!r} must be a positive integer (at most {limits.NUMBER})",
                field="version",
            )
        return validate_name(name, "name"), int(number), None
    return validate_name(ref, "name"), None, None


def _check_version(version: object) -> int:
    if (
        isinstance(version, bool)
        or not isinstance(version, int)
        or not 1 <= version <= limits.NUMBER
    ):
        raise InvalidInput(
            f"version must be a positive integer (at most {limits.NUMBER}); got {version!r}",
            field="version",
        )
    return version


def _check_owners(owners: object) -> list[str]:
    if isinstance(owners, str) or not isinstance(owners, list | tuple):
        raise InvalidInput("owners must be a list of user names", field="owners")
    if len(owners) > _MAX_OWNERS:
        raise InvalidInput(f"a model has at most {_MAX_OWNERS} owners", field="owners")
    return [limits.check_text(o, "owners", limits.SHORT_TEXT) for o in owners]


def _check_tags(tags: object) -> dict[str, str]:
    if not isinstance(tags, dict):
        raise InvalidInput("tags must be a mapping of names to text", field="tags")
    if len(tags) > _MAX_TAGS:
        raise InvalidInput(f"a model has at most {_MAX_TAGS} tags", field="tags")
    checked = {}
    for key, value in tags.items():
        limits.check_text(key, "tags", limits.KEY)
        checked[key] = limits.check_text(value, "tags", limits.TAG_VALUE)
    return checked


def _json(value: Any, field: str) -> str:
    try:
        text = json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{field} must be JSON: {exc}", field=field) from None
    return limits.check_text(text, field, limits.MODEL_JSON)


def check_page(after: object, limit: object) -> tuple[int, int | None]:
    """``after`` a version number or 0, ``limit`` a positive number of versions or None."""
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise InvalidInput("after must be a version number or 0", field="after")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidInput("limit must be a positive integer or None", field="limit")
    return after, limit


def _no_example(path: str) -> InvalidInput:
    return InvalidInput(
        f"the input example {path!r} is not a file in the folder", field="input_example"
    )


def _millis(at: int | datetime) -> int:
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise InvalidInput("give the time with its timezone", field="at")
        return int(at.timestamp() * 1000)
    if isinstance(at, bool) or not isinstance(at, int):
        raise InvalidInput("at must be a datetime or milliseconds since the epoch", field="at")
    return at


class ModelService:
    """Rules and queries for registered models over one metadata store and one blob store."""

    #: The blob trees of model versions (the flavor's files and the input example) and
    #: each evaluation's report (JSON) and page (HTML).
    blob_columns: ClassVar[tuple[Column[Any], ...]] = (
        model_versions.c.tree_digest,
        model_evaluations.c.data_digest,
        model_evaluations.c.html_digest,
    )

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        access: Access,
        projects: ProjectService,
        *,
        tracking: TrackingService,
        allow_code_formats: bool = False,
        clock: Callable[[], int] = now_ms,
        datasets: DatasetService | None = None,
        trusted_types: Sequence[str] = (),
        retired_retention_days: float = 30.0,
    ) -> None:
        """``access``: the actor, its checks and the audit log; ``projects``: the project
        service a new model's project is ensured by; ``tracking``: the runs versions are
        registered from; ``datasets``: the dataset versions evaluations read;
        ``trusted_types``: the types skops may load beyond its defaults when a version is
        loaded here (to evaluate it); ``retired_retention_days``: how long a retired
        version's files are kept before garbage collection may take them."""
        self.store = store
        self.blobs = blobs
        self.access = access
        self.projects = projects
        self.tracking = tracking
        self.allow_code_formats = allow_code_formats
        self.clock = clock
        self.retired_retention_days = retired_retention_days
        self.lineage = Lineage(store)
        self.datasets = datasets
        self.trusted_types = tuple(trusted_types)

    # -- access: the actor, its role checks and the audit trail ---------------------------

    def acting_as(self, actor: Actor) -> ModelService:
        """This service acting for ``actor`` (a server makes one per request)."""
        view = copy.copy(self)
        view.access = self.access.acting_as(actor)
        view.projects = self.projects.acting_as(actor)
        view.tracking = self.tracking.acting_as(actor)
        view.datasets = self.datasets.acting_as(actor) if self.datasets is not None else None
        return view

    def _require(
        self, conn: Connection, project: str, needed: Role, hidden: NotFound | None = None
    ) -> None:
        self.access.require(conn, project, needed, hidden=hidden)

    def _audit(self, conn: Connection, action: str, kind: str, object_id: str, text: str) -> None:
        self.access.record(conn, action, kind, object_id, text)

    def _who(self) -> str:
        principal = self.access.principal
        return principal.username if principal is not None else self.access.actor.name

    def _emit(self, conn: Connection, project: str, kind: str, payload: dict[str, Any]) -> None:
        """Write an event (``modelyard.events.kinds``) to the outbox in this transaction:
        webhooks subscribed to its kind receive it once the change is committed."""
        emit(conn, project, kind, payload, actor=self._who())

    # -- models ---------------------------------------------------------------------------

    def _model(self, conn: Connection, project: str, name: str) -> Any:
        """The model's row, after the actor's right to read it."""
        validate_name(project, "project")
        validate_name(name, "name")
        row = model_row(conn, project, name)
        if (
            row is None
            and not conn.execute(select(projects.c.id).where(projects.c.name == project)).first()
        ):  # a model's row names its project: asked only without one
            raise missing_project(project)
        self._require(conn, project, Role.VIEWER, hidden=missing_project(project))
        if row is None:
            raise NotFound(f"model {name!r} does not exist in project {project!r}", field="name")
        return row

    def create_model(
        self,
        name: str,
        *,
        project: str,
        description: str = "",
        owners: Sequence[str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> RegisteredModel:
        """Register a model name (its owners: the creator unless given). The name taken:
        the model as it is, when nothing else was asked for; else Conflict."""
        validate_name(name, "name")
        limits.check_text(description, "description", limits.DESCRIPTION)
        owner_list = _check_owners(owners if owners is not None else [self._who()])
        tag_map = _check_tags(tags or {})
        self.projects.ensure(project)
        with self.store.write() as conn:
            self._require(conn, project, Role.CONTRIBUTOR)
            if model_row(conn, project, name) is None:
                self._insert_model(conn, project, name, description, owner_list, tag_map)
            elif description or owners is not None or tags:
                raise Conflict(
                    f"model {name!r} already exists in project {project!r}; change it with "
                    "update_model",
                    field="name",
                )
            return hydrate_model(conn, model_row(conn, project, name))

    def _insert_model(
        self,
        conn: Connection,
        project: str,
        name: str,
        description: str,
        owners: list[str],
        tags: dict[str, str],
    ) -> str:
        project_id = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
        if project_id is None:
            raise missing_project(project)
        created = now_ms()
        model_id = new_id()
        conn.execute(
            self.store.insert_stmt(registered_models)
            .values(
                id=model_id,
                project_id=project_id,
                name=name,
                description=description,
                owners=json.dumps(owners),
                tags=json.dumps(tags, sort_keys=True),
                created_by=self._who(),
                created_at=created,
                updated_at=created,
            )
            .on_conflict_do_nothing(index_elements=["project_id", "name"])
        )
        row = model_row(conn, project, name)
        if row.id == model_id:
            self._audit(conn, "model.created", MODEL, model_id, f"{project}/{name}")
        return str(row.id)

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
        values: dict[str, Any] = {}
        if description is not None:
            values["description"] = limits.check_text(
                description, "description", limits.DESCRIPTION
            )
        if owners is not None:
            values["owners"] = json.dumps(_check_owners(owners))
        if tags is not None:
            values["tags"] = json.dumps(_check_tags(tags), sort_keys=True)
        with self.store.write() as conn:
            row = self._model(conn, project, name)
            self._require(conn, project, Role.CONTRIBUTOR)
            if values:
                conn.execute(
                    update(registered_models)
                    .where(registered_models.c.id == row.id)
                    .values(**values, updated_at=now_ms())
                )
                self._audit(
                    conn, "model.updated", MODEL, row.id, f"{project}/{name}: {', '.join(values)}"
                )
            return hydrate_model(conn, model_row(conn, project, name))

    def get_model(self, name: str, *, project: str) -> RegisteredModel:
        with self.store.read() as conn:
            return hydrate_model(conn, self._model(conn, project, name))

    def list_models(self, project: str) -> list[RegisteredModel]:
        """The models of a project, by name."""
        validate_name(project, "project")
        with self.store.read() as conn:
            if (
                conn.execute(select(projects.c.id).where(projects.c.name == project)).first()
                is None
            ):
                raise missing_project(project)
            self._require(conn, project, Role.VIEWER, hidden=missing_project(project))
            rows = conn.execute(
                select(registered_models, projects.c.name.label("project"))
                .join(projects, projects.c.id == registered_models.c.project_id)
                .where(projects.c.name == project)
                .order_by(registered_models.c.name)
            ).all()
            return [hydrate_model(conn, row) for row in rows]

    # -- versions -------------------------------------------------------------------------

    def check_register(
        self, name: str, *, project: str, flavor: str, run_id: str | None = None
    ) -> None:
        """Raise unless a version of ``name`` in ``flavor`` may be registered (the SDK asks
        before it saves the model; :meth:`register` asks again)."""
        self._may_register(name, project, flavor, run_id)

    def _may_register(self, name: str, project: str, flavor: str, run_id: str | None) -> bool:
        """:meth:`check_register` in one read transaction; whether the project exists."""
        validate_name(name, "name")
        validate_name(project, "project")
        chosen = FLAVORS.get(flavor)
        with self.store.read() as conn:
            return self._may_register_in(conn, project, chosen, run_id)

    def _may_register_in(
        self, conn: Connection, project: str, chosen: Flavor, run_id: str | None
    ) -> bool:
        """:meth:`check_register` in the caller's transaction; whether the project exists."""
        exists = conn.execute(select(projects.c.id).where(projects.c.name == project)).first()
        if exists:
            self._require(conn, project, Role.CONTRIBUTOR)
        check_code_format(
            chosen,
            installation=self.allow_code_formats,
            project=project_setting(conn, project, CODE_FORMATS_SETTING),
            name=project,
            doing="registering",
        )
        if run_id is not None:
            self._run_in(conn, run_id, project)
        return exists is not None

    def _run_in(self, conn: Connection, run_id: str, project: str) -> None:
        """The run exists, the actor may read it, and it belongs to ``project``."""
        self.tracking.require_run(conn, run_id, Role.VIEWER)
        found = conn.execute(
            select(projects.c.name)
            .join(runs, runs.c.project_id == projects.c.id)
            .where(runs.c.id == run_id)
        ).scalar()
        if found != project:
            raise InvalidInput(
                f"run {run_id} is in project {found!r}, not {project!r}: a model version comes "
                "from a run of its own project",
                field="run_id",
            )

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
        """Register the folder ``files`` (written by ``flavor``), or a tar archive of one
        (what a server stages from an upload), as a version of model ``name``, creating
        the model if needed. ``input_example``: the path, inside the folder, of the
        example the signature was inferred from. The same files registered again under
        ``name`` are the existing version.

        The rights are checked before a byte is stored (one read transaction) and again
        in the one write transaction that numbers the version and records its lineage
        edge, audit event and outbox event."""
        folder = None if isinstance(files, TarArchive) else Path(files)
        if folder is not None and not folder.is_dir():
            raise InvalidInput(f"{str(folder)!r} is not a folder", field="files")
        exists = self._may_register(name, project, flavor, run_id)
        record = _VersionRecord.check(
            flavor, flavor_config, packages, signature, input_example, description
        )
        if (
            input_example is not None
            and folder is not None
            and not (folder / input_example).is_file()
        ):
            raise _no_example(input_example)
        if not exists:
            self.projects.ensure(project)
        tree = self._put_files(files if isinstance(files, TarArchive) else folder)
        if input_example is not None:  # a path of the stored tree: never "..", never absolute
            stored = {e.path: e.digest for e in self.blobs.read_tree(tree.digest)}
            self._check_example(record, stored)
        return self._add_version(name, project, tree, record, run_id)

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
        """Register the run's artifact folder ``path`` (laid out as a version: the
        flavor's files under ``model/``) as a version of model ``name``, pointing at the
        blobs the run already stored: nothing is copied (only the tree's manifest is
        written when the folder was logged file by file). The same files again are the
        existing version."""
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInput("run_id must be a run's id", field="run_id")
        validate_name(name, "name")
        validate_name(project, "project")
        chosen = FLAVORS.get(flavor)
        record = _VersionRecord.check(
            flavor, flavor_config, packages, signature, input_example, description
        )
        folder = normalize_artifact_path(path)
        # No bytes to store but a manifest: one write transaction, the rights checked first
        # (the run is in the project, so the project exists).
        with self.store.write() as conn:
            self._may_register_in(conn, project, chosen, run_id)
            entries = self._run_folder(conn, run_id, folder)
            if not any(e.path.startswith("model/") for e in entries):
                raise InvalidInput(
                    f"artifact {folder!r} of run {run_id} has no model/ folder: register a "
                    "folder laid out as a version (the flavor's files under model/, as "
                    "models.log writes them)",
                    field="path",
                )
            if input_example is not None:
                self._check_example(record, {e.path: e.digest for e in entries})
            tree = self.blobs.put_manifest(entries)
            return self._add_version_in(conn, name, project, tree, record, run_id)

    def _run_folder(self, conn: Connection, run_id: str, folder: str) -> list[TreeEntry]:
        """The files of a run's artifact folder, as a tree's entries (paths under it)."""
        under = folder.rstrip("/") + "/"
        rows = conn.execute(
            select(artifacts.c.path, artifacts.c.digest, artifacts.c.kind, artifacts.c.size)
            .where(artifacts.c.run_id == run_id)
            .where(
                (artifacts.c.path == folder)
                | artifacts.c.path.startswith(under, autoescape=True)
                | literal(folder).startswith(artifacts.c.path + "/")
            )
            .order_by(artifacts.c.path)
        ).all()
        entries: list[TreeEntry] = []
        for row in rows:
            if row.kind != "tree":  # a file under the folder (the folder itself: not one)
                if row.path.startswith(under):
                    entries.append(TreeEntry(row.path[len(under) :], row.digest, row.size))
                continue
            for entry in self.blobs.read_tree(row.digest):
                full = f"{row.path}/{entry.path}"
                if full.startswith(under):
                    entries.append(TreeEntry(full[len(under) :], entry.digest, entry.size))
        if not entries:
            raise NotFound(f"run {run_id} has no artifact folder {folder!r}", field="path")
        return sorted(entries, key=lambda e: e.path)

    def _check_example(self, record: _VersionRecord, stored: dict[str, str]) -> None:
        """The input example is a file of the tree and fits the signature."""
        assert record.input_example is not None
        if record.input_example not in stored:
            raise _no_example(record.input_example)
        if record.signature is not None:
            data = self.blobs.get_bytes(stored[record.input_example])
            schema = example_schema(data, record.input_example)
            check_example(record.signature, schema, stored=True)

    def _add_version(
        self,
        name: str,
        project: str,
        tree: BlobInfo,
        record: _VersionRecord,
        run_id: str | None,
    ) -> ModelVersion:
        """Number and record a version of the stored ``tree`` in one write transaction
        (the rights checked again, the run's facts read, the lineage edge, the audit and
        outbox events), or return the model's version with the same tree."""
        with self.store.write() as conn:
            self._require(conn, project, Role.CONTRIBUTOR)
            if run_id is not None:
                self._run_in(conn, run_id, project)
            return self._add_version_in(conn, name, project, tree, record, run_id)

    def _add_version_in(
        self,
        conn: Connection,
        name: str,
        project: str,
        tree: BlobInfo,
        record: _VersionRecord,
        run_id: str | None,
    ) -> ModelVersion:
        """:meth:`_add_version` in the caller's write transaction, its rights checked."""
        row = model_row(conn, project, name)
        if row is not None:
            model_id = str(row.id)
        else:
            model_id = self._insert_model(conn, project, name, "", [self._who()], {})
        # The lock that orders this model's versions and alias moves (PostgreSQL; SQLite
        # holds the database's write lock already).
        if conn.dialect.name != "sqlite":
            conn.execute(
                select(registered_models.c.id)
                .where(registered_models.c.id == model_id)
                .with_for_update()
            )
        versions_id = model_versions.c.id
        newest, same = conn.execute(  # the newest number and a version of the same tree
            select(
                func.max(model_versions.c.version),
                func.max(case((model_versions.c.tree_digest == tree.digest, versions_id))),
            ).where(model_versions.c.model_id == model_id)
        ).one()
        if same is not None:
            return self._version_by_id(conn, same)
        facts = _run_facts(conn, run_id)
        version = ModelVersion(
            id=new_id(),
            project=project,
            name=name,
            version=int(newest or 0) + 1,
            tree_digest=tree.digest,
            size_bytes=tree.size,
            flavor=record.flavor,
            flavor_config=record.flavor_config,
            packages=record.packages,
            signature=record.signature,
            input_example=record.input_example,
            run_id=run_id,
            metrics=facts.metrics,
            dataset_versions=facts.dataset_versions,
            code_commit=facts.code_commit,
            description=record.description,
            created_by=self._who(),
            created_at=now_ms(),
            aliases=[],
        )
        conn.execute(
            model_versions.insert().values(
                id=version.id,
                model_id=model_id,
                version=version.version,
                tree_digest=tree.digest,
                size_bytes=tree.size,
                flavor=record.flavor,
                flavor_config=record.config_text,
                packages=record.packages_text,
                signature=record.signature_text,
                input_example=record.input_example,
                run_id=run_id,
                metrics=json.dumps(facts.metrics, allow_nan=False),
                dataset_versions=json.dumps(facts.dataset_versions),
                code_commit=facts.code_commit,
                description=record.description,
                created_by=version.created_by,
                created_at=version.created_at,
            )
        )
        if run_id is not None:
            self.lineage.add(
                conn, (RUN, run_id), (MODEL_VERSION, version.id), OUTPUT, run_id=run_id
            )
        self._audit(
            conn,
            "model.version_registered",
            MODEL_VERSION,
            version.id,
            f"{project}/{name} version {version.version}: {record.flavor}, tree {tree.digest[:16]}",
        )
        self._emit(
            conn,
            project,
            event_kinds.MODEL_VERSION_CREATED,
            {
                "model": name,
                "version": version.version,
                "version_id": version.id,
                "flavor": record.flavor,
                "tree_digest": tree.digest,
                "run_id": run_id,
                "created_by": version.created_by,
            },
        )
        return version

    def _put_files(self, files: Path | TarArchive | None) -> BlobInfo:
        """Store a version's files as one blob tree (a tar archive's members are checked
        as ``artifacts/_tar.py`` reads them: clean paths, regular files, digests)."""
        if isinstance(files, TarArchive):
            with open(files.path, "rb") as tar:
                return self.blobs.put_tar(tar)
        assert files is not None
        return self.blobs.put_tree(files)

    def _version_by_id(self, conn: Connection, version_id: str) -> ModelVersion:
        row = conn.execute(version_select().where(model_versions.c.id == version_id)).first()
        return hydrate_versions(conn, [row])[0]

    def get_version(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
    ) -> ModelVersion:
        """One version: by number, by alias, or the newest."""
        if version is not None and alias is not None:
            raise InvalidInput("give a version or an alias, not both", field="version")
        with self.store.read() as conn:
            row = self._model(conn, project, name)
            if alias is not None:
                validate_name(alias, "alias")
                target = conn.execute(
                    version_select()
                    .join(model_aliases, model_aliases.c.version_id == model_versions.c.id)
                    .where(model_aliases.c.model_id == row.id, model_aliases.c.alias == alias)
                ).first()
                if target is None:
                    known = ", ".join(hydrate_model(conn, row).aliases) or "none"
                    raise NotFound(
                        f"model {name!r} has no alias {alias!r} (its aliases: {known})",
                        field="alias",
                    )
                return hydrate_versions(conn, [target])[0]
            number = (
                _check_version(version) if version is not None else latest_version(conn, row.id)
            )
            found = conn.execute(
                version_select().where(
                    model_versions.c.model_id == row.id, model_versions.c.version == number
                )
            ).first()
            if found is None:
                if not number:
                    raise NotFound(f"model {name!r} has no versions yet", field="version")
                raise NotFound(
                    f"model {name!r} has no version {number} (the newest is "
                    f"{latest_version(conn, row.id) or 'none'})",
                    field="version",
                )
            return hydrate_versions(conn, [found])[0]

    def get_version_by_id(self, version_id: str) -> ModelVersion:
        """A version by its id (as lineage edges name it)."""
        missing = NotFound(f"model version {version_id!r} does not exist", field="id")
        with self.store.read() as conn:
            row = conn.execute(version_select().where(model_versions.c.id == version_id)).first()
            if row is None:
                raise missing
            self._require(conn, row.project, Role.VIEWER, hidden=missing)
            return hydrate_versions(conn, [row])[0]

    def resolve(self, ref: str, *, project: str) -> ModelVersion:
        """The version ``ref`` names: ``name@alias``, ``name/3`` or ``name`` (the newest)."""
        name, version, alias = parse_ref(ref)
        return self.get_version(name, project=project, version=version, alias=alias)

    def list_versions(
        self, name: str, *, project: str, after: int = 0, limit: int | None = None
    ) -> list[ModelVersion]:
        """The versions of a model, oldest first: those numbered above ``after``, at most
        ``limit`` of them (None: every one). A page is read and built alone (its aliases
        in one query), however many versions the model has."""
        after, limit = check_page(after, limit)
        with self.store.read() as conn:
            row = self._model(conn, project, name)
            stmt = (
                version_select()
                .where(model_versions.c.model_id == row.id, model_versions.c.version > after)
                .order_by(model_versions.c.version)
            )
            rows = conn.execute(stmt if limit is None else stmt.limit(limit)).all()
            return hydrate_versions(conn, rows)

    def compare(self, name: str, before: int, after: int, *, project: str) -> SignatureDiff:
        """How version ``after``'s signature differs from version ``before``'s."""
        old = self.get_version(name, project=project, version=before)
        new = self.get_version(name, project=project, version=after)
        for found in (old, new):
            if found.signature is None:
                raise InvalidInput(
                    f"model version {found.ref} has no signature (it was logged without an "
                    "input example)",
                    field="version",
                )
        assert old.signature is not None and new.signature is not None
        return compare_signatures(old.signature, new.signature)

    def download(self, version: ModelVersion, dest: str | Path) -> Path:
        """Write the version's files into the folder ``dest``, each verified against its
        digest first (a corrupt blob is :class:`~modelyard.errors.CorruptBlob`). The
        version is looked up again by its id: what is read, and who may read it, follow
        the stored version, never the fields of the object given (see :meth:`check_load`)."""
        stored = self.check_load(version)
        return self.blobs.get_tree(stored.tree_digest, dest)

    def check_load(self, version: ModelVersion) -> ModelVersion:
        """The stored version (looked up again by its id) about to be loaded: Conflict if
        it is retired (its files may be collected); else its last load is noted, for the
        retirement policies (a write at most once an hour)."""
        stored = self.get_version_by_id(version.id)
        if stored.status == RETIRED:
            raise Conflict(
                f"model version {stored.project}/{stored.ref} is retired: its files are no "
                "longer loaded",
                field="version",
            )
        _retirement.record_load(self, stored.id)
        return stored

    # -- aliases --------------------------------------------------------------------------

    def set_alias(
        self, name: str, alias: str, version: int, *, project: str, reason: str = ""
    ) -> AliasMove:
        """Point ``alias`` at ``version`` (moving it from where it was), recording the move."""
        with self.store.write() as conn:
            return self.move_alias(conn, name, alias, version, project=project, reason=reason)

    def move_alias(
        self, conn: Connection, name: str, alias: str, version: int, *, project: str, reason: str
    ) -> AliasMove:
        """:meth:`set_alias` in the caller's write transaction (a deployment's promotion
        moves the alias and its plan in one), with the same checks and records."""
        check_alias(alias)
        _check_version(version)
        limits.check_text(reason, "reason", limits.DESCRIPTION)
        row = self._locked(conn, project, name)
        found = conn.execute(
            select(model_versions.c.id, model_versions.c.status).where(
                model_versions.c.model_id == row.id, model_versions.c.version == version
            )
        ).first()
        if found is None:
            newest = latest_version(conn, row.id)
            raise NotFound(
                f"model {name!r} has no version {version} (the newest is {newest or 'none'})",
                field="version",
            )
        if found.status == RETIRED:
            raise Conflict(
                f"model version {project}/{name}/{version} is retired: an alias may not "
                "point at it",
                field="version",
            )
        _deployed.check_alias_move(conn, project, name, alias, version, found.status)
        target = found.id
        before = self._alias_version(conn, row.id, alias)
        at = self.clock()
        conn.execute(
            self.store.upsert_stmt(
                model_aliases, ["model_id", "alias"], ["version_id", "updated_at"]
            ),
            {
                "model_id": row.id,
                "alias": alias,
                "version_id": target,
                "updated_at": at,
            },
        )
        return self._moved(conn, row, alias, before, version, reason, at)

    def delete_alias(self, name: str, alias: str, *, project: str, reason: str = "") -> AliasMove:
        """Remove an alias, recording the move (to no version)."""
        validate_name(alias, "alias")
        limits.check_text(reason, "reason", limits.DESCRIPTION)
        with self.store.write() as conn:
            row = self._locked(conn, project, name)
            before = self._alias_version(conn, row.id, alias)
            if before is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}", field="alias")
            _deployed.check_alias_removal(conn, project, name, alias)
            conn.execute(
                delete(model_aliases).where(
                    model_aliases.c.model_id == row.id, model_aliases.c.alias == alias
                )
            )
            return self._moved(conn, row, alias, before, None, reason, self.clock())

    def _locked(self, conn: Connection, project: str, name: str) -> Any:
        """The model's row, locked for this transaction, after the contributor check."""
        row = self._model(conn, project, name)
        self._require(conn, project, Role.CONTRIBUTOR)
        conn.execute(
            select(registered_models.c.id).where(registered_models.c.id == row.id).with_for_update()
        )
        return row

    def _alias_version(self, conn: Connection, model_id: str, alias: str) -> int | None:
        found = conn.execute(
            select(model_versions.c.version)
            .join(model_aliases, model_aliases.c.version_id == model_versions.c.id)
            .where(model_aliases.c.model_id == model_id, model_aliases.c.alias == alias)
        ).scalar()
        return int(found) if found is not None else None

    def _moved(
        self,
        conn: Connection,
        row: Any,
        alias: str,
        before: int | None,
        after: int | None,
        reason: str,
        at: int,
    ) -> AliasMove:
        move = AliasMove(row.name, alias, before, after, self._who(), at, reason)
        conn.execute(
            model_alias_moves.insert().values(
                model_id=row.id,
                alias=alias,
                from_version=before,
                to_version=after,
                moved_by=move.moved_by,
                moved_at=move.moved_at,
                reason=reason,
            )
        )
        self._audit(
            conn,
            "model.alias_moved",
            MODEL,
            row.id,
            f"{row.project}/{row.name}@{alias}: {before or '-'} -> {after or '-'}",
        )
        self._emit(
            conn,
            row.project,
            event_kinds.ALIAS_MOVED if after is not None else event_kinds.ALIAS_DELETED,
            {
                "model": row.name,
                "alias": alias,
                "from_version": before,
                "to_version": after,
                "moved_by": move.moved_by,
                "reason": reason,
            },
        )
        return move

    def history(self, name: str, *, project: str, alias: str | None = None) -> list[AliasMove]:
        """Every move of the model's aliases (of ``alias`` only, when given), oldest first."""
        with self.store.read() as conn:
            row = self._model(conn, project, name)
            stmt = select(model_alias_moves).where(model_alias_moves.c.model_id == row.id)
            if alias is not None:
                stmt = stmt.where(model_alias_moves.c.alias == validate_name(alias, "alias"))
            rows = conn.execute(
                stmt.order_by(model_alias_moves.c.moved_at, model_alias_moves.c.id)
            ).all()
        return [
            AliasMove(name, r.alias, r.from_version, r.to_version, r.moved_by, r.moved_at, r.reason)
            for r in rows
        ]

    def alias_at(self, name: str, alias: str, at: int | datetime, *, project: str) -> int | None:
        """The version ``alias`` pointed at at time ``at`` (a datetime with its timezone, or
        milliseconds since the epoch); None when it pointed nowhere then."""
        when = _millis(at)
        with self.store.read() as conn:
            row = self._model(conn, project, name)
            found = conn.execute(
                select(model_alias_moves.c.to_version)
                .where(
                    model_alias_moves.c.model_id == row.id,
                    model_alias_moves.c.alias == validate_name(alias, "alias"),
                    model_alias_moves.c.moved_at <= when,
                )
                .order_by(model_alias_moves.c.moved_at.desc(), model_alias_moves.c.id.desc())
                .limit(1)
            ).first()
        return found.to_version if found is not None else None

    # -- evaluations ----------------------------------------------------------------------

    def check_evaluate(self, version: ModelVersion) -> ModelVersion:
        """Raise unless the actor may keep an evaluation of ``version`` (the SDK asks
        before it reads any data; :meth:`record_evaluation` asks again); returns the
        version as stored: its id decides, never the other fields given."""
        with self.store.read() as conn:
            return self._evaluable(conn, version.id)

    def _evaluable(self, conn: Connection, version_id: str) -> ModelVersion:
        missing = NotFound(f"model version {version_id!r} does not exist", field="version")
        row = conn.execute(version_select().where(model_versions.c.id == version_id)).first()
        if row is None:
            raise missing
        self._require(conn, row.project, Role.CONTRIBUTOR, hidden=missing)
        return hydrate_versions(conn, [row])[0]

    def record_evaluation(
        self,
        version: ModelVersion,
        report: dict[str, Any],
        *,
        baseline: ModelVersion | None = None,
        source: str = "",
    ) -> Evaluation:
        """Keep ``report`` (from :func:`modelyard.registry.evaluation.evaluate`) with
        ``version``: its JSON and the HTML page rendered from it, and a row with the
        headline metrics. ``baseline``: the version it was compared with; ``source``:
        what the data was, in words."""
        check_report(report)
        limits.check_text(source, "source", limits.DESCRIPTION)
        version = self.check_evaluate(version)
        if baseline is not None:
            baseline = self.get_version_by_id(baseline.id)  # exists, and the actor may read it
        kept = {
            **report,
            "model": {"project": version.project, "name": version.name, "version": version.version},
            "baseline": (
                {"project": baseline.project, "name": baseline.name, "version": baseline.version}
                if baseline is not None
                else None
            ),
            "source": source,
        }
        text = json_bytes(kept, "the evaluation report")
        if len(text) > limits.EVALUATION_JSON:
            raise InvalidInput(
                f"the evaluation report is {len(text)} bytes of JSON; the limit is "
                f"{limits.EVALUATION_JSON}",
                field="report",
            )
        data = self.blobs.put_bytes(text).digest
        title = f"Evaluation of {version.project}/{version.ref}"
        html = self.blobs.put_bytes(render(kept, title).encode()).digest
        evaluation_id = new_id()
        with self.store.write() as conn:
            self._evaluable(conn, version.id)
            conn.execute(
                model_evaluations.insert().values(
                    id=evaluation_id,
                    version_id=version.id,
                    baseline_version_id=baseline.id if baseline is not None else None,
                    task=report["task"],
                    target=report["target"],
                    rows=report["rows"],
                    source=source,
                    metrics=json.dumps(report["metrics"], sort_keys=True, allow_nan=False),
                    data_digest=data,
                    html_digest=html,
                    created_by=self._who(),
                    created_at=now_ms(),
                )
            )
            against = f" against {baseline.project}/{baseline.ref}" if baseline else ""
            self._audit(
                conn,
                "model.evaluated",
                MODEL_VERSION,
                version.id,
                f"{version.project}/{version.ref} on {report['rows']} rows{against}",
            )
            row = conn.execute(
                evaluation_select().where(model_evaluations.c.id == evaluation_id)
            ).first()
        return hydrate_evaluations([row], self.blobs)[0]

    def evaluations(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
        limit: int | None = 1,
    ) -> list[Evaluation]:
        """A version's evaluations, newest first: the latest only unless ``limit`` says
        otherwise (None: all). The version: by number, alias, or the newest."""
        bad = isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        if limit is not None and bad:
            raise InvalidInput("limit must be a positive integer or None", field="limit")
        found = self.get_version(name, project=project, version=version, alias=alias)
        stmt = (
            evaluation_select()
            .where(model_evaluations.c.version_id == found.id)
            .order_by(model_evaluations.c.created_at.desc(), model_evaluations.c.id.desc())
        )
        with self.store.read() as conn:
            rows = conn.execute(stmt.limit(limit) if limit is not None else stmt).all()
        return hydrate_evaluations(list(rows), self.blobs)

    def evaluation_html(self, evaluation_id: str) -> str:
        """The HTML page of an evaluation (by its id)."""
        missing = NotFound(f"evaluation {evaluation_id!r} does not exist", field="id")
        with self.store.read() as conn:
            row = conn.execute(
                evaluation_select().where(model_evaluations.c.id == evaluation_id)
            ).first()
            if row is None:
                raise missing
            self._require(conn, row.project, Role.VIEWER, hidden=missing)
        return self.blobs.get_bytes(row.html_digest).decode()

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
        """Evaluate the version ``ref`` (``name@alias``, ``name/3``, ``name``) here, on a
        stored dataset version or an iterable of Arrow record batches (read once), against
        the column ``target``, and keep the report (:meth:`record_evaluation`); the caller
        needs contributor on the version's project before any data is read. ``baseline``:
        another version of the project, compared on the same rows; ``source``: what the
        batches are, in words; ``trusted``: types skops may load for this call, beyond
        ``trusted_types``. The other options are
        :func:`~modelyard.registry.evaluation.evaluate`'s."""
        from modelyard.registry._evaluate import evaluate_version

        limits.check_text(source, "source", limits.DESCRIPTION)
        for field, value, most in (
            ("sample_rows", sample_rows, MAX_SAMPLE_ROWS),
            ("bootstrap", bootstrap, MAX_BOOTSTRAP),
        ):
            if isinstance(value, int) and value > most:
                raise InvalidInput(f"{field} must be at most {most}", field=field)
        if isinstance(slices, str):
            raise InvalidInput("slices must be a list of column names", field="slices")
        version = self.check_evaluate(self.resolve(ref, project=project))
        against = self.resolve(baseline, project=project) if baseline else None
        options = {
            "task": task,
            "slices": list(slices),
            "seed": seed,
            "sample_rows": sample_rows,
            "bootstrap": bootstrap,
        }
        return evaluate_version(
            self,
            version,
            data,
            target,
            baseline=against,
            options=options,
            source=source,
            trusted=trusted,
        )

    # -- bookkeeping ----------------------------------------------------------------------

    def referenced_digests(self) -> set[str]:
        """Every blob tree of a version and every evaluation's blobs, for garbage
        collection."""
        with self.store.read() as conn:
            found = set(
                conn.execute(
                    select(model_evaluations.c.data_digest, model_evaluations.c.html_digest)
                ).all()
            )
        return self.tree_digests() | {d for pair in found for d in pair}

    def tree_digests(self) -> set[str]:
        """The same trees (their member blobs are kept too): every version's but those of
        retired versions past ``retired_retention_days`` that no alias or deployment points
        at."""
        retention_ms = int(self.retired_retention_days * 24 * 3600 * 1000)
        with self.store.read() as conn:
            return _retirement.kept_trees(conn, self.clock(), retention_ms)

    # -- model cards ----------------------------------------------------------------------

    def get_card(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
    ) -> ModelCard:
        """A version's model card (by number, alias, or the newest): what the registry
        knows about it and the fields people filled in."""
        found = self.get_version(name, project=project, version=version, alias=alias)
        params = self.tracking.get_run(found.run_id).params if found.run_id else {}
        with self.store.read() as conn:
            model = self._model(conn, project, name)
            return build_card(conn, self.blobs, found, model, dict(params))

    def set_card_fields(
        self,
        name: str,
        fields: dict[str, str],
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
    ) -> ModelCard:
        """Fill in (or, with an empty text, clear) fields of a version's card:
        ``intended_use``, ``limitations``, ``ethical_considerations``, ``license`` or any
        other snake_case name."""
        changes = check_fields(fields)
        found = self.get_version(name, project=project, version=version, alias=alias)
        with self.store.write() as conn:
            self._locked(conn, project, name)
            merged = merge_fields(filled_fields(conn, found.id), changes)
            conn.execute(
                self.store.upsert_stmt(
                    model_cards, ["version_id"], ["fields", "updated_by", "updated_at"]
                ),
                {
                    "version_id": found.id,
                    "fields": json.dumps(merged, sort_keys=True),
                    "updated_by": self._who(),
                    "updated_at": now_ms(),
                },
            )
            self._audit(
                conn,
                "model.card_updated",
                MODEL_VERSION,
                found.id,
                f"{project}/{found.ref}: {', '.join(sorted(changes))}",
            )
        return self.get_card(name, project=project, version=found.version)

    # -- status through policy gates ------------------------------------------------------

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
        """Ask to move a version (by number, alias, or the newest) to status ``to``. The
        model's policy judges it: a failed rule refuses it (PolicyViolation naming every
        failed rule, its observed value and its bound; the refused request is kept);
        with no approvals needed the status changes now; otherwise the request stays open
        for approvers."""
        limits.check_text(comment, "comment", limits.DESCRIPTION)
        found = self.get_version(name, project=project, version=version, alias=alias)
        return _lifecycle.request_transition(self, found, to, comment)

    def approve(self, request_id: str, *, comment: str = "") -> TransitionRequest:
        """Approve an open request (an approver other than its requester); the status
        changes once enough approvals are in and every rule passes."""
        limits.check_text(comment, "comment", limits.DESCRIPTION)
        return _lifecycle.decide(self, request_id, _lifecycle.APPROVE, comment)

    def reject(self, request_id: str, *, comment: str = "") -> TransitionRequest:
        """Reject an open request (an approver other than its requester); it is closed."""
        limits.check_text(comment, "comment", limits.DESCRIPTION)
        return _lifecycle.decide(self, request_id, _lifecycle.REJECT, comment)

    def get_request(self, request_id: str) -> TransitionRequest:
        """One status change request, with its decisions and its rules as last judged."""
        return _lifecycle.get_request(self, request_id)

    def list_requests(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        state: str | None = None,
    ) -> list[TransitionRequest]:
        """A model's status change requests (of one version, in one state), oldest first."""
        if version is not None:
            _check_version(version)
        return _lifecycle.list_requests(self, project, name, version, state)

    def get_policy(self, *, project: str, name: str | None = None) -> ModelPolicy:
        """The policy in force for model ``name`` (its own, else the project's), or the
        project's when no name is given."""
        with self.store.read() as conn:
            if name is not None:
                self._model(conn, project, name)
            else:
                self._project_visible(conn, project)
            return _lifecycle.effective_policy(conn, project, name)

    def set_policy(
        self,
        policy: Policy | dict[str, Any] | str,
        *,
        project: str,
        name: str | None = None,
    ) -> ModelPolicy:
        """Set the policy of a project (or, with ``name``, of one model, which overrides
        the project's): a :class:`Policy`, its mapping or its YAML (project admins)."""
        return _lifecycle.set_policy(self, policy, project, name)

    def change_status(
        self, conn: Connection, version: ModelVersion, to: str, *, reason: str
    ) -> None:
        """Move ``version`` from the status it had when read to ``to`` (a legal move) in
        the caller's write transaction, with its audit event; Conflict if its status
        changed since. The one way a status changes: an applied request, and retirement.
        Conflict, too, when a deployment routes to the version and ``to`` may not take
        traffic (the policy's ``serving``)."""
        _deployed.check_status_change(
            conn, version.project, version.name, version.version, version.id, to
        )
        _lifecycle.change_status(conn, self.access, version, to, reason, at=self.clock())
        about = {"model": version.name, "version": version.version, "version_id": version.id}
        self._emit(
            conn,
            version.project,
            event_kinds.STATUS_CHANGED,
            about
            | {
                "from_status": version.status,
                "to_status": to,
                "changed_by": self._who(),
                "reason": reason,
            },
        )
        if to == RETIRED:
            self._emit(
                conn,
                version.project,
                event_kinds.VERSION_RETIRED,
                about | {"retired_by": self._who(), "reason": reason},
            )

    # -- retirement -----------------------------------------------------------------------

    def archive(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
        reason: str = "",
    ) -> TransitionRequest:
        """Archive a version (by number, alias, or the newest) by hand: a status change
        request to ``archived`` with ``reason`` as its comment, judged by the model's
        policy like any other (applied at once when its gate needs no approvals)."""
        limits.check_text(reason, "reason", limits.DESCRIPTION)
        return self.request_transition(
            name, project=project, to=ARCHIVED, version=version, alias=alias, comment=reason
        )

    def retire(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
        reason: str = "",
    ) -> TransitionRequest:
        """Retire a version (``registered`` or ``archived``) by hand: a status change
        request to ``retired``, judged by the model's policy; Conflict while an alias points
        at the version. Retired is final: the version is no longer loaded, and its files
        are collectable ``retired_retention_days`` later."""
        limits.check_text(reason, "reason", limits.DESCRIPTION)
        found = self.get_version(name, project=project, version=version, alias=alias)
        return _lifecycle.request_transition(
            self, found, RETIRED, reason, guard=_retirement.unaliased
        )

    def get_retirement_policy(
        self, *, project: str, name: str | None = None
    ) -> ModelRetirementPolicy:
        """The retirement policy in force for model ``name`` (its own, else the
        project's), or the project's when no name is given."""
        with self.store.read() as conn:
            if name is not None:
                self._model(conn, project, name)
            else:
                self._project_visible(conn, project)
            return _retirement.effective_policy(conn, project, name)

    def set_retirement_policy(
        self,
        policy: RetirementPolicy | dict[str, Any] | str,
        *,
        project: str,
        name: str | None = None,
    ) -> ModelRetirementPolicy:
        """Set the retirement policy of a project (or, with ``name``, of one model, which
        overrides the project's as a whole): a :class:`RetirementPolicy`, its mapping or its
        YAML (project admins)."""
        return _retirement.set_policy(self, policy, project, name)

    def run_retirement(
        self, *, project: str, name: str | None = None, dry_run: bool = False
    ) -> list[RetirementMove]:
        """Apply the retirement policies of a project (of one model, with ``name``): each
        move a status change request by the system actor with its rule as the comment
        (project admins). With ``dry_run``, only what they would do (viewers)."""
        return _retirement.run(self, project, name, dry_run)

    def _project_visible(self, conn: Connection, project: str) -> None:
        validate_name(project, "project")
        if conn.execute(select(projects.c.id).where(projects.c.name == project)).first() is None:
            raise missing_project(project)
        self._require(conn, project, Role.VIEWER, hidden=missing_project(project))


@dataclass(frozen=True, slots=True)
class _VersionRecord:
    """What a caller says of a new version, checked, and its columns' text."""

    flavor: str
    flavor_config: dict[str, Any]
    config_text: str
    packages: dict[str, str]
    packages_text: str
    signature: Signature | None
    signature_text: str | None
    input_example: str | None
    description: str

    @classmethod
    def check(
        cls,
        flavor: str,
        flavor_config: dict[str, Any] | None,
        packages: dict[str, str] | None,
        signature: Signature | dict[str, Any] | None,
        input_example: str | None,
        description: str,
    ) -> _VersionRecord:
        if flavor_config is not None and not isinstance(flavor_config, dict):
            raise InvalidInput("flavor_config must be a mapping", field="flavor_config")
        if signature is not None and not isinstance(signature, Signature | dict):
            raise InvalidInput("signature must be a signature or its mapping", field="signature")
        config = _json(flavor_config or {}, "flavor_config")
        if not isinstance(packages or {}, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in (packages or {}).items()
        ):
            raise InvalidInput("packages must map package names to versions", field="packages")
        package_text = _json(packages or {}, "packages")
        if isinstance(signature, dict):
            try:
                signature = Signature.from_dict(signature)
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidInput(
                    f"signature is not a signature: {exc!r}", field="signature"
                ) from None
        signature_text = _json(signature.as_dict(), "signature") if signature is not None else None
        if input_example is not None:
            limits.check_text(input_example, "input_example", limits.SHORT_TEXT)
        limits.check_text(description, "description", limits.DESCRIPTION)
        return cls(
            flavor=flavor,
            flavor_config=json.loads(config),
            config_text=config,
            packages=json.loads(package_text),
            packages_text=package_text,
            signature=signature,
            signature_text=signature_text,
            input_example=input_example,
            description=description,
        )


@dataclass(frozen=True, slots=True)
class _RunFacts:
    """What a version keeps of its run: latest metrics, dataset versions read, commit."""

    metrics: dict[str, float | None]
    dataset_versions: list[str]
    code_commit: str | None


def _run_facts(conn: Connection, run_id: str | None) -> _RunFacts:
    """The run's facts a version keeps, read in the caller's transaction: its latest
    metrics (NaN and infinities as None: JSON has no such numbers), the dataset versions
    it read (lineage ``dataset_version -> run`` "input") and its ``git.commit`` tag."""
    if run_id is None:
        return _RunFacts({}, [], None)
    metrics = {
        key: (value if value is not None and math.isfinite(value) else None)
        for key, value in sorted(
            conn.execute(
                select(latest_metrics.c.key, latest_metrics.c.value).where(
                    latest_metrics.c.run_id == run_id
                )
            ).all()
        )
    }
    inputs = conn.execute(
        select(lineage_edges.c.source_id)
        .where(
            lineage_edges.c.target_kind == RUN,
            lineage_edges.c.target_id == run_id,
            lineage_edges.c.source_kind == DATASET_VERSION,
            lineage_edges.c.relation == INPUT,
        )
        .order_by(lineage_edges.c.id)
    ).scalars()
    commit = conn.execute(
        select(tags.c.value).where(tags.c.run_id == run_id, tags.c.key == "git.commit")
    ).scalar()
    return _RunFacts(metrics, list(inputs), commit)
