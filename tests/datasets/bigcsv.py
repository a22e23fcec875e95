"""Write a large synthetic CSV quickly (for the memory test and by hand for the 5 GB case).

python tests/datasets/bigcsv.py OUT.csv SIZE_MB
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

ROWS_PER_BATCH = 200_000
_WORDS = np.array(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"])


def _batch(rng: np.random.Generator, start: int, rows: int) -> pa.RecordBatch:
    ids = np.arange(start, start + rows, dtype=np.int64)
    return pa.record_batch(
        {
            "id": ids,
            "when": pa.array(ids * 60_000 + 1_700_000_000_000, pa.timestamp("ms")),
            "city": pa.array(rng.choice(_WORDS, rows)),
            "temp": np.round(rng.normal(15, 8, rows), 3),
            "humidity": np.round(rng.random(rows), 4),
            "count": rng.poisson(40, rows),
            "note": pa.array(np.char.add("n", (ids % 100_003).astype(str))),
        }
    )


def write_csv(path: Path, size_bytes: int, seed: int = 0) -> int:
    """Write about ``size_bytes`` of CSV to ``path``; returns the number of rows."""
    rng = np.random.default_rng(seed)
    rows = 0
    with pcsv.CSVWriter(str(path), _batch(rng, 0, 1).schema) as writer:
        while path.stat().st_size < size_bytes:
            writer.write_batch(_batch(rng, rows, ROWS_PER_BATCH))
            rows += ROWS_PER_BATCH
    return rows


if __name__ == "__main__":
    out = Path(sys.argv[1])
    print(write_csv(out, int(float(sys.argv[2]) * 1024 * 1024)), "rows")
