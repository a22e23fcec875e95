"""Garbage collection of blobs: remove what no metadata refers to any more.

Every service whose tables point at blobs is a :class:`BlobReferences`: it names the
columns it answers for (those marked ``BLOB_DIGEST`` in ``store/tables.py``) and says
which blobs they point at. :func:`collect_garbage` asks each of them and refuses to run if
a marked column is left unanswered for, so a table added without its service joining
cannot have its blobs deleted.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from modelyard.errors import InvalidInput, ModelyardError, NotFound
from modelyard.store.tables import BLOB_DIGEST, metadata

if TYPE_CHECKING:
    from sqlalchemy import Column

    from modelyard.artifacts import BlobStore

__all__ = ["BlobReferences", "blob_columns", "collect_garbage"]


DEFAULT_MIN_AGE_S = 3600.0


class BlobReferences(Protocol):
    """A service whose tables point at blobs: what garbage collection asks."""

    #: The ``BLOB_DIGEST`` columns whose blobs :meth:`referenced_digests` reports.
    blob_columns: ClassVar[tuple[Column[Any], ...]]

    def referenced_digests(self) -> set[str]:
        """Every blob those columns point at."""
        ...

    def tree_digests(self) -> set[str]:
        """Those of them that are tree manifests (the blobs they list are kept too)."""
        ...


def blob_columns() -> list[str]:
    """Every column of the metadata tables marked as pointing at blobs, as ``table.column``."""
    return [
        _name(column)
        for table in metadata.sorted_tables
        for column in table.columns
        if column.info.get(BLOB_DIGEST)
    ]


def collect_garbage(
    holders: Sequence[BlobReferences],
    blobs: BlobStore,
    *,
    dry_run: bool = False,
    min_age_s: float = DEFAULT_MIN_AGE_S,
) -> list[str]:
    """Delete (or, with ``dry_run``, list) blobs that none of ``holders`` refers to,
    directly or as a member of a tree.

    Blobs stored or re-logged less than ``min_age_s`` ago are kept: a run may have
    written one and not yet recorded the artifact that points at it.
    """
    if min_age_s < 0:
        raise InvalidInput("min_age_s must be >= 0", field="min_age_s")
    answered = {_name(column) for holder in holders for column in holder.blob_columns}
    unanswered = [name for name in blob_columns() if name not in answered]
    if unanswered:
        raise ModelyardError(
            "garbage collection did not run: no service answers for the blobs of "
            + ", ".join(unanswered)
        )
    cutoff = time.time() - min_age_s
    referenced: set[str] = set()
    for holder in holders:
        referenced |= holder.referenced_digests()
        for tree in holder.tree_digests():
            referenced.update(blobs.tree_member_digests(tree))
    garbage = sorted(
        d for d in blobs.iter_digests() if d not in referenced and blobs.modified_at(d) <= cutoff
    )
    if not dry_run:
        for digest in garbage:
            with contextlib.suppress(NotFound):  # another gc got there first
                blobs.delete(digest)
    return garbage


def _name(column: Column[Any]) -> str:
    return f"{column.table.name}.{column.name}"
