"""The artifact store: content-addressed blobs and trees over a byte-level backend.

>>> store = open_blob_store(settings)           # doctest: +SKIP
>>> info = store.put_file("model.pkl")          # doctest: +SKIP
>>> store.get_file(info.digest, "copy.pkl")     # doctest: +SKIP
"""

from modelyard.artifacts._paths import normalize_artifact_path, safe_join
from modelyard.artifacts._trees import TreeEntry
from modelyard.artifacts.backends import Backend, LocalBackend, S3Backend
from modelyard.artifacts.blobs import BlobInfo, BlobReader, BlobStore, open_blob_store

__all__ = [
    "Backend",
    "BlobInfo",
    "BlobReader",
    "BlobStore",
    "LocalBackend",
    "S3Backend",
    "TreeEntry",
    "normalize_artifact_path",
    "open_blob_store",
    "safe_join",
]
