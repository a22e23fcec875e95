"""Modelyard vs Prefect: pipeline overhead benchmarks, side by side in one script.

Setup (Prefect must not go into the project's own venv; this is a separate one):

    python3 -m venv benchmarks/.venv-pipelines
    benchmarks/.venv-pipelines/bin/pip install uv
    benchmarks/.venv-pipelines/bin/uv pip install --python benchmarks/.venv-pipelines/bin/python \
        -r benchmarks/requirements-pipelines.txt -e .

Run (from the repository root; 1.5-2.5 minutes on 2 cores, `--quick` ~1 minute; 15-30 s
of it Prefect's ephemeral API server starting):

    benchmarks/.venv-pipelines/bin/python benchmarks/pipelines.py [--quick] [--reps 5] \
        [--steps 20] [--skip-prefect] [--profile DIR]

Each side runs in a child process of its own (so Prefect's background threads and its
ephemeral API server are gone while Modelyard is measured), against a fresh scratch
directory: Modelyard through ``Client(home=...)`` (SQLite + local files, the embedded
default), Prefect with ``PREFECT_HOME`` there (its ephemeral API server on a SQLite file,
started by the first flow run, and its local result storage), telemetry off. Both run the
same pipeline: a chain of ``--steps`` no-op steps, each adding one to the previous
step's output (a small int).

1. Per-step overhead: the chain run uncached, wall time / steps (median of ``--reps``
   runs after one warm-up run, each chain from a new first value, so every output is
   new to the store); the 1-step chain (the pipeline's fixed cost) and the
   marginal cost of a step ((chain - 1-step) / (steps - 1)) beside it. Modelyard:
   ``chain.run(..., cache=False)`` with the default sequential executor (a tracked run
   per step, each output stored as a content-addressed artifact). Prefect: ``@task``
   and ``@flow`` as users get them (default task runner, results not persisted), and,
   as an extra row, the configuration closest to ours: ``persist_result=True``, cache
   policy ``INPUTS + TASK_SOURCE`` and ``refresh_cache=True`` (every task runs and
   writes its result and cache record). Target: ours at most 1/5 of Prefect's default.
2. Cached rerun: the chain run once to fill the cache, then rerun (median of
   ``--reps``), every step served from the cache (checked on both sides). Modelyard:
   ``chain.run(...)``; Prefect: tasks with ``persist_result=True`` and cache policy
   ``INPUTS + TASK_SOURCE``. Target: under 1 s for 20 steps.

The 1-minute load average is recorded before and after each section: other work on
the machine skews every figure. ``--profile DIR`` runs one extra, untimed uncached and
cached Modelyard run under cProfile (``DIR/uncached.prof``/``.txt``, ``DIR/cached.*``).
Progress goes to stderr; stdout gets a results table and, as its last line, one JSON
object with every figure, the ratios and whether each target was met.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import itertools
import json
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from statistics import median
from typing import Any

from _bench import loadavg, log, machine, markdown_table, scratch_dir, versions

import modelyard as my

TARGETS = {"per_step": ">= 5x", "cached_rerun": "< 1 s"}
PREFECT_VARIANTS = ("default", "persisted")


@my.step
def add_one(x: int) -> int:
    return x + 1


@my.pipeline
def chain(start: int, steps: int) -> None:
    x = add_one(start)
    for _ in range(steps - 1):
        x = add_one(x)


# -- helpers ------------------------------------------------------------------------


def _one_minute() -> float | None:
    """The 1-minute load average: other work on the machine skews every figure."""
    load = loadavg()
    return load[0] if load else None


def commit() -> dict[str, Any]:
    """Commit of the checkout this script lives in, and whether src/ had local changes."""
    root = Path(__file__).resolve().parent.parent
    out: dict[str, Any] = {}
    for key, cmd in (
        ("commit", ["git", "rev-parse", "--short", "HEAD"]),
        ("dirty_src", ["git", "status", "--porcelain", "--", "src"]),
    ):
        try:
            text = subprocess.run(
                cmd, cwd=root, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out[key] = None
            continue
        out[key] = bool(text) if key == "dirty_src" else text or None
    return out


def timed(fn: Callable[[], Any], reps: int) -> tuple[list[float], Any]:
    """Wall times of ``reps`` calls of ``fn``, and the last call's value."""
    times, value = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return times, value


