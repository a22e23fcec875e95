"""Garbage collection of blobs: remove what no metadata refers to any more."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from modelyard.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from modelyard.artifacts import BlobStore
    from modelyard.tracking.service import TrackingService

__all__ = ["collect_garbage"]


DEFAULT_MIN_AGE_S = 3600.0


def collect_garbage(
    tracking: TrackingService,
    blobs: BlobStore,
    *,
    dry_run: bool = False,
    min_age_s: float = DEFAULT_MIN_AGE_S,
) -> list[str]:
    """Delete (or, with ``dry_run``, list) blobs that no artifact and no tree refers to.

    Blobs stored or re-logged less than ``min_age_s`` ago are kept: a run may have
    written one and not yet recorded the artifact that points at it.
    """
    if min_age_s < 0:
        raise InvalidInput("min_age_s must be >= 0", field="min_age_s")
    cutoff = time.time() - min_age_s
    referenced = tracking.referenced_digests()
    for tree in tracking.tree_digests():
        referenced.update(entry.digest for entry in blobs.read_tree(tree))
    garbage = sorted(
        d for d in blobs.iter_digests() if d not in referenced and blobs.modified_at(d) <= cutoff
    )
    if not dry_run:
        for digest in garbage:
            with contextlib.suppress(NotFound):  # another gc got there first
                blobs.delete(digest)
    return garbage
