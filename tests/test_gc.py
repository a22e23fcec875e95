"""Garbage collection asks every service whose tables point at blobs, and only those
columns marked as pointing at blobs are blob references."""

from __future__ import annotations

import pytest

from modelyard import Client, InvalidInput, ModelyardError
from modelyard._util import now_ms
from modelyard.artifacts._trees import TreeEntry, encode_manifest
from modelyard.gc import blob_columns, collect_garbage
from modelyard.store.tables import BLOB_DIGEST, artifacts, metadata

# Columns whose names say digest or hash but that point at no blob, and why.
NOT_BLOBS = {
    "audit_events.digest": "the hash chain of the audit log",
    "audit_events.prev_digest": "the hash chain of the audit log",
    "dataset_versions.digest": "a digest of the version's values, not of a stored blob",
    "access_tokens.secret_hash": "a digest of a token secret",
    "sessions.secret_hash": "a digest of a session secret",
    "sessions.csrf_hash": "a digest of a CSRF token",
    "recovery_codes.code_hash": "a digest of a recovery code",
    "users.password_hash": "an argon2id password hash",
}


def _columns() -> dict[str, bool]:
    """Every column of the metadata tables, as ``table.column``: is it marked a blob?"""
    return {
        f"{table.name}.{column.name}": bool(column.info.get(BLOB_DIGEST))
        for table in metadata.sorted_tables
        for column in table.columns
    }


def test_each_column_named_like_a_digest_is_marked_a_blob_or_explained() -> None:
    columns = _columns()
    named = {n for n in columns if any(w in n.split(".")[1] for w in ("digest", "hash"))}
    marked = {n for n, blob in columns.items() if blob}
    assert named - marked == set(NOT_BLOBS)
    assert not marked & set(NOT_BLOBS)
    assert sorted(marked) == sorted(blob_columns())
    assert "step_runs.outputs" in marked  # JSON holding digests, marked by hand


@pytest.mark.local_only("garbage collection runs where the stores are")
def test_what_gc_asks_answers_for_every_blob_column(client: Client) -> None:
    answered = [
        f"{c.table.name}.{c.name}"
        for holder in client.services.blob_references()
        for c in holder.blob_columns
    ]
    assert sorted(answered) == sorted(n for n, blob in _columns().items() if blob)


@pytest.mark.local_only("garbage collection runs where the stores are")
def test_gc_with_a_blob_column_unanswered_for_deletes_nothing(client: Client) -> None:
    stray = client.blobs.put_bytes(b"nobody points here").digest
    tracking_only = [client.services.tracking]
    with pytest.raises(ModelyardError, match="no service answers for the blobs of") as exc:
        collect_garbage(tracking_only, client.blobs, min_age_s=0)
    for name in (
        "dataset_versions.tree_digest",
        "dataset_reports.html_digest",
        "step_runs.outputs",
    ):
        assert name in str(exc.value)
    assert client.blobs.exists(stray)
    assert client.gc(min_age_s=0) == [stray]


@pytest.mark.local_only("garbage collection runs where the stores are")
def test_gc_keeps_the_files_of_a_tree_stored_before_its_names_were_refused(
    client: Client,
) -> None:
    files = {"aux/x.py": b"print(1)\n", "report\u202e.txt": b"ok", "fine.txt": b"fine"}
    entries = [
        TreeEntry(path, client.blobs.put_bytes(data).digest, len(data))
        for path, data in files.items()
    ]
    manifest = client.blobs.put_bytes(encode_manifest(entries)).digest
    with pytest.raises(InvalidInput, match="reserved device name"):
        client.blobs.read_tree(manifest)  # today's name rules refuse it
    with client.start_run("default") as run:
        pass
    with client.store.write() as conn:  # recorded when the names were still allowed
        conn.execute(
            artifacts.insert().values(
                run_id=run.id,
                path="legacy",
                digest=manifest,
                kind="tree",
                size=sum(len(d) for d in files.values()),
                created_at=now_ms(),
            )
        )
    stray = client.blobs.put_bytes(b"nobody points here").digest
    assert client.gc(min_age_s=0) == [stray]
    assert all(client.blobs.exists(e.digest) for e in entries)
    assert client.blobs.exists(manifest)


def test_a_tree_member_digest_is_still_checked(client: Client) -> None:
    bad = encode_manifest([TreeEntry("a.txt", "not a digest", 1)])
    with pytest.raises(InvalidInput, match="has an invalid digest"):
        client.blobs.tree_member_digests(client.blobs.put_bytes(bad).digest)