def fresh_starts() -> Iterator[int]:
    """First inputs of chains whose outputs were never made before in this process."""
    return itertools.count(1_000_000, 1_000_000)


def summary(times: list[float], steps: int) -> dict[str, Any]:
    wall = median(times)
    return {"wall_s": [round(t, 4) for t in times], "median_s": round(wall, 4), "steps": steps}


@contextlib.contextmanager
def section(out: dict[str, Any], name: str) -> Iterator[dict[str, Any]]:
    """A result dict for one section, with the load average before and after it."""
    found: dict[str, Any] = {"loadavg_1m_before": _one_minute()}
    t0 = time.perf_counter()
    yield found
    found["section_s"] = round(time.perf_counter() - t0, 1)
    found["loadavg_1m_after"] = _one_minute()
    out[name] = found


# -- Modelyard side -----------------------------------------------------------------


def modelyard_side(args: argparse.Namespace, home: str) -> dict[str, Any]:
    client = my.Client(home=home)
    out: dict[str, Any] = {}
    starts = fresh_starts()
    try:

        def uncached(steps: int) -> Any:
            start = next(starts)  # new outputs: each one is stored, not found stored
            result = chain.run(start=start, steps=steps, client=client, cache=False)
            assert len(result.ran) == steps, result.ran
            return result

        def cached() -> Any:
            result = chain.run(start=1000, steps=args.steps, client=client)
            assert len(result.cached) == args.steps, result.ran
            return result

        with section(out, "per_step") as found:
            uncached(args.steps)  # warm-up: imports, the store's schema, caches
            found["chain"] = summary(timed(lambda: uncached(args.steps), args.reps)[0], args.steps)
            found["one_step"] = summary(timed(lambda: uncached(1), args.reps)[0], 1)
        with section(out, "cached") as found:
            filled = chain.run(start=1000, steps=args.steps, client=client)
            assert len(filled.ran) == args.steps
            cached()  # warm-up
            found["rerun"] = summary(timed(cached, args.reps)[0], args.steps)
        if args.profile:
            profile(args.profile, "uncached", lambda: uncached(args.steps))
            profile(args.profile, "cached", cached)
    finally:
        client.close()
    return out


def profile(directory: str, name: str, fn: Callable[[], Any]) -> None:
    os.makedirs(directory, exist_ok=True)
    prof = cProfile.Profile()
    prof.runcall(fn)
    path = os.path.join(directory, name)
    prof.dump_stats(f"{path}.prof")
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(60)
    Path(f"{path}.txt").write_text(text.getvalue())
    log(f"profile: {path}.prof")


# -- Prefect side -------------------------------------------------------------------


