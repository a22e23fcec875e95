"""Helpers shared by the benchmark scripts: progress lines, rounding, the versions and
machine a run measured, the load average, and a scratch directory.

The scripts run as ``python benchmarks/NAME.py``, so this folder is on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from statistics import median
from typing import Any

__all__ = ["loadavg", "log", "machine", "markdown_table", "med", "rnd", "scratch_dir", "versions"]


def log(*args: Any) -> None:
    """A progress line on stderr (stdout is the results table and the JSON line)."""
    print(*args, file=sys.stderr, flush=True)


def med(xs: list[float]) -> float:
    return median(xs) if xs else float("nan")


def rnd(x: Any, nd: int = 2) -> Any:
    """``x`` rounded when it is a number, else as it is."""
    try:
        return round(float(x), nd)
    except (TypeError, ValueError):
        return x


def versions(*dists: str) -> dict[str, Any]:
    """Python's and SQLite's versions, and each distribution's (None when missing)."""
    out: dict[str, Any] = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for d in dists:
        try:
            out[d] = metadata.version(d)
        except metadata.PackageNotFoundError:
            out[d] = None
    return out


def machine() -> dict[str, Any]:
    """Cores, memory, processor and platform of this machine."""
    mem_gib = cpu = None
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "mem_gib": mem_gib,
        "cpu_model": cpu,
        "platform": platform.platform(),
    }


def loadavg() -> list[float] | None:
    """1/5/15-minute load averages: other work on the machine skews every figure."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[str]:
    """A temporary directory (under $BENCH_TMPDIR or the system temp dir), also the
    process's temp dir while open, removed afterwards unless BENCH_KEEP_TMP=1."""
    d = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("BENCH_TMPDIR") or None)
    tmp = os.path.join(d, "tmp")
    os.makedirs(tmp)
    saved_env, saved_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = tmp
    tempfile.tempdir = tmp
    try:
        yield d
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        if os.environ.get("BENCH_KEEP_TMP") == "1":
            log(f"kept scratch dir {d}")
        else:
            shutil.rmtree(d, ignore_errors=True)


def markdown_table(head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    """``rows`` under ``head`` as a Markdown table, each column padded to its widest cell."""
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]

    def line(cells: tuple[Any, ...]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|-" + "-|-".join("-" * w for w in widths) + "-|"
    return "\n".join([line(head), sep, *(line(r) for r in rows)])
