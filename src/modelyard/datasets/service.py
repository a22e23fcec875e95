"""The dataset service: every rule about datasets, versions, aliases, reports and their
lineage lives here. The SDK (``Client.datasets``), the CLI and, later, the REST routes
call these methods; none of them touches the tables or the blobs directly.

Registering streams the input once: each canonical record batch is hashed
(``datasets/digest.py``), written to Parquet parts in a staging folder and profiled
(``modelyard.data.profile``). Only then is the digest known: data already registered under
the same name is that version (nothing new is stored); data registered under another name
reuses its blobs and profile; anything else is stored as a blob tree and recorded, with its
profile report, aliases, lineage and an audit event, in one transaction.

A service acts for one :class:`~modelyard.governance.Actor` through its
:class:`~modelyard.governance.access.Access`, as the tracking service does:
a signed-in principal needs ``viewer`` on the project to read and ``contributor`` to
register, move aliases or add reports. The lineage edges of a run (a version it made,
one it read) are its data: they are written only while the tracking service says the
run is open to the actor (``TrackingService.check_run_open``), in the same transaction.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Column, Connection, delete, func, select

from modelyard import limits
from modelyard._util import new_id, now_ms, validate_name
from modelyard.datasets._rows import LATEST, alias_names, hydrate, latest_version, version_row
from modelyard.datasets.entities import Dataset, DatasetReport, DatasetVersion
from modelyard.datasets.reports import PROFILE, REPORT_KINDS, VALIDATION, Reports, check_kind
from modelyard.errors import Conflict, InvalidInput, NotFound
from modelyard.events.kinds import DATASET_VERSION_CREATED
from modelyard.events.outbox import emit
from modelyard.governance.access import Access
from modelyard.governance.identity import Actor
from modelyard.governance.roles import Role, missing_project
from modelyard.lineage.edges import (
    DATASET_VERSION,
    INPUT,
    MODEL_VERSION,
    OUTPUT,
    RUN,
    Lineage,
)
from modelyard.projects.service import ProjectService
from modelyard.store import Store
from modelyard.store.tables import (
    dataset_aliases,
    dataset_reports,
    dataset_versions,
    datasets,
    model_versions,
    projects,
    registered_models,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.artifacts import BlobStore
    from modelyard.data import Expectation, Profile
    from modelyard.datasets._ingest import Ingested
    from modelyard.tracking.service import TrackingService

__all__ = ["LATEST", "REPORT_KINDS", "DatasetService", "check_alias"]

_NUMBERISH = re.compile(r"^[vV]?[0-9][0-9_]*$")
_ATTEMPTS = 5

Progress = Callable[[int, int | None], None]
#: What a version was made from: ``(kind, id, relation)`` of a dataset version or a model
#: version, recorded as the lineage edge ``(kind, id) -> the version``.
Derivation = tuple[str, str, str]
#: The kinds a version may be derived from (``register(derived_from=...)``).
DERIVED_KINDS = (DATASET_VERSION, MODEL_VERSION)


def check_alias(alias: object) -> str:
    """An alias follows the name rules and must not look like a version number or be
    ``latest`` (which is computed)."""
    validate_name(alias, "alias")
    assert isinstance(alias, str)
    if alias.lower() == LATEST:
        raise InvalidInput(
            "'latest' always means the newest version; choose another alias", field="alias"
        )
    looks_numeric = bool(_NUMBERISH.match(alias))
    if not looks_numeric:
        try:
            float(alias)
            looks_numeric = True
        except ValueError:
            pass
    if looks_numeric:
        raise InvalidInput(
            f"alias {alias!r} looks like a version number; aliases must be names "
            "(champion, prod, 2024-q1...)",
            field="alias",
        )
    return alias


def _check_version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput(f"version must be a positive integer; got {version!r}", field="version")
    return version


@dataclass
class _Stored:
    tree_digest: str
    size: int
    profile: tuple[str, str | None] | None


class DatasetService:
    """Rules and queries for datasets over one metadata store and one blob store."""

    #: The blobs of versions (Parquet trees) and of reports (JSON, HTML), for garbage
    #: collection.
    blob_columns: ClassVar[tuple[Column[Any], ...]] = (
        dataset_versions.c.tree_digest,
        dataset_reports.c.data_digest,
        dataset_reports.c.html_digest,
    )

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        access: Access,
        projects: ProjectService,
        tracking: TrackingService,
    ) -> None:
        """``access``: the actor, its checks and the audit log; ``projects``: what a
        dataset's project is ensured by; ``tracking``: the closed-run rule the lineage
        edges of a run ask."""
        self.store = store
        self.blobs = blobs
        self.access = access
        self.projects = projects
        self.tracking = tracking
        self.lineage = Lineage(store)
        self.reports = Reports(store, blobs)

    def acting_as(self, actor: Actor) -> DatasetService:
        """This service acting for ``actor`` (the server makes one per request)."""
        view = copy.copy(self)
        view.access = self.access.acting_as(actor)
        view.projects = self.projects.acting_as(actor)
        view.tracking = self.tracking.acting_as(actor)
        return view

    # -- registering ----------------------------------------------------------------------

    def register(
        self,
        name: str,
        data: object,
        *,
        project: str,
        description: str = "",
        aliases: Sequence[str] = (),
        encoding: str | None = None,
        user: str | None = None,
        run_id: str | None = None,
        profile: bool = True,
        progress: Progress | None = None,
        source: str | None = None,
        expectations: Iterable[Expectation] | str | os.PathLike[str] | None = None,
        derived_from: Sequence[tuple[str, str, str]] = (),
    ) -> DatasetVersion:
        """Register ``data`` (a frame, an Arrow table or reader, or the path of a CSV or
        Parquet file or a directory of them) as a version of dataset ``name``.

        The same values registered again under ``name`` return the existing version.
        ``run_id`` records the run as the version's maker (lineage ``run -> version``).
        ``progress(done, total)`` is called as source bytes are read. ``source`` says
        where the data came from when ``data`` only relays it (the server's Arrow stream
        of a client's file or frame); by default it is described from ``data``.

        With ``expectations`` (rules, or a YAML file or text) the data is validated on
        the same pass that digests and stores it (it is read once): a critical failure
        raises :class:`~modelyard.errors.DataValidationError` with the report and
        registers nothing; otherwise the ValidationReport is archived with the version
        (kind ``validation``).

        ``derived_from``: ``(kind, id, relation)`` of each dataset version or model version
        the data was made from (batch scoring: its input ``input``, its model ``model``),
        each one the actor may read; recorded as lineage edges to the version in the
        transaction that registers it (or that finds the same data already registered).
        """
        from modelyard.data.validation import Validator
        from modelyard.datasets._ingest import ingest

        validator = Validator(expectations) if expectations is not None else None

        if source is not None:
            limits.check_text(source, "source", limits.SOURCE)
        if user is not None:
            limits.check_text(user, "user", limits.SHORT_TEXT)
        wanted = self.check_register(
            name,
            project=project,
            aliases=aliases,
            description=description,
            run_id=run_id,
            derived_from=derived_from,
        )
        staging = self.blobs.backend.staging_dir
        if staging is not None:
            staging.mkdir(parents=True, exist_ok=True)
        found = ingest(
            data,
            encoding=encoding,
            progress=progress,
            with_profile=profile,
            write=True,
            staging=staging,
            validator=validator,
        )
        if source is not None:
            found.source = source
        try:
            report = validator.report() if validator is not None else None
            if report is not None:
                report.raise_for_critical()
            version = self._record(
                name, project, found, description, wanted, user, run_id, derived_from
            )
        finally:
            if found.folder is not None:
                shutil.rmtree(found.folder, ignore_errors=True)
        if report is not None:
            self.add_report(version, VALIDATION, report.to_dict(), report.to_html())
        return version

    def check_register(
        self,
        name: str,
        *,
        project: str,
        aliases: Sequence[str] = (),
        description: str = "",
        run_id: str | None = None,
        derived_from: Sequence[tuple[str, str, str]] = (),
    ) -> list[str]:
        """Raise unless :meth:`register` may go ahead with these arguments (the server
        asks before it stages an upload); returns the checked aliases. Creates the
        project when it does not exist, as registering does."""
        validate_name(name, "dataset")
        validate_name(project, "project")
        wanted = [
            check_alias(alias) for alias in ([aliases] if isinstance(aliases, str) else aliases)
        ]
        limits.check_text(description, "description", limits.DESCRIPTION)
        self.projects.ensure(project)
        with self.store.read() as conn:
            self.access.require(conn, project, Role.CONTRIBUTOR)
            if run_id is not None:
                self._check_run(conn, run_id)
            self._check_derived(conn, derived_from)
        return wanted

    def _check_derived(self, conn: Connection, derived_from: Sequence[Derivation]) -> None:
        """Each source of ``derived_from`` is a dataset version or a model version that
        exists and that the actor may read (NotFound for one it may not: it learns
        nothing of projects where it has no role)."""
        for position, item in enumerate(derived_from):
            field = f"derived_from[{position}]"
            if not (isinstance(item, tuple | list) and len(item) == 3):
                raise InvalidInput(f"{field} must be (kind, id, relation)", field=field)
            kind, object_id, _relation = item
            if kind not in DERIVED_KINDS:
                raise InvalidInput(
                    f"{field}: a version is derived from a {' or a '.join(DERIVED_KINDS)}; "
                    f"got {limits.preview(kind)}",
                    field=field,
                )
            if kind == DATASET_VERSION:
                row = version_row(conn, str(object_id))
                project = row.project if row is not None else None
            else:
                project = conn.execute(
                    select(projects.c.name)
                    .join(registered_models, registered_models.c.project_id == projects.c.id)
                    .join(model_versions, model_versions.c.model_id == registered_models.c.id)
                    .where(model_versions.c.id == str(object_id))
                ).scalar()
            missing = NotFound(f"{field}: no {kind} {limits.preview(object_id)}", field=field)
            if project is None:
                raise missing
            self.access.require(conn, project, Role.VIEWER, hidden=missing)

    def _add_derived(
        self, conn: Connection, version_id: str, derived_from: Sequence[Derivation]
    ) -> None:
        for kind, object_id, relation in derived_from:
            self.lineage.add(conn, (kind, object_id), (DATASET_VERSION, version_id), relation)

    def _check_run(self, conn: Connection, run_id: str) -> None:
        """The run exists, the actor may write to it and its data is open: lineage edges
        are the run's, closed once it ends (the tracking service's rule)."""
        self.tracking.check_run_open(conn, run_id)

    def _record(
        self,
        name: str,
        project: str,
        found: Ingested,
        description: str,
        aliases: list[str],
        user: str | None,
        run_id: str | None,
        derived_from: Sequence[tuple[str, str, str]] = (),
    ) -> DatasetVersion:
        from modelyard.datasets.digest import schema_columns

        stored: _Stored | None = None
        for _ in range(_ATTEMPTS):
            with self.store.read() as conn:
                same = conn.execute(
                    select(dataset_versions.c.id)
                    .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                    .join(projects, projects.c.id == datasets.c.project_id)
                    .where(
                        projects.c.name == project,
                        datasets.c.name == name,
                        dataset_versions.c.digest == found.digest,
                    )
                ).scalar()
            if same is not None:
                return self._again(same, aliases, run_id, derived_from)
            if stored is None:
                stored = self._store_data(found)
            created = now_ms()
            version_id = new_id()
            try:
                with self.store.write() as conn:
                    if run_id is not None:
                        self._check_run(conn, run_id)  # it may have ended since it was asked
                    self._check_derived(conn, derived_from)
                    dataset_id = self._dataset_id(conn, project, name, description, created)
                    number = latest_version(conn, dataset_id) + 1
                    conn.execute(
                        dataset_versions.insert().values(
                            id=version_id,
                            dataset_id=dataset_id,
                            version=number,
                            digest=found.digest,
                            tree_digest=stored.tree_digest,
                            schema_json=json.dumps(schema_columns(found.schema)),
                            num_rows=found.rows,
                            num_columns=len(found.schema),
                            size_bytes=stored.size,
                            source=found.source,
                            description=description,
                            created_by=self.access.who(user),
                            created_at=created,
                            run_id=run_id,
                        )
                    )
                    if stored.profile is not None:
                        self.reports.insert(conn, version_id, PROFILE, stored.profile, created)
                    self._point_aliases(conn, dataset_id, aliases, version_id)
                    if run_id is not None:
                        edge = (RUN, run_id), (DATASET_VERSION, version_id)
                        self.lineage.add(conn, *edge, OUTPUT, run_id=run_id)
                    self._add_derived(conn, version_id, derived_from)
                    self.access.record(
                        conn,
                        "dataset.registered",
                        DATASET_VERSION,
                        version_id,
                        f"{project}/{name} version {number}: {found.rows} rows, "
                        f"digest {found.digest[:16]}",
                    )
                    emit(
                        conn,
                        project,
                        DATASET_VERSION_CREATED,
                        {
                            "dataset": name,
                            "version": number,
                            "version_id": version_id,
                            "digest": found.digest,
                            "rows": found.rows,
                            "created_by": self.access.who(user),
                            "run_id": run_id,
                        },
                        actor=self.access.who(user),
                    )
            except Conflict as exc:
                if exc.field == "run_id":
                    raise  # the run's lineage is closed: trying again changes nothing
                continue  # another writer took the number or registered the same data
            return self.get_by_id(version_id)
        raise Conflict(f"could not register dataset {name!r}: too many concurrent writers")

    def _again(
        self,
        version_id: str,
        aliases: list[str],
        run_id: str | None,
        derived_from: Sequence[tuple[str, str, str]] = (),
    ) -> DatasetVersion:
        """The same data registered again: the existing version, with the new aliases, the
        run and what it was derived from recorded."""
        if aliases or run_id is not None or derived_from:
            with self.store.write() as conn:
                if run_id is not None:
                    self._check_run(conn, run_id)
                self._check_derived(conn, derived_from)
                self._add_derived(conn, version_id, derived_from)
                dataset_id = conn.execute(
                    select(dataset_versions.c.dataset_id).where(dataset_versions.c.id == version_id)
                ).scalar_one()
                self._point_aliases(conn, dataset_id, aliases, version_id)
                if run_id is not None:
                    edge = (RUN, run_id), (DATASET_VERSION, version_id)
                    self.lineage.add(conn, *edge, OUTPUT, run_id=run_id)
        return self.get_by_id(version_id)

    def _store_data(self, found: Ingested) -> _Stored:
        """Blobs for the data and its profile, reusing those of an identical version."""
        with self.store.read() as conn:
            twin = conn.execute(
                select(dataset_versions.c.id, dataset_versions.c.tree_digest)
                .where(dataset_versions.c.digest == found.digest)
                .order_by(dataset_versions.c.created_at)
                .limit(1)
            ).first()
            twin_profile = (
                self.reports.first_digests(conn, twin.id, PROFILE) if twin is not None else None
            )
        if twin is not None and self.blobs.exists(twin.tree_digest):
            tree = twin.tree_digest
            size = sum(entry.size for entry in self.blobs.read_tree(tree))
        else:
            assert found.folder is not None
            info = self.blobs.put_tree(found.folder)
            tree, size = info.digest, info.size
        profile = twin_profile
        if profile is None and found.profile is not None:
            profile = self.reports.store_blobs(found.profile.to_dict(), found.profile.to_html())
        return _Stored(tree, size, profile)

    def _dataset_id(
        self, conn: Connection, project: str, name: str, description: str, created: int
    ) -> str:
        project_id = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
        if project_id is None:
            raise NotFound(f"project {project!r} does not exist", field="project")
        conn.execute(
            self.store.insert_stmt(datasets)
            .values(
                id=new_id(),
                project_id=project_id,
                name=name,
                description=description,
                created_at=created,
            )
            .on_conflict_do_nothing(index_elements=["project_id", "name"])
        )
        return str(
            conn.execute(
                select(datasets.c.id).where(
                    datasets.c.project_id == project_id, datasets.c.name == name
                )
            ).scalar_one()
        )

    def _point_aliases(
        self, conn: Connection, dataset_id: str, aliases: Iterable[str], version_id: str
    ) -> None:
        for alias in aliases:
            conn.execute(
                self.store.upsert_stmt(
                    dataset_aliases, ["dataset_id", "alias"], ["version_id", "updated_at"]
                ),
                {
                    "dataset_id": dataset_id,
                    "alias": alias,
                    "version_id": version_id,
                    "updated_at": now_ms(),
                },
            )

    # -- reading ----------------------------------------------------------------------------

    def _dataset_row(self, conn: Connection, project: str, name: str) -> Any:
        validate_name(name, "dataset")
        row = conn.execute(
            select(datasets, projects.c.name.label("project"))
            .join(projects, projects.c.id == datasets.c.project_id)
            .where(projects.c.name == project, datasets.c.name == name)
        ).first()
        if row is None:
            if conn.execute(select(projects.c.id).where(projects.c.name == project)).first():
                self.access.require(conn, project, Role.VIEWER, hidden=missing_project(project))
                raise NotFound(
                    f"dataset {name!r} does not exist in project {project!r}", field="dataset"
                )
            raise missing_project(project)
        self.access.require(conn, project, Role.VIEWER, hidden=missing_project(project))
        return row

    def get(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
    ) -> DatasetVersion:
        """One version: by number, by alias (``latest`` included), or the newest."""
        if version is not None and alias is not None:
            raise InvalidInput("give a version or an alias, not both", field="version")
        with self.store.read() as conn:
            ds = self._dataset_row(conn, project, name)
            where: Any
            if version is not None:
                where = dataset_versions.c.version == _check_version(version)
            elif alias is not None and alias != LATEST:
                validate_name(alias, "alias")
                target = conn.execute(
                    select(dataset_aliases.c.version_id).where(
                        dataset_aliases.c.dataset_id == ds.id, dataset_aliases.c.alias == alias
                    )
                ).scalar()
                if target is None:
                    known = [LATEST, *alias_names(conn, ds.id)]
                    raise NotFound(
                        f"dataset {name!r} has no alias {alias!r} (its aliases: "
                        f"{', '.join(known)})",
                        field="alias",
                    )
                where = dataset_versions.c.id == target
            else:
                where = dataset_versions.c.version == latest_version(conn, ds.id)
            row = conn.execute(
                select(dataset_versions).where(dataset_versions.c.dataset_id == ds.id, where)
            ).first()
            if row is None:
                newest = latest_version(conn, ds.id)
                raise NotFound(
                    f"dataset {name!r} has no version {version} (the newest is {newest})",
                    field="version",
                )
            return hydrate(conn, [row], project, name)[0]

    def get_by_id(self, version_id: str) -> DatasetVersion:
        """A version by its id (as lineage edges name it)."""
        with self.store.read() as conn:
            row = version_row(conn, version_id)
            missing = NotFound(f"dataset version {version_id!r} does not exist", field="version")
            if row is None:
                raise missing
            self.access.require(conn, row.project, Role.VIEWER, hidden=missing)
            return hydrate(conn, [row], row.project, row.dataset_name)[0]

    def list_versions(self, name: str, *, project: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        with self.store.read() as conn:
            ds = self._dataset_row(conn, project, name)
            rows = conn.execute(
                select(dataset_versions)
                .where(dataset_versions.c.dataset_id == ds.id)
                .order_by(dataset_versions.c.version)
            ).all()
            return hydrate(conn, rows, project, name)

    def list_datasets(self, project: str | None = None) -> list[Dataset]:
        """The datasets of a project (or of every project the actor may read), by name."""
        newest = (
            select(
                dataset_versions.c.dataset_id,
                func.max(dataset_versions.c.version).label("latest"),
                func.max(dataset_versions.c.created_at).label("updated_at"),
            )
            .group_by(dataset_versions.c.dataset_id)
            .subquery()
        )
        stmt = (
            select(datasets, projects.c.name.label("project"), newest.c.latest, newest.c.updated_at)
            .join(projects, projects.c.id == datasets.c.project_id)
            .join(newest, newest.c.dataset_id == datasets.c.id)
            .order_by(projects.c.name, datasets.c.name)
        )
        with self.store.read() as conn:
            if project is not None:
                validate_name(project, "project")
                if conn.execute(select(projects.c.id).where(projects.c.name == project)).first():
                    self.access.require(conn, project, Role.VIEWER, hidden=missing_project(project))
                else:
                    raise missing_project(project)
                stmt = stmt.where(projects.c.name == project)
            elif (readable := self.access.member_projects()) is not None:
                stmt = stmt.where(projects.c.id.in_(readable))
            rows = conn.execute(stmt).all()
        return [
            Dataset(
                id=r.id,
                project=r.project,
                name=r.name,
                description=r.description,
                created_at=r.created_at,
                latest_version=r.latest,
                updated_at=r.updated_at,
            )
            for r in rows
        ]

    def iter_batches(
        self,
        version: DatasetVersion,
        columns: Sequence[str] | None = None,
        batch_rows: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """The version's rows as record batches (of at most ``batch_rows`` rows when
        given), streamed from the blob store."""
        from modelyard.datasets._parquet import BATCH_ROWS, iter_parts

        if batch_rows is not None and (
            isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1
        ):
            raise InvalidInput(
                f"batch_rows must be a positive integer; got {batch_rows!r}", field="batch_rows"
            )
        return iter_parts(
            self.blobs, version.tree_digest, _columns(version, columns), batch_rows or BATCH_ROWS
        )

    def read_table(self, version: DatasetVersion, columns: Sequence[str] | None = None) -> pa.Table:
        """The version's rows as one Arrow table."""
        from modelyard.datasets._parquet import read_parts

        return read_parts(self.blobs, version.tree_digest, _columns(version, columns))

    def record_input(self, version: DatasetVersion, run_id: str) -> None:
        """Record that run ``run_id`` read ``version`` (lineage ``version -> run``)."""
        with self.store.write() as conn:
            self._check_run(conn, run_id)
            edge = (DATASET_VERSION, version.id), (RUN, run_id)
            self.lineage.add(conn, *edge, INPUT, run_id=run_id)

    # -- aliases ----------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int, *, project: str) -> DatasetVersion:
        """Point ``alias`` at ``version`` (moving it if it pointed elsewhere)."""
        check_alias(alias)
        target = self.get(name, project=project, version=version)
        with self.store.write() as conn:
            self.access.require(conn, project, Role.CONTRIBUTOR)
            dataset_id = conn.execute(
                select(dataset_versions.c.dataset_id).where(dataset_versions.c.id == target.id)
            ).scalar_one()
            self._point_aliases(conn, dataset_id, [alias], target.id)
            self.access.record(
                conn,
                "dataset.alias_set",
                DATASET_VERSION,
                target.id,
                f"{project}/{name}@{alias} -> version {target.version}",
            )
        return self.get_by_id(target.id)

    def delete_alias(self, name: str, alias: str, *, project: str) -> None:
        """Remove a user alias (NotFound if the dataset has no such alias)."""
        validate_name(alias, "alias")
        if alias == LATEST:
            raise InvalidInput("'latest' is computed and cannot be deleted", field="alias")
        with self.store.write() as conn:
            ds = self._dataset_row(conn, project, name)
            self.access.require(conn, project, Role.CONTRIBUTOR)
            gone = conn.execute(
                delete(dataset_aliases)
                .where(dataset_aliases.c.dataset_id == ds.id, dataset_aliases.c.alias == alias)
                .returning(dataset_aliases.c.version_id)
            ).scalar()
            if gone is None:
                known = ", ".join([LATEST, *alias_names(conn, ds.id)])
                raise NotFound(
                    f"dataset {name!r} has no alias {alias!r} (its aliases: {known}; "
                    "latest cannot be deleted)",
                    field="alias",
                )
            self.access.record(
                conn,
                "dataset.alias_deleted",
                DATASET_VERSION,
                str(gone),
                f"{project}/{name}@{alias} removed",
            )

    # -- reports ----------------------------------------------------------------------------

    def add_report(
        self,
        version: DatasetVersion,
        kind: str,
        data: dict[str, Any],
        html: str | None = None,
    ) -> DatasetReport:
        """Keep a report (its JSON, and optionally an HTML rendering) with a version."""
        check_kind(kind)
        with self.store.read() as conn:
            self.access.require(conn, version.project, Role.CONTRIBUTOR)
        digests = self.reports.store_blobs(data, html)
        with self.store.write() as conn:
            report_id = self.reports.insert(conn, version.id, kind, digests)
            self.access.record(
                conn,
                "dataset.report_added",
                DATASET_VERSION,
                version.id,
                f"{version.project}/{version.ref}: {kind}",
            )
        return next(r for r in self.reports.list(version, kind) if r.id == report_id)

    def get_reports(self, version: DatasetVersion, kind: str | None = None) -> list[DatasetReport]:
        """A version's reports, newest first (only those of ``kind`` when given)."""
        with self.store.read() as conn:
            self.access.require(conn, version.project, Role.VIEWER)
        return self.reports.list(version, kind)

    def report_html(self, report: DatasetReport) -> str | None:
        """The HTML rendering stored with a report, if any."""
        return self.reports.html(report)

    def get_profile(self, version: DatasetVersion) -> Profile | None:
        """The profile computed when the version was registered (None if it was not)."""
        from modelyard.data import Profile

        found = self.get_reports(version, PROFILE)
        return Profile.from_dict(found[-1].data) if found else None

    # -- bookkeeping ------------------------------------------------------------------------

    def referenced_digests(self) -> set[str]:
        """Every blob the dataset tables point at (trees, report JSON and HTML), for gc."""
        with self.store.read() as conn:
            found = set(conn.execute(select(dataset_versions.c.tree_digest)).scalars())
            return found | self.reports.referenced_digests(conn)

    def tree_digests(self) -> set[str]:
        """The blob trees of every version (their files are referenced too)."""
        with self.store.read() as conn:
            return set(conn.execute(select(dataset_versions.c.tree_digest)).scalars())


def _columns(version: DatasetVersion, columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = [columns]
    known = [c.name for c in version.columns]
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise InvalidInput(
            f"dataset {version.ref} has no column(s) {unknown}; its columns are {known}",
            field="columns",
        )
    return list(columns)
