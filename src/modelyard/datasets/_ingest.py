"""One streaming pass over an input: digest, profile, expectations and (optionally)
Parquet parts.

Each canonical record batch is hashed, written to the part writer, handed to
``modelyard.data.profile`` and, when expectations are given, to a
:class:`~modelyard.data.validation.Validator` as it goes by, so the input is read once and
memory stays bounded by a batch plus a row group. Consecutive small batches (a folder of
small files) are combined first, since every step has a fixed cost per batch; the digest
does not depend on how rows are batched. A CSV whose column types have to widen part-way
(see ``_sources.WidenColumn``) is read again from the start with the wider types (and
validated again).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.datasets._parquet import PartWriter
from modelyard.datasets._sources import WidenColumn, open_input
from modelyard.datasets.digest import ContentHasher
from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.data import Profile
    from modelyard.data.validation import Validator

__all__ = ["Ingested", "ingest"]

_MAX_WIDENINGS = 256

Progress = Callable[[int, int | None], None]


@dataclass
class Ingested:
    """What one pass found; ``folder`` holds the Parquet parts when they were written
    (the caller removes it)."""

    schema: pa.Schema
    digest: str
    rows: int
    source: str
    profile: Profile | None
    folder: Path | None


def ingest(
    data: object,
    *,
    encoding: str | None = None,
    progress: Progress | None = None,
    with_profile: bool = True,
    write: bool = False,
    staging: Path | None = None,
    validator: Validator | None = None,
) -> Ingested:
    """Read ``data`` once; with ``write``, also as Parquet parts in a new folder under
    ``staging`` (the system temp folder when None); with ``validator``, its report is of
    the pass (ask it for the report afterwards)."""
    csv_types: dict[str, Any] = {}
    for _ in range(_MAX_WIDENINGS):
        folder = Path(tempfile.mkdtemp(prefix="modelyard-dataset-", dir=staging)) if write else None
        try:
            return _once(data, encoding, csv_types, progress, with_profile, folder, validator)
        except WidenColumn as widen:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            if csv_types.get(widen.column) == widen.type:
                break
            csv_types[widen.column] = widen.type
        except BaseException:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            raise
    raise InvalidInput("the CSV column types did not settle; convert the file to Parquet first")


def _once(
    data: object,
    encoding: str | None,
    csv_types: dict[str, Any],
    progress: Progress | None,
    with_profile: bool,
    folder: Path | None,
    validator: Validator | None,
) -> Ingested:
    from modelyard.data._arrow import coalesce

    source = open_input(data, encoding=encoding, csv_types=csv_types, progress=progress)
    writer = PartWriter(source.schema, folder) if folder is not None else None
    hasher = ContentHasher(source.schema)
    if validator is not None:
        validator.begin(source.schema)

    def tap() -> Iterator[pa.RecordBatch]:
        for batch in coalesce(source.batches):
            hasher.update(batch)
            if writer is not None:
                writer.write(batch)
            if validator is not None:
                validator.feed(batch)
            yield batch

    try:
        stream = tap()
        first = next(stream, None)
        if first is None:
            raise InvalidInput(f"{source.source} is empty: it has no rows", field="data")
        found: Profile | None = None
        if with_profile:
            from modelyard.data import profile

            found = profile(chain([first], stream))
        else:
            for _ in stream:
                pass
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return Ingested(
        schema=source.schema,
        digest=hasher.hexdigest(),
        rows=hasher.rows,
        source=source.source,
        profile=found,
        folder=folder,
    )
