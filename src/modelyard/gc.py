"""Garbage collection of blobs: remove what no metadata refers to any more."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelyard.artifacts import BlobStore
    from modelyard.tracking.service import TrackingService

__all__ = ["collect_garbage"]


def collect_garbage(
    tracking: TrackingService, blobs: BlobStore, *, dry_run: bool = False
) -> list[str]:
    """Delete (or, with ``dry_run``, list) blobs that no artifact and no tree refers to."""
    referenced = tracking.referenced_digests()
    for tree in tracking.tree_digests():
        referenced.update(entry.digest for entry in blobs.read_tree(tree))
    garbage = sorted(d for d in blobs.iter_digests() if d not in referenced)
    if not dry_run:
        for digest in garbage:
            blobs.delete(digest)
    return garbage