def prefect_side(args: argparse.Namespace, home: str) -> dict[str, Any]:
    # Prefect reads its settings when imported: the scratch home, no telemetry.
    os.environ["PREFECT_HOME"] = home
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["DO_NOT_TRACK"] = "1"
    from prefect import flow, task
    from prefect.cache_policies import INPUTS, TASK_SOURCE

    @task
    def add_one_default(x: int) -> int:
        return x + 1

    # The configuration closest to ours: every result stored, with a cache record.
    @task(persist_result=True, cache_policy=INPUTS + TASK_SOURCE, refresh_cache=True)
    def add_one_persisted(x: int) -> int:
        return x + 1

    @task(persist_result=True, cache_policy=INPUTS + TASK_SOURCE)
    def add_one_cached(x: int) -> int:
        return x + 1

    @flow
    def chain_default(start: int, steps: int) -> int:
        x = start
        for _ in range(steps):
            x = add_one_default(x)
        return x

    @flow
    def chain_persisted(start: int, steps: int) -> int:
        x = start
        for _ in range(steps):
            x = add_one_persisted(x)
        return x

    @flow
    def chain_cached(start: int, steps: int) -> list[str]:
        x, names = start, []
        for _ in range(steps):
            state = add_one_cached(x, return_state=True)
            x = state.result()
            names.append(state.name)
        return names

    flows = {"default": chain_default, "persisted": chain_persisted}
    out: dict[str, Any] = {}
    starts = fresh_starts()
    log("prefect: first flow run (starts the ephemeral API server)")
    t0 = time.perf_counter()
    chain_default(start=0, steps=1)
    out["first_flow_run_s"] = round(time.perf_counter() - t0, 2)
    for variant in PREFECT_VARIANTS:
        fn = flows[variant]
        with section(out, f"per_step_{variant}") as found:
            start = next(starts)
            assert fn(start=start, steps=args.steps) == start + args.steps  # warm-up

            def run(steps: int, fn: Any = fn) -> Any:
                return fn(start=next(starts), steps=steps)

            found["chain"] = summary(timed(lambda: run(args.steps), args.reps)[0], args.steps)
            found["one_step"] = summary(timed(lambda: run(1), args.reps)[0], 1)
    with section(out, "cached") as found:
        states = chain_cached(start=1000, steps=args.steps)
        assert "Cached" not in states, states

        def rerun() -> list[str]:
            names = chain_cached(start=1000, steps=args.steps)
            assert names == ["Cached"] * args.steps, names
            return names

        rerun()  # warm-up
        found["rerun"] = summary(timed(rerun, args.reps)[0], args.steps)
    return out


# -- the two sides, each in a child process -----------------------------------------


