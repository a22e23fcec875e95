"""``benchmarks/monitoring.py --quick`` keeps working: the monitoring benchmark's quick
mode on tiny data (no peers, no 10M-row run) summarizes every hour, judges every day with
the registered checks, finds the drift it generates in the last third of the days, and
runs the monitor service's pass over the same log (a second pass with nothing new reads
and writes nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_quick_run_judges_every_day_and_sees_the_drift(tmp_path: Path) -> None:
    out = tmp_path / "monitoring.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/monitoring.py", "--quick", "--json-out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "BENCH_TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    engine = results["engine"]
    assert "error" not in engine, engine
    assert results["data"]["rows"] == 24_000 and results["data"]["days"] == 3
    assert engine["hours"] == 72
    assert engine["new_hour_rows"] > 0
    assert engine["peak_rss_mb"] > 0 and engine["seconds"]["pass"] > 0
    days = [found for _, found in sorted(engine["windows"].items())]
    assert len(days) == 3
    for found in days:
        assert set(found) == set(engine["kinds"])
    if "drift" in engine["kinds"]:  # f0-f4 shift on the last day, nothing else moves
        drifted = [found["drift"]["flagged"] for found in days]
        assert drifted == [[], [], ["f0", "f1", "f2", "f3", "f4"]]
    if "performance" in engine["kinds"]:  # and the relation to the target changes
        breached = [found["performance"]["breached"] for found in days]
        assert breached == [False, False, True]
    store = results["store"]
    if "error" not in store:  # the pass through the store: every segment read once
        assert results["store_setup"]["segments"] == 72 and store["full"]["segments"] == 72
        assert store["full"]["rows"] == 24_000 and not store["full"]["errors"]
        assert store["incremental"]["segments"] == 1 and store["incremental"]["rows"] > 0
        assert store["nothing_new"]["segments"] == 0 and store["nothing_new"]["values"] == 0
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["ok"] is True