def run_side(side: str, args: argparse.Namespace, root: str) -> dict[str, Any]:
    """Run one side in a child process against ``root/side``; its JSON line back."""
    home = os.path.join(root, side)
    os.makedirs(home)
    cmd = [sys.executable, os.path.abspath(__file__), "--side", side, "--home", home]
    cmd += ["--steps", str(args.steps), "--reps", str(args.reps)]
    if args.profile and side == "modelyard":
        cmd += ["--profile", args.profile]
    log(f"== {side} (log: {home}.log)")
    env = {**os.environ, "TMPDIR": home}  # temp files of the side on the scratch disk
    with open(f"{home}.log", "w") as errors:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
    if done.returncode != 0:
        tail = Path(f"{home}.log").read_text()[-4000:]
        raise SystemExit(f"{side} side failed (exit {done.returncode}):\n{tail}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def per_step_ms(found: dict[str, Any]) -> dict[str, float]:
    chain_s, one_s = found["chain"]["median_s"], found["one_step"]["median_s"]
    steps = found["chain"]["steps"]
    return {
        "per_step_ms": round(chain_s / steps * 1e3, 2),
        "one_step_ms": round(one_s * 1e3, 2),
        "marginal_ms": round((chain_s - one_s) / max(steps - 1, 1) * 1e3, 2),
    }


def compare(result: dict[str, Any]) -> dict[str, Any]:
    mine = result["modelyard"]
    peer = result.get("prefect")
    out: dict[str, Any] = {"modelyard": per_step_ms(mine["per_step"])}
    cached_s = mine["cached"]["rerun"]["median_s"]
    out["cached_rerun_s"] = {"modelyard": cached_s, "target_met": cached_s < 1.0}
    if peer is None:
        return out
    ours = out["modelyard"]["per_step_ms"]
    for variant in PREFECT_VARIANTS:
        theirs = per_step_ms(peer[f"per_step_{variant}"])
        out[f"prefect_{variant}"] = theirs
        out[f"per_step_ratio_{variant}"] = round(theirs["per_step_ms"] / ours, 2)
    out["per_step_target_met"] = out["per_step_ratio_default"] >= 5
    peer_cached = peer["cached"]["rerun"]["median_s"]
    out["cached_rerun_s"]["prefect"] = peer_cached
    out["cached_rerun_s"]["ratio"] = round(peer_cached / cached_s, 2)
    return out


def table(cmp: dict[str, Any], steps: int) -> str:
    rows: list[tuple[str, ...]] = []
    mine = cmp["modelyard"]
    default, persisted = cmp.get("prefect_default", {}), cmp.get("prefect_persisted", {})

    def cell(x: Any, unit: str = "") -> str:
        return "-" if x is None else f"{x:,.2f}{unit}" if isinstance(x, float) else str(x)

    def met(x: bool | None) -> str:
        return "" if x is None else "yes" if x else "NO"

    rows.append(
        (
            f"per-step overhead, {steps}-step chain, uncached (ms/step)",
            cell(mine["per_step_ms"]),
            cell(default.get("per_step_ms")),
            cell(cmp.get("per_step_ratio_default"), "x"),
            TARGETS["per_step"],
            met(cmp.get("per_step_target_met")),
        )
    )
    rows.append(
        (
            "  same, Prefect with persisted results + cache records",
            cell(mine["per_step_ms"]),
            cell(persisted.get("per_step_ms")),
            cell(cmp.get("per_step_ratio_persisted"), "x"),
            "",
            "",
        )
    )
    for key, label in (("one_step_ms", "1-step pipeline (ms)"), ("marginal_ms", "marginal step")):
        rows.append(
            (
                f"  {label}" + (" (ms)" if key == "marginal_ms" else ""),
                cell(mine[key]),
                f"{cell(default.get(key))} / {cell(persisted.get(key))}",
                "",
                "",
                "",
            )
        )
    cached = cmp["cached_rerun_s"]
    rows.append(
        (
            f"cached rerun, {steps} steps (s)",
            cell(cached["modelyard"]),
            cell(cached.get("prefect")),
            cell(cached.get("ratio"), "x"),
            TARGETS["cached_rerun"],
            met(cached["target_met"]),
        )
    )
    head = ("measurement", "Modelyard", "Prefect", "ratio", "target", "met")
    return markdown_table(head, rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 steps, 1 rep (smoke run)")
    ap.add_argument("--steps", type=int, default=None, help="steps in the chain (20)")
    ap.add_argument("--reps", type=int, default=None, help="timed runs per measurement (5)")
    ap.add_argument("--skip-prefect", action="store_true", help="the Modelyard side alone")
    ap.add_argument("--profile", metavar="DIR", help="cProfile one extra Modelyard run")
    ap.add_argument("--json-out", metavar="FILE", help="also write the JSON here")
    ap.add_argument("--side", choices=("modelyard", "prefect"), help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.steps = args.steps or (5 if args.quick else 20)
    args.reps = args.reps or (1 if args.quick else 5)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.side is not None:  # a child: one side, its JSON on stdout
        sides = {"modelyard": modelyard_side, "prefect": prefect_side}
        print(json.dumps(sides[args.side](args, args.home)))
        return 0
    result: dict[str, Any] = {
        "bench": "modelyard_vs_prefect_pipelines",
        "versions": versions("modelyard", "prefect", "SQLAlchemy", "pydantic"),
        "machine": machine(),
        "checkout": commit(),
        "config": {"steps": args.steps, "reps": args.reps, "quick": args.quick},
        "targets": TARGETS,
    }
    log(f"versions: {result['versions']}")
    with scratch_dir("modelyard-bench-pipelines-") as root:
        for side in ("modelyard", *(() if args.skip_prefect else ("prefect",))):
            t0 = time.perf_counter()
            result[side] = run_side(side, args, root)
            log(f"{side}: {time.perf_counter() - t0:.1f} s")
    result["comparison"] = compare(result)
    print(table(result["comparison"], args.steps))
    line = json.dumps(result)
    if args.json_out:
        Path(args.json_out).write_text(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
