"""Modelyard vs MLflow: experiment-tracking benchmarks, side by side in one script.

Setup (MLflow must not go into the project's own venv; this is a separate one):

    python3 -m venv benchmarks/.venv
    benchmarks/.venv/bin/pip install uv
    benchmarks/.venv/bin/uv pip install --python benchmarks/.venv/bin/python \
        -r benchmarks/requirements.txt -e '.[server]'

Run (from the repository root; all sections ~6-9 minutes on 2 cores, `--quick` ~2-4,
much of the remote part waiting for `mlflow server` to start):

    benchmarks/.venv/bin/python benchmarks/tracking.py [--quick] [--reps 3] \
        [--only local|remote] [--sections log_metric,...,remote_batch] [--profile DIR]

Sections 1-5 (``--only local``) use the embedded SDK: both sides write a local SQLite
file in a fresh scratch directory of their own (``$BENCH_TMPDIR`` or the system temp
dir; ``BENCH_KEEP_TMP=1`` keeps it). Sections 6-8 (``--only remote``) go through each
tool's tracking server on 127.0.0.1 (``modelyard server --no-auth`` and ``mlflow
server``, each over a SQLite file of its own, started in their own process groups and
stopped by PID). Each timed measurement is repeated ``--reps`` times and the median
reported; populating data is timed separately and never counted.

1. log_metric, one call at a time, until every point is stored (Modelyard: the
   loop plus ``run.flush()``; MLflow: ``MlflowClient.log_metric`` per call, on
   fewer points, ``--mlflow-points``); compared as points/s. Target >= 1000x.
2. batched logging of ``--batch-points`` points (Modelyard: ``run.log_metrics``
   per step + ``flush()``; MLflow: ``log_batch`` in chunks of 1,000). Target >= 30x.
3. search_runs over ``--runs`` runs (same runs, params, metrics, tags on both
   sides): ``metrics.auc > 0.5`` ordered by ``metrics.auc DESC``, top 100
   (the target query), plus a first page of 1,000 without ordering and the top 100
   as a pandas DataFrame. MLflow's store is filled through its API for the first
   ``--mlflow-api-runs`` runs and by copying that run's rows in SQL for the rest
   (its API manages ~20-70 runs/s here). Target >= 20x.
4. get_metric_history of a ``--hist-points``-point metric vs a raw stdlib sqlite3
   read of the same rows from the same DB file (the SQL follows the metrics schema
   of the Modelyard under test); MLflow's get_metric_history for reference.
   Target: Modelyard within 2x of raw SQLite.
5. start_run latency (``capture=True``, the default users get, and
   ``capture=False``), each run ended after; median and p95 of ``--start-runs``
   calls. Target < 50 ms. ``mlflow.start_run`` for reference.

Sections 1-4 start Modelyard runs with ``capture=False`` so that the background
capture thread and system sampler do not compete with the timed loop on 2 cores.

6. server start-up (process start to the first 200 from ``/api/v1/health`` resp.
   MLflow's ``/health``) on a brand-new store, then ``--startup-reps - 1`` restarts
   on the existing store; idle memory (RSS and PSS summed over the server's process
   group once its processes stopped using CPU). Reported, no target.
7. remote log_metric one call at a time (Modelyard: ``run.log_metric`` per point of
   ``--remote-points`` through ``modelyard.connect(url)``, timed until ``flush()``
   returned, i.e. the server answered that every point is stored; then the count is
   read back through the API and checked, and the rate with the read-back counted is
   reported too; MLflow: ``MlflowClient.log_metric`` per call against its server,
   ``--mlflow-remote-points``). Target >= 1000x.
8. remote batched logging (Modelyard: ``run.log_metrics`` per step +
   ``flush()`` of ``--remote-batch-points``; MLflow: ``log_batch`` of 1,000 metrics
   per call, ``--mlflow-remote-batch-points``), every point read back and counted
   (not timed). Target >= 20x.

``--profile DIR`` writes cProfile output of one extra, untimed Modelyard call per
section; with the remote sections also a breakdown of one batch request into its
steps (in the JSON as ``remote_breakdown``) and a profile of a server run under
cProfile in all its threads (``DIR/remote_server.prof`` and ``.txt``, with the time
the server spent in the cyclic garbage collector).

Progress goes to stderr; stdout gets a results table and, as its last line, one
JSON object with every figure, the ratios and whether each target was met.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import os
import pstats
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from _bench import loadavg, log, machine, markdown_table, med, rnd, scratch_dir, versions

# Keep stdout for the table and the JSON line: anything the libraries under test
# print (MLflow's "View run ..." notices) goes to stderr.
_REAL_STDOUT = sys.stdout
sys.stdout = sys.stderr

LOCAL_SECTIONS = ("log_metric", "batch", "search", "history", "start_run")
REMOTE_SECTIONS = ("remote_startup", "remote_log_metric", "remote_batch")
SECTIONS = LOCAL_SECTIONS + REMOTE_SECTIONS
TARGETS = {
    "log_metric": ">= 1000x MLflow points/s",
    "batch": ">= 30x MLflow points/s",
    "search": ">= 20x faster than MLflow",
    "history": "<= 2x raw sqlite3",
    "start_run": "p50 and p95 < 50 ms",
    "remote_startup": "(info)",
    "remote_log_metric": ">= 1000x MLflow server points/s",
    "remote_batch": ">= 20x MLflow server points/s",
}
FILTER = "metrics.auc > 0.5"
ORDER_BY = ["metrics.auc DESC"]
TOP = 100
MLFLOW_CHUNK = 1000  # MLflow's own limit for metrics per log_batch request

# -- small helpers (adapted from the peer harness in shared/bench/_common.py) ----------


def now() -> float:
    return time.perf_counter()


def mlflow_batch_once(
    client: Any, experiment_id: str, names: list[str], steps: int, verify: bool = False
) -> float:
    """MLflow's side of batched logging: ``steps`` x ``len(names)`` metrics into a new run
    through ``log_batch`` in chunks of MLFLOW_CHUNK; the seconds the calls took. With
    ``verify``, every point is read back (outside the clock)."""
    from mlflow.entities import Metric

    run_id = client.create_run(experiment_id).info.run_id
    ts = int(time.time() * 1000)
    metrics = [
        Metric(n, st * 0.001 + k, ts, st) for st in range(steps) for k, n in enumerate(names)
    ]
    gc.collect()
    t0 = now()
    for i in range(0, len(metrics), MLFLOW_CHUNK):
        client.log_batch(run_id, metrics=metrics[i : i + MLFLOW_CHUNK])
    wall = now() - t0
    if verify:
        assert sum(len(client.get_metric_history(run_id, n)) for n in names) == len(metrics)
    client.set_terminated(run_id)
    return wall


def pct(values: list[float], p: float) -> float:
    """Percentile with linear interpolation (numpy's default method)."""
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def checkout_state() -> dict[str, Any]:
    """Commit and dirty flag of the checkout this script lives in (others edit src/ too)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out: dict[str, Any] = {}
    for key, cmd in (
        ("commit", ["git", "rev-parse", "--short", "HEAD"]),
        ("dirty_src", ["git", "status", "--porcelain", "--", "src"]),
    ):
        try:
            done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=10)
            text = done.stdout.strip()
            out[key] = bool(text) if key == "dirty_src" else text or None
        except (OSError, subprocess.SubprocessError):
            out[key] = None
    return out


def lat_summary(seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1e3 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": rnd(pct(ms, 50), 3),
        "p95_ms": rnd(pct(ms, 95), 3),
        "max_ms": rnd(max(ms), 3) if ms else None,
    }


class Profiler:
    """cProfile around one Modelyard call per section when --profile DIR is given."""

    def __init__(self, directory: str | None) -> None:
        self.dir = directory
        if directory:
            os.makedirs(directory, exist_ok=True)

    def run(self, name: str, fn: Callable[[], Any]) -> None:
        if not self.dir:
            return
        gc.collect()
        prof = cProfile.Profile()
        prof.enable()
        try:
            fn()
        finally:
            prof.disable()
        path = os.path.join(self.dir, f"{name}.prof")
        prof.dump_stats(path)
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf).strip_dirs()
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(25)
        with open(os.path.join(self.dir, f"{name}.txt"), "w") as f:
            f.write(buf.getvalue())
        log(f"  profile of {name} written to {path} (+ .txt)")


def metrics_layout(con: sqlite3.Connection) -> str:
    """``run_key`` (metrics rows carry run_id and key) or ``series`` (they carry the
    integer id of their latest_metrics row): the raw-SQLite references follow the schema
    of the Modelyard version under test."""
    cols = {c[1] for c in con.execute("PRAGMA table_info(metrics)")}
    return "series" if "series_id" in cols else "run_key"


# -- the two sides ----------------------------------------------------------------------


class Sides:
    """A Modelyard client and an MLflow client, each on its own fresh SQLite file."""

    def __init__(self, root: str, with_mlflow: bool = True) -> None:
        from modelyard import Client, load_settings

        self.my_home = os.path.join(root, "modelyard")
        self.my_db = os.path.join(self.my_home, "modelyard.db")
        self.my_settings = load_settings(
            home=self.my_home, store={"url": f"sqlite:///{self.my_db}"}
        )
        t0 = now()
        self.my = Client(self.my_settings)
        self.my.create_project("bench")
        self.my_init_s = now() - t0
        log(f"modelyard store ready in {self.my_init_s:.2f}s: {self.my_db}")

        self.ml_dir = os.path.join(root, "mlflow")
        os.makedirs(self.ml_dir)
        self.ml_db = os.path.join(self.ml_dir, "mlflow.db")
        self.ml_uri = f"sqlite:///{self.ml_db}"
        self.ml_init_s = None
        if not with_mlflow:  # --skip-mlflow: MLflow need not even be installed
            return
        t0 = now()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from mlflow import MlflowClient

            self.ml = MlflowClient(tracking_uri=self.ml_uri)
            self.ml_exp = self.ml_experiment("bench")
        self.ml_init_s = now() - t0
        log(f"mlflow store ready in {self.ml_init_s:.2f}s: {self.ml_db}")

    def ml_experiment(self, name: str) -> str:
        art = "file://" + os.path.join(self.ml_dir, "artifacts", name)
        return self.ml.create_experiment(name, artifact_location=art)

    def my_run(self, project: str = "bench", **kw: Any):
        return self.my.start_run(project, capture=False, **kw)

    def close(self) -> None:
        self.my.close()


# -- 1. log_metric one call at a time ------------------------------------------------------


def bench_log_metric(s: Sides, args: argparse.Namespace, prof: Profiler) -> dict[str, Any]:
    n_my, n_ml = args.points, args.mlflow_points
    log(f"== log_metric per call: Modelyard {n_my} pts, MLflow {n_ml} pts, {args.reps} reps")

    def my_once(verify: bool = True, collect: bool = True) -> dict[str, float]:
        run = s.my_run()
        log_metric = run.log_metric
        if collect:
            gc.collect()
        t0 = now()
        for i in range(n_my):
            log_metric("loss", 1.0 / (i + 1), step=i)
        t1 = now()
        run.flush()
        t2 = now()
        run.end()
        if verify:
            stored = len(s.my.get_metric_history(run.id, "loss"))
            assert stored == n_my, (stored, n_my)
        return {"wall": t2 - t0, "loop": t1 - t0, "flush": t2 - t1}

    def ml_once() -> dict[str, Any]:
        run_id = s.ml.create_run(s.ml_exp).info.run_id
        lat = []
        gc.collect()
        t_start = now()
        for i in range(n_ml):
            t0 = now()
            s.ml.log_metric(run_id, "loss", 1.0 / (i + 1), step=i)
            lat.append(now() - t0)
        wall = now() - t_start
        s.ml.set_terminated(run_id)
        return {"wall": wall, "lat": lat}

    my_runs, ml_runs = [], []
    for rep in range(args.reps):
        m = my_once()
        my_runs.append(m)
        log(
            f"  rep {rep} modelyard: {n_my / m['wall']:,.0f} pts/s "
            f"(loop {m['loop'] * 1e3:.1f} ms + flush {m['flush'] * 1e3:.1f} ms)"
        )
        if not args.skip_mlflow:
            x = ml_once()
            ml_runs.append(x)
            log(f"  rep {rep} mlflow:    {n_ml / x['wall']:,.1f} pts/s")
    prof.run("log_metric", lambda: my_once(verify=False, collect=False))

    my_rate = med([n_my / m["wall"] for m in my_runs])
    out: dict[str, Any] = {
        "modelyard": {
            "points": n_my,
            "median_points_per_s": rnd(my_rate, 0),
            "median_wall_s": rnd(med([m["wall"] for m in my_runs]), 4),
            "median_loop_s": rnd(med([m["loop"] for m in my_runs]), 4),
            "median_flush_s": rnd(med([m["flush"] for m in my_runs]), 4),
            "mean_call_us": rnd(med([m["loop"] for m in my_runs]) / n_my * 1e6, 3),
        }
    }
    if ml_runs:
        ml_rate = med([n_ml / x["wall"] for x in ml_runs])
        pooled = [t for x in ml_runs for t in x["lat"]]
        out["mlflow"] = {
            "points": n_ml,
            "median_points_per_s": rnd(ml_rate, 1),
            "call_latency": lat_summary(pooled),
        }
        out["ratio"] = rnd(my_rate / ml_rate, 1)
        out["target_met"] = out["ratio"] >= 1000
    return out


# -- 2. batched logging ---------------------------------------------------------------------


def bench_batch(s: Sides, args: argparse.Namespace, prof: Profiler) -> dict[str, Any]:
    keys = args.batch_keys
    n_my, n_ml = args.batch_points, args.mlflow_batch_points
    steps_my, steps_ml = n_my // keys, n_ml // keys
    names = [f"m{k}" for k in range(keys)]
    log(f"== batched logging: Modelyard {n_my} pts, MLflow {n_ml} pts ({keys} keys)")
    per_step = [{names[k]: st * 0.001 + k for k in range(keys)} for st in range(steps_my)]

    def my_once(client=None, collect: bool = True) -> dict[str, float]:
        client = client or s.my
        run = client.start_run("bench", capture=False)
        log_metrics = run.log_metrics
        if collect:
            gc.collect()
        t0 = now()
        for st, values in enumerate(per_step):
            log_metrics(values, step=st)
        t1 = now()
        run.flush()
        t2 = now()
        run.end()
        return {"wall": t2 - t0, "loop": t1 - t0, "flush": t2 - t1}

    def my_loop_once() -> float:
        run = s.my_run()
        log_metric = run.log_metric
        gc.collect()
        t0 = now()
        for st in range(steps_my):
            for k in range(keys):
                log_metric(names[k], st * 0.001 + k, step=st)
        run.flush()
        wall = now() - t0
        run.end()
        return wall

    def ml_once() -> float:
        return mlflow_batch_once(s.ml, s.ml_exp, names, steps_ml)

    def raw_insert_once() -> float:
        """The floor under the write path: the same rows, stdlib sqlite3 executemany into
        Modelyard's own metrics table (same file, WAL, synchronous=NORMAL, FKs on), one
        transaction, nothing else."""
        run = s.my_run()
        run.end()
        ts = int(time.time() * 1000)
        rid = run.id
        con = sqlite3.connect(s.my_db, isolation_level=None, timeout=30)
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA foreign_keys=ON")
        if metrics_layout(con) == "run_key":
            sql = "INSERT INTO metrics (run_id, key, value, step, timestamp) VALUES (?,?,?,?,?)"
            rows = [
                (rid, names[k], values[names[k]], st, ts)
                for st, values in enumerate(per_step)
                for k in range(keys)
            ]
        else:  # one latest_metrics row per series first (not timed), points by series id
            ids = {}
            con.execute("BEGIN IMMEDIATE")
            for name in names:
                ids[name] = con.execute(
                    "INSERT INTO latest_metrics (run_id, key, value, step, timestamp) "
                    "VALUES (?,?,?,?,?)",
                    (rid, name, 0.0, 0, ts),
                ).lastrowid
            con.execute("COMMIT")
            sql = "INSERT INTO metrics (series_id, value, step, timestamp) VALUES (?,?,?,?)"
            rows = [
                (ids[names[k]], values[names[k]], st, ts)
                for st, values in enumerate(per_step)
                for k in range(keys)
            ]
        gc.collect()
        t0 = now()
        con.execute("BEGIN IMMEDIATE")
        con.executemany(sql, rows)
        con.execute("COMMIT")
        wall = now() - t0
        con.close()
        return wall

    # The same API with one documented setting changed: a buffer 4x the burst, so the
    # background flusher is not woken (at a quarter of the buffer) while the loop runs
    # and the whole burst is written by flush() on the calling thread.
    from modelyard import Client, load_settings

    big_buffer = Client(
        load_settings(
            home=s.my_home,
            store={"url": f"sqlite:///{s.my_db}"},
            tracking={"buffer_size": 4 * n_my},
        )
    )
    my_runs, my_big, my_loop, raw_walls, ml_walls = [], [], [], [], []
    for rep in range(args.reps):
        m = my_once()
        my_runs.append(m)
        my_big.append(my_once(big_buffer))
        w = my_loop_once()
        my_loop.append(w)
        raw_walls.append(raw_insert_once())
        log(
            f"  rep {rep} modelyard: log_metrics {n_my / m['wall']:,.0f} pts/s "
            f"(loop {m['loop'] * 1e3:.0f} ms + flush {m['flush'] * 1e3:.0f} ms); "
            f"buffer_size={4 * n_my}: {n_my / my_big[-1]['wall']:,.0f} pts/s; "
            f"log_metric loop {n_my / w:,.0f} pts/s; raw sqlite3 insert floor "
            f"{n_my / raw_walls[-1]:,.0f} rows/s"
        )
        if not args.skip_mlflow:
            ml_walls.append(ml_once())
            log(f"  rep {rep} mlflow: log_batch {n_ml / ml_walls[-1]:,.0f} pts/s")
    # Profiled with the big buffer: the write then happens on the profiled thread
    # (cProfile sees only the thread that enabled it).
    prof.run("batch", lambda: my_once(big_buffer, collect=False))
    big_buffer.close()

    my_rate = med([n_my / m["wall"] for m in my_runs])
    out: dict[str, Any] = {
        "modelyard": {
            "points": n_my,
            "keys": keys,
            "api": "log_metrics(dict, step) per step + flush()",
            "median_points_per_s": rnd(my_rate, 0),
            "median_wall_s": rnd(med([m["wall"] for m in my_runs]), 4),
            "median_loop_s": rnd(med([m["loop"] for m in my_runs]), 4),
            "median_flush_s": rnd(med([m["flush"] for m in my_runs]), 4),
            "log_metric_loop_points_per_s": rnd(med([n_my / w for w in my_loop]), 0),
            f"buffer_size_{4 * n_my}": {
                "median_points_per_s": rnd(med([n_my / m["wall"] for m in my_big]), 0),
                "median_loop_s": rnd(med([m["loop"] for m in my_big]), 4),
                "median_flush_s": rnd(med([m["flush"] for m in my_big]), 4),
            },
        },
        "raw_sqlite_insert_floor": {
            "what": "same rows, sqlite3 executemany into the same metrics table, 1 txn",
            "median_rows_per_s": rnd(med([n_my / w for w in raw_walls]), 0),
            "median_wall_s": rnd(med(raw_walls), 4),
        },
    }
    if ml_walls:
        ml_rate = med([n_ml / w for w in ml_walls])
        out["mlflow"] = {
            "points": n_ml,
            "keys": keys,
            "api": f"log_batch, {MLFLOW_CHUNK} metrics per call",
            "median_points_per_s": rnd(ml_rate, 1),
            "median_wall_s": rnd(med(ml_walls), 3),
        }
        out["ratio"] = rnd(my_rate / ml_rate, 1)
        out["target_met"] = out["ratio"] >= 30
    return out


# -- 3. search_runs -------------------------------------------------------------------------


def run_specs(n: int, seed: int = 42) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "name": f"run-{i:05d}",
            "params": {"lr": f"{10 ** rng.uniform(-4, -1):.6g}", "depth": str(rng.randint(2, 12))},
            "metrics": {"auc": rng.random(), "loss": rng.random() * 3},
            "tags": {"family": rng.choice(["lr", "rf", "gbm"])},
        }
        for i in range(n)
    ]


def populate_modelyard(s: Sides, project: str, specs: list[dict[str, Any]]) -> dict[str, Any]:
    s.my.create_project(project)
    t0 = now()
    for i, sp in enumerate(specs):
        run = s.my.start_run(
            project, name=sp["name"], params=sp["params"], tags=sp["tags"], capture=False
        )
        run.log_metrics(sp["metrics"], step=0)
        run.end()
        if (i + 1) % 2500 == 0:
            log(f"  modelyard populated {i + 1}/{len(specs)} ({(i + 1) / (now() - t0):.0f} runs/s)")
    wall = now() - t0
    return {
        "runs": len(specs),
        "via": "API: start_run(params, tags) + log_metrics + end",
        "s": rnd(wall, 2),
        "runs_per_s": rnd(len(specs) / wall, 1),
    }


def populate_mlflow(
    s: Sides, exp_id: str, specs: list[dict[str, Any]], api_runs: int
) -> dict[str, Any]:
    """The first ``api_runs`` runs through MlflowClient (create_run + log_batch +
    set_terminated); the rest copied from the first run's rows in plain SQL (same
    columns, new run_uuid, this spec's name/values), in one transaction."""
    from mlflow.entities import Metric, Param

    api_runs = max(1, min(api_runs, len(specs)))
    t0 = now()
    template = None
    for sp in specs[:api_runs]:
        run_id = s.ml.create_run(exp_id, run_name=sp["name"], tags=sp["tags"]).info.run_id
        ts = int(time.time() * 1000)
        s.ml.log_batch(
            run_id,
            metrics=[Metric(k, v, ts, 0) for k, v in sp["metrics"].items()],
            params=[Param(k, v) for k, v in sp["params"].items()],
        )
        s.ml.set_terminated(run_id)
        template = template or run_id
    api_s = now() - t0
    log(f"  mlflow API populated {api_runs} runs ({api_runs / api_s:.1f} runs/s)")

    t1 = now()
    con = sqlite3.connect(s.ml_db, isolation_level=None)
    tables = ("runs", "params", "tags", "metrics", "latest_metrics")
    tmpl: dict[str, tuple[list[str], list[tuple]]] = {}
    for t in tables:
        cols = [c[1] for c in con.execute(f"PRAGMA table_info({t})")]
        rows = con.execute(f"SELECT * FROM {t} WHERE run_uuid = ?", (template,)).fetchall()
        tmpl[t] = (cols, rows)
    (start,) = con.execute("SELECT start_time FROM runs WHERE run_uuid = ?", (template,)).fetchone()
    out_rows: dict[str, list[tuple]] = {t: [] for t in tables}
    for i, sp in enumerate(specs[api_runs:], start=api_runs):
        rid = uuid.uuid4().hex
        for t, (cols, rows) in tmpl.items():
            for row in rows:
                rec = {
                    c: (v.replace(template, rid) if isinstance(v, str) else v)
                    for c, v in zip(cols, row, strict=True)
                }
                if t == "runs":
                    rec.update(name=sp["name"], start_time=start + i, end_time=start + i + 1)
                elif t in ("metrics", "latest_metrics"):
                    rec["value"] = sp["metrics"][rec["key"]]
                elif t == "params":
                    rec["value"] = sp["params"][rec["key"]]
                elif rec["key"] == "mlflow.runName":
                    rec["value"] = sp["name"]
                elif rec["key"] in sp["tags"]:
                    rec["value"] = sp["tags"][rec["key"]]
                out_rows[t].append(tuple(rec[c] for c in cols))
    con.execute("BEGIN")
    for t in tables:
        cols = tmpl[t][0]
        sql = f"INSERT INTO {t} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        con.executemany(sql, out_rows[t])
    con.execute("COMMIT")
    con.close()
    sql_s = now() - t1
    return {
        "runs": len(specs),
        "api_runs": api_runs,
        "api_s": rnd(api_s, 2),
        "api_runs_per_s": rnd(api_runs / api_s, 1),
        "sql_copied_runs": len(specs) - api_runs,
        "sql_copy_s": rnd(sql_s, 2),
        "api_estimate_for_all_s": rnd(len(specs) / (api_runs / api_s), 0),
    }


def timed(fn: Callable[[], Any], n: int) -> tuple[list[float], Any]:
    """n timings of fn(); a full GC pass before each, so one call's garbage is not
    collected (and counted) in the next one."""
    ts, res = [], None
    for _ in range(n):
        res = None
        gc.collect()
        t0 = now()
        res = fn()
        ts.append(now() - t0)
    return ts, res


def bench_search(s: Sides, args: argparse.Namespace, prof: Profiler) -> dict[str, Any]:
    n = args.runs
    specs = run_specs(n)
    log(f"== search_runs over {n} runs: populating")
    out: dict[str, Any] = {"runs": n, "filter": FILTER, "order_by": ORDER_BY, "top": TOP}
    out["populate_modelyard"] = populate_modelyard(s, "search", specs)
    log(f"  modelyard populate: {out['populate_modelyard']}")
    exp_id = None
    if not args.skip_mlflow:
        exp_id = s.ml_experiment("search")
        out["populate_mlflow"] = populate_mlflow(s, exp_id, specs, args.mlflow_api_runs)
        log(f"  mlflow populate: {out['populate_mlflow']}")
        import mlflow

        mlflow.set_tracking_uri(s.ml_uri)

    expected = sum(1 for sp in specs if sp["metrics"]["auc"] > 0.5)
    expected_top = [sp["name"] for sp in sorted(specs, key=lambda sp: -sp["metrics"]["auc"])[:TOP]]
    page = min(1000, expected)

    queries: dict[str, tuple[Callable[[], Any], Callable[[], Any] | None]] = {
        "top100_order_by_auc": (
            lambda: s.my.search_runs(
                "search", filter=FILTER, order_by=ORDER_BY, max_results=TOP, output="list"
            ),
            (lambda: s.ml.search_runs([exp_id], FILTER, order_by=ORDER_BY, max_results=TOP))
            if exp_id
            else None,
        ),
        "first_page_1000": (
            lambda: s.my.search_runs("search", filter=FILTER, max_results=1000, output="list"),
            (lambda: s.ml.search_runs([exp_id], FILTER, max_results=1000)) if exp_id else None,
        ),
        "top100_pandas": (
            lambda: s.my.search_runs(
                "search", filter=FILTER, order_by=ORDER_BY, max_results=TOP, output="pandas"
            ),
            (
                lambda: mlflow.search_runs(
                    experiment_ids=[exp_id],
                    filter_string=FILTER,
                    order_by=ORDER_BY,
                    max_results=TOP,
                )
            )
            if exp_id
            else None,
        ),
    }

    # correctness: both sides return the same runs for the target query
    my_top = [r.name for r in queries["top100_order_by_auc"][0]()]
    assert my_top == expected_top, "modelyard top-100 differs from the expected order"
    my_page = queries["first_page_1000"][0]()
    assert len(my_page) == page, (len(my_page), page)
    if exp_id:
        ml_top = [r.info.run_name for r in queries["top100_order_by_auc"][1]()]
        assert ml_top == expected_top, "mlflow top-100 differs from the expected order"
        assert len(queries["first_page_1000"][1]()) == page
    out["matching_runs"] = expected
    out["same_top100_on_both_sides"] = bool(exp_id)

    inner = max(1, args.fast_inner)
    for qname, (my_fn, ml_fn) in queries.items():
        for _ in range(2):  # warm-up: caches, lazily imported modules
            my_fn()
            if ml_fn:
                ml_fn()
        my_ts, ml_ts = [], []
        for _ in range(args.reps):
            ts, _res = timed(my_fn, inner)
            my_ts.extend(ts)
            if ml_fn:
                ts, _res = timed(ml_fn, 1)
                ml_ts.extend(ts)
        q: dict[str, Any] = {"modelyard": lat_summary(my_ts)}
        msg = f"  {qname}: modelyard p50 {q['modelyard']['p50_ms']:.2f} ms"
        if ml_ts:
            q["mlflow"] = lat_summary(ml_ts)
            q["ratio"] = rnd(med(ml_ts) / med(my_ts), 1)
            msg += f", mlflow p50 {q['mlflow']['p50_ms']:.1f} ms, ratio {q['ratio']}x"
        log(msg)
        out[qname] = q
    prof.run("search", queries["top100_order_by_auc"][0])
    if "ratio" in out["top100_order_by_auc"]:
        out["ratio"] = out["top100_order_by_auc"]["ratio"]
        out["target_met"] = out["ratio"] >= 20
    return out


# -- 4. metric history ---------------------------------------------------------------------


RAW_SQL = "SELECT step, value, timestamp FROM metrics WHERE run_id=? AND key=? ORDER BY step"
# When metrics refer to their series (latest_metrics row) by integer id instead of
# carrying run_id/key, the same read is a series-id lookup plus a range scan.
RAW_SERIES_SQL = "SELECT id FROM latest_metrics WHERE run_id=? AND key=?"
RAW_SQL_BY_SERIES = "SELECT step, value, timestamp FROM metrics WHERE series_id=? ORDER BY step"
RAW_SQL_MLFLOW = (
    "SELECT step, value, timestamp FROM metrics WHERE run_uuid=? AND key=? ORDER BY step"
)


def bench_history(s: Sides, args: argparse.Namespace, prof: Profiler) -> dict[str, Any]:
    n, n_ml = args.hist_points, args.mlflow_hist_points
    log(f"== metric history: Modelyard {n} points, MLflow {n_ml} points")
    t0 = now()
    run = s.my_run()
    for i in range(n):
        run.log_metric("loss", 1.0 / (i + 1), step=i)
    run.end()
    my_pop = now() - t0
    run_id = run.id

    raw = sqlite3.connect(s.my_db)
    (table_rows,) = raw.execute("SELECT count(*) FROM metrics").fetchone()
    layout = metrics_layout(raw)
    if layout == "run_key":
        raw_sql = RAW_SQL
        plan = raw.execute("EXPLAIN QUERY PLAN " + RAW_SQL, (run_id, "loss")).fetchall()

        def raw_read() -> list:
            return raw.execute(RAW_SQL, (run_id, "loss")).fetchall()

    else:
        raw_sql = f"{RAW_SERIES_SQL}; {RAW_SQL_BY_SERIES}"
        (sid,) = raw.execute(RAW_SERIES_SQL, (run_id, "loss")).fetchone()
        plan = raw.execute("EXPLAIN QUERY PLAN " + RAW_SQL_BY_SERIES, (sid,)).fetchall()

        def raw_read() -> list:
            (series_id,) = raw.execute(RAW_SERIES_SQL, (run_id, "loss")).fetchone()
            return raw.execute(RAW_SQL_BY_SERIES, (series_id,)).fetchall()

    def my_read() -> Any:
        return s.my.get_metric_history(run_id, "loss")

    assert len(raw_read()) == n and len(my_read()) == n
    for _ in range(2):
        raw_read()
        my_read()

    def my_read_gc_off() -> Any:
        gc.disable()
        try:
            return my_read()
        finally:
            gc.enable()

    raw_ts, my_ts, nogc_ts = [], [], []
    for _ in range(args.reps):
        for _ in range(max(1, args.fast_inner // 2)):
            raw_ts += timed(raw_read, 1)[0]
            my_ts += timed(my_read, 1)[0]
            nogc_ts += timed(my_read_gc_off, 1)[0]
    raw.close()
    prof.run("history", my_read)
    out: dict[str, Any] = {
        "points": n,
        "metrics_table_rows": table_rows,
        "query_plan": " | ".join(str(p[-1]) for p in plan),
        "modelyard_populate_s": rnd(my_pop, 2),
        "metrics_layout": layout,
        "raw_sqlite": {"sql": raw_sql, **lat_summary(raw_ts)},
        "modelyard": lat_summary(my_ts),
        # diagnostic only: the same call with the cyclic GC paused, to show how much of
        # the time is collector work triggered by the rows it allocates
        "modelyard_gc_paused_diagnostic": lat_summary(nogc_ts),
        "gc_tracked_objects": len(gc.get_objects()),
    }
    out["ratio_vs_raw"] = rnd(med(my_ts) / med(raw_ts), 2)
    out["target_met"] = out["ratio_vs_raw"] <= 2.0
    log(
        f"  raw sqlite3 p50 {out['raw_sqlite']['p50_ms']:.1f} ms, modelyard p50 "
        f"{out['modelyard']['p50_ms']:.1f} ms -> {out['ratio_vs_raw']}x raw "
        f"(with GC paused: {out['modelyard_gc_paused_diagnostic']['p50_ms']:.1f} ms)"
    )

    if not args.skip_mlflow:
        from mlflow.entities import Metric

        t0 = now()
        ml_run = s.ml.create_run(s.ml_exp).info.run_id
        ts = int(time.time() * 1000)
        metrics = [Metric("loss", 1.0 / (i + 1), ts + i, i) for i in range(n_ml)]
        for i in range(0, n_ml, MLFLOW_CHUNK):
            s.ml.log_batch(ml_run, metrics=metrics[i : i + MLFLOW_CHUNK])
        s.ml.set_terminated(ml_run)
        ml_pop = now() - t0
        assert len(s.ml.get_metric_history(ml_run, "loss")) == n_ml  # also the warm-up
        ml_ts = timed(lambda: s.ml.get_metric_history(ml_run, "loss"), args.reps)[0]
        mraw = sqlite3.connect(s.ml_db)
        mraw.execute(RAW_SQL_MLFLOW, (ml_run, "loss")).fetchall()
        mraw_ts = timed(
            lambda: mraw.execute(RAW_SQL_MLFLOW, (ml_run, "loss")).fetchall(), args.reps
        )[0]
        mraw.close()
        out["mlflow"] = {
            "points": n_ml,
            "populate_s": rnd(ml_pop, 2),
            **lat_summary(ml_ts),
            "raw_sqlite_on_mlflow_db": lat_summary(mraw_ts),
        }
        # per-point comparison in case the two sides read different sizes
        out["mlflow_vs_modelyard"] = rnd((med(ml_ts) / n_ml) / (med(my_ts) / n), 1)
        log(
            f"  mlflow get_metric_history p50 {out['mlflow']['p50_ms']:.0f} ms "
            f"({out['mlflow_vs_modelyard']}x modelyard per point)"
        )
    return out


# -- 5. start_run latency ---------------------------------------------------------------


def bench_start_run(s: Sides, args: argparse.Namespace, prof: Profiler) -> dict[str, Any]:
    from modelyard import Client

    n = args.start_runs
    log(f"== start_run latency: {n} calls x {args.reps} reps per mode")
    out: dict[str, Any] = {"calls": n, "reps": args.reps, "cwd": os.getcwd()}

    # The very first start_run of a fresh Client in this process (imports, pool, flusher).
    fresh = Client(s.my_settings)
    t0 = now()
    r = fresh.start_run("bench", name="first", capture=True)
    first = now() - t0
    r.end()
    fresh.close()
    out["first_call_fresh_client_ms"] = rnd(first * 1e3, 2)

    for capture in (True, False):
        key = "capture_on" if capture else "capture_off"
        s.my.start_run("bench", capture=capture).end()  # warm-up
        p50s, p95s, pooled, ends = [], [], [], []
        for _ in range(args.reps):
            gc.collect()
            lat = []
            for i in range(n):
                t0 = now()
                r = s.my.start_run("bench", name=f"start-{i}", capture=capture)
                lat.append(now() - t0)
                t0 = now()
                r.end()
                ends.append(now() - t0)
            p50s.append(pct(lat, 50))
            p95s.append(pct(lat, 95))
            pooled += lat
        out[key] = {
            "median_p50_ms": rnd(med(p50s) * 1e3, 3),
            "median_p95_ms": rnd(med(p95s) * 1e3, 3),
            "pooled": lat_summary(pooled),
            "end_run_p50_ms": rnd(pct(ends, 50) * 1e3, 2),
        }
        log(
            f"  {key}: p50 {out[key]['median_p50_ms']:.2f} ms, p95 {out[key]['median_p95_ms']:.2f}"
            f" ms (end_run p50 {out[key]['end_run_p50_ms']:.1f} ms)"
        )
    out["target_met"] = (
        out["capture_on"]["median_p50_ms"] < 50 and out["capture_on"]["median_p95_ms"] < 50
    )

    def profile_start_runs() -> None:
        for i in range(n):
            s.my.start_run("bench", name=f"prof-{i}", capture=True).end()

    prof.run("start_run_and_end", profile_start_runs)

    if not args.skip_mlflow:
        import mlflow

        mlflow.set_tracking_uri(s.ml_uri)
        mlflow.set_experiment(experiment_id=s.ml_exp)
        mlflow.start_run()  # warm-up
        mlflow.end_run()
        lat = []
        for _ in range(args.reps):
            gc.collect()
            for _ in range(n):
                t0 = now()
                mlflow.start_run()
                lat.append(now() - t0)
                mlflow.end_run()
        out["mlflow_fluent_start_run"] = lat_summary(lat)
        log(f"  mlflow.start_run: p50 {out['mlflow_fluent_start_run']['p50_ms']:.1f} ms")
    return out


# -- 6-8. remote: the same SDK calls through each tool's tracking server -----------------
#
# Both servers run on 127.0.0.1 in their own session (process group id == the PID we
# recorded), each over a SQLite file of its own, and are stopped by that PID. Modelyard
# runs with --no-auth for now; when the server requires `Authorization: Bearer`, pass
# `token=` to RemoteSides (main() does it in one place): the server is then started
# without --no-auth, and the SDK and the health probe send the token.

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def venv_bin(name: str) -> str:
    """A console script installed next to the running interpreter (the bench venv)."""
    cand = os.path.join(os.path.dirname(sys.executable), name)
    return cand if os.path.exists(cand) else (shutil.which(name) or name)


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _group_stats(pgid: int) -> list[tuple[int, list[str]]]:
    """(pid, fields of /proc/PID/stat after the command name) of each live process in
    process group ``pgid``."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rfind(")") + 2 :].split()
        if int(rest[2]) == pgid:  # rest[2] = pgrp
            out.append((int(name), rest))
    return out


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of the live processes of a process group."""
    ticks = sum(int(rest[11]) + int(rest[12]) for _, rest in _group_stats(pgid))
    return ticks / os.sysconf("SC_CLK_TCK")


def group_memory(pgid: int) -> dict[str, Any]:
    """RSS summed over a process group (counts shared pages once per process, so an upper
    bound) and PSS summed (shared pages split between their users: what the group adds)."""
    rss_kb = pss_kb = 0
    n = 0
    for pid, _rest in _group_stats(pgid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{pid}/status") as f:
                rss_kb += next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))
            n += 1
            with open(f"/proc/{pid}/smaps_rollup") as f:
                pss_kb += next(int(ln.split()[1]) for ln in f if ln.startswith("Pss:"))
    return {"processes": n, "rss_mib": rnd(rss_kb / 1024, 1), "pss_mib": rnd(pss_kb / 1024, 1)}


def wait_group_idle(
    pgid: int, max_util: float = 0.05, quiet_s: float = 2.0, timeout: float = 60.0
) -> tuple[float, bool]:
    """Wait until a process group uses under ``max_util`` of a core for ``quiet_s`` seconds
    in a row (servers go on importing after their health check answers); returns the
    seconds waited and whether it got there within ``timeout``."""
    t0 = now()
    quiet, prev = 0.0, group_cpu_s(pgid)
    while now() - t0 < timeout and quiet < quiet_s:
        time.sleep(0.5)
        cur = group_cpu_s(pgid)
        quiet = quiet + 0.5 if (cur - prev) / 0.5 < max_util else 0.0
        prev = cur
    return now() - t0, quiet >= quiet_s


class ServerProcess:
    """A server started in a session of its own (its process group id is its PID), timed
    from ``Popen`` to the first 200 from ``health_url``, stopped by that PID."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        cwd: str,
        env: dict[str, str],
        health_url: str,
        headers: dict[str, str] | None = None,
        timeout: float = 180.0,
    ) -> None:
        self.name = name
        self.log_path = os.path.join(cwd, f"{name}-server.log")
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        t0 = now()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        log(f"  started {name} server pid={self.pid}: {' '.join(argv[:2])} ...")
        try:
            self.startup_s = self._wait_health(health_url, headers or {}, t0, timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_health(self, url: str, headers: dict[str, str], t0: float, timeout: float) -> float:
        request = urllib.request.Request(url, headers=headers)
        while now() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} server exited ({self.proc.returncode}): {self.tail()}"
                )
            with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=2) as r:
                if r.status == 200:
                    return now() - t0
            time.sleep(0.01)
        raise TimeoutError(f"{url} did not answer within {timeout:.0f} s: {self.tail()}")

    def idle_memory(self) -> dict[str, Any]:
        """Wait until the server's processes are idle, then measure their memory."""
        settle_s, settled = wait_group_idle(self.pid)
        return {
            **group_memory(self.pid),
            "idle_after_s": rnd(self.startup_s + settle_s, 2),
            "settled": settled,  # False: still busy after a minute (measured anyway)
        }

    def tail(self, n: int = 2000) -> str:
        with contextlib.suppress(OSError), open(self.log_path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")
        return ""

    def stop(self) -> None:
        """SIGTERM the process group; SIGKILL it if it is not gone within 20 s."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # the leader is gone: no forked worker of its group may outlive it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self._log.close()
        log(f"  stopped {self.name} server pid={self.pid}")


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without settings of either tool, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MODELYARD_") and k != "MLFLOW_TRACKING_URI"
    }
    return {**env, **extra}


def start_modelyard_server(home: str, token: str | None) -> tuple[ServerProcess, str]:
    port = free_port()
    argv = [venv_bin("modelyard"), "server", "--host", LOOPBACK, "--port", str(port)]
    if token is None:
        argv.append("--no-auth")
    env = _child_env(
        {
            "MODELYARD_HOME": home,
            "MODELYARD_STORE_URL": f"sqlite:///{os.path.join(home, 'modelyard.db')}",
        }
    )
    url = f"http://{LOOPBACK}:{port}"
    srv = ServerProcess(
        "modelyard",
        argv,
        cwd=home,
        env=env,
        health_url=f"{url}/api/v1/health",
        headers=auth_headers(token),
    )
    return srv, url


def start_mlflow_server(root: str, workers: int | None) -> tuple[ServerProcess, str]:
    port = free_port()
    argv = [
        venv_bin("mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{os.path.join(root, 'mlflow.db')}",
        "--artifacts-destination", os.path.join(root, "mlartifacts"),
        "--host", LOOPBACK, "--port", str(port),
    ]  # fmt: skip
    if workers:
        argv += ["--workers", str(workers)]
    url = f"http://{LOOPBACK}:{port}"
    srv = ServerProcess("mlflow", argv, cwd=root, env=_child_env({}), health_url=f"{url}/health")
    return srv, url


class RemoteSides:
    """A ``modelyard server`` and an ``mlflow server``, each on a fresh SQLite file, and a
    client of each. The first start of each is on its brand-new store."""

    def __init__(self, root: str, args: argparse.Namespace, token: str | None = None) -> None:
        self.args = args
        # None: `modelyard server --no-auth`; a token: the server is started without
        # --no-auth and every request carries `Authorization: Bearer <token>`.
        self.token = token
        self.my_home = os.path.join(root, "remote-modelyard")
        self.ml_root = os.path.join(root, "remote-mlflow")
        os.makedirs(self.my_home)
        os.makedirs(self.ml_root)
        self.starts: dict[str, list[dict[str, Any]]] = {"modelyard": [], "mlflow": []}
        self.my_srv: ServerProcess | None = None
        self.ml_srv: ServerProcess | None = None
        self.my: Any = None
        self.ml: Any = None
        self.ml_exp: str | None = None
        try:
            self.start("modelyard")
            if not args.skip_mlflow:
                self.start("mlflow")
        except BaseException:
            self.close()
            raise

    def start(self, side: str) -> None:
        """(Re)start one side's server and measure its start-up and idle memory (the other
        side's server, if up, is idle meanwhile)."""
        self.stop(side)
        gc.collect()
        fresh = not self.starts[side]
        log(f"== starting {side} server ({'brand-new' if fresh else 'existing'} store)")
        if side == "modelyard":
            self.my_srv, self.my_url = start_modelyard_server(self.my_home, self.token)
            srv = self.my_srv
        else:
            self.ml_srv, self.ml_url = start_mlflow_server(self.ml_root, self.args.mlflow_workers)
            srv = self.ml_srv
        info = {"store": "brand-new" if fresh else "existing", "startup_s": rnd(srv.startup_s, 3)}
        info.update(srv.idle_memory())
        self.starts[side].append(info)
        log(f"  {side}: health after {info['startup_s']:.2f} s; idle: {info}")
        if side == "modelyard":
            import modelyard
            from modelyard.errors import AlreadyExists

            self.my = modelyard.connect(self.my_url, token=self.token)
            with contextlib.suppress(AlreadyExists):
                self.my.create_project("bench")
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from mlflow import MlflowClient

                self.ml = MlflowClient(tracking_uri=self.ml_url)
                if self.ml_exp is None:
                    self.ml_exp = self.ml.create_experiment("bench")

    def stop(self, side: str) -> None:
        if side == "modelyard" and self.my_srv is not None:
            if self.my is not None:
                self.my.close()
                self.my = None
            self.my_srv.stop()
            self.my_srv = None
        elif side == "mlflow" and self.ml_srv is not None:
            self.ml_srv.stop()
            self.ml_srv = None

    def close(self) -> None:
        for side in ("modelyard", "mlflow"):
            self.stop(side)


def bench_remote_startup(r: RemoteSides, args: argparse.Namespace) -> dict[str, Any]:
    """Start-up (process start to the first 200 from the health check) and idle memory:
    the first start of each server is on its brand-new store (migrations included), then
    ``--startup-reps - 1`` restarts on the same, existing store."""
    sides = ["modelyard"] + ([] if args.skip_mlflow else ["mlflow"])
    for _ in range(args.startup_reps - 1):
        for side in sides:
            r.start(side)
    out: dict[str, Any] = {"mlflow_workers": args.mlflow_workers or "mlflow's default"}
    for side in sides:
        starts = r.starts[side]
        again = starts[1:]
        out[side] = {
            "starts": starts,
            "brand_new_store_s": starts[0]["startup_s"],
            "existing_store_s": rnd(med([x["startup_s"] for x in again]), 3) if again else None,
            "idle_rss_mib": rnd(med([x["rss_mib"] for x in starts]), 1),
            "idle_pss_mib": rnd(med([x["pss_mib"] for x in starts]), 1),
            "processes": starts[-1]["processes"],
        }
    if "mlflow" in out:
        my, ml = out["modelyard"], out["mlflow"]
        out["ratio_startup_brand_new"] = rnd(ml["brand_new_store_s"] / my["brand_new_store_s"], 1)
        if my["existing_store_s"] and ml["existing_store_s"]:
            out["ratio_startup_existing"] = rnd(ml["existing_store_s"] / my["existing_store_s"], 1)
        out["ratio_idle_rss"] = rnd(ml["idle_rss_mib"] / my["idle_rss_mib"], 1)
        out["ratio_idle_pss"] = rnd(ml["idle_pss_mib"] / my["idle_pss_mib"], 1)
    return out


def _warm_up(r: RemoteSides) -> None:
    """A few hundred calls on each side first: connections, lazily imported modules and
    (MLflow) every uvicorn worker's store are set up before anything is timed."""
    run = r.my.start_run("bench", capture=False)
    for i in range(300):
        run.log_metric("warmup", float(i), step=i)
    run.flush()
    assert len(r.my.get_metric_history(run.id, "warmup")) == 300
    run.end()
    if r.ml is not None:
        run_id = r.ml.create_run(r.ml_exp).info.run_id
        for i in range(100):
            r.ml.log_metric(run_id, "warmup", float(i), step=i)
            r.ml.get_run(run_id)
        r.ml.set_terminated(run_id)


def bench_remote_log_metric(
    r: RemoteSides, args: argparse.Namespace, prof: Profiler
) -> dict[str, Any]:
    n_my, n_ml = args.remote_points, args.mlflow_remote_points
    log(f"== remote log_metric per call: Modelyard {n_my} pts, MLflow {n_ml} pts, {args.reps} reps")
    _warm_up(r)

    def my_once(collect: bool = True) -> dict[str, float]:
        run = r.my.start_run("bench", capture=False)
        log_metric = run.log_metric
        if collect:
            gc.collect()
        t0 = now()
        for i in range(n_my):
            log_metric("loss", 1.0 / (i + 1), step=i)
        t1 = now()
        run.flush()  # returns once the server answered that every point is stored
        t2 = now()
        stored = len(r.my.get_metric_history(run.id, "loss"))
        t3 = now()
        run.end()
        assert stored == n_my, (stored, n_my)
        return {"wall": t2 - t0, "loop": t1 - t0, "flush": t2 - t1, "verify": t3 - t2}

    def ml_once() -> dict[str, Any]:
        run_id = r.ml.create_run(r.ml_exp).info.run_id
        lat = []
        gc.collect()
        t_start = now()
        for i in range(n_ml):
            t0 = now()
            r.ml.log_metric(run_id, "loss", 1.0 / (i + 1), step=i)
            lat.append(now() - t0)
        wall = now() - t_start
        assert len(r.ml.get_metric_history(run_id, "loss")) == n_ml
        r.ml.set_terminated(run_id)
        return {"wall": wall, "lat": lat}

    my_runs, ml_runs = [], []
    for rep in range(args.reps):
        m = my_once()
        my_runs.append(m)
        log(
            f"  rep {rep} modelyard: {n_my / m['wall']:,.0f} pts/s (loop {m['loop'] * 1e3:.1f}"
            f" ms + flush {m['flush'] * 1e3:.1f} ms; read-back {m['verify'] * 1e3:.1f} ms)"
        )
        if r.ml is not None:
            x = ml_once()
            ml_runs.append(x)
            log(f"  rep {rep} mlflow:    {n_ml / x['wall']:,.1f} pts/s")
    prof.run("remote_log_metric", lambda: my_once(collect=False))

    my_rate = med([n_my / m["wall"] for m in my_runs])
    my_rate_verified = med([n_my / (m["wall"] + m["verify"]) for m in my_runs])
    out: dict[str, Any] = {
        "modelyard": {
            "points": n_my,
            "api": "run.log_metric per point + run.flush(), remote SDK (modelyard.connect)",
            "median_points_per_s": rnd(my_rate, 0),
            "median_wall_s": rnd(med([m["wall"] for m in my_runs]), 4),
            "median_loop_s": rnd(med([m["loop"] for m in my_runs]), 4),
            "median_flush_s": rnd(med([m["flush"] for m in my_runs]), 4),
            "median_read_back_s": rnd(med([m["verify"] for m in my_runs]), 4),
            "median_points_per_s_incl_read_back": rnd(my_rate_verified, 0),
        }
    }
    if ml_runs:
        ml_rate = med([n_ml / x["wall"] for x in ml_runs])
        out["mlflow"] = {
            "points": n_ml,
            "api": "MlflowClient.log_metric per point",
            "median_points_per_s": rnd(ml_rate, 1),
            "call_latency": lat_summary([t for x in ml_runs for t in x["lat"]]),
        }
        out["ratio"] = rnd(my_rate / ml_rate, 1)
        out["ratio_incl_read_back"] = rnd(my_rate_verified / ml_rate, 1)
        out["target_met"] = out["ratio"] >= 1000
    return out


def bench_remote_batch(r: RemoteSides, args: argparse.Namespace, prof: Profiler) -> dict[str, Any]:
    keys = args.batch_keys
    n_my, n_ml = args.remote_batch_points, args.mlflow_remote_batch_points
    steps_my, steps_ml = n_my // keys, n_ml // keys
    names = [f"m{k}" for k in range(keys)]
    log(f"== remote batched logging: Modelyard {n_my} pts, MLflow {n_ml} pts ({keys} keys)")
    per_step = [{names[k]: st * 0.001 + k for k in range(keys)} for st in range(steps_my)]
    _warm_up(r)

    def my_once(collect: bool = True) -> dict[str, float]:
        run = r.my.start_run("bench", capture=False)
        log_metrics = run.log_metrics
        if collect:
            gc.collect()
        t0 = now()
        for st, values in enumerate(per_step):
            log_metrics(values, step=st)
        t1 = now()
        run.flush()
        t2 = now()
        stored = sum(len(r.my.get_metric_history(run.id, k)) for k in names)
        t3 = now()
        run.end()
        assert stored == steps_my * keys, (stored, steps_my * keys)
        return {"wall": t2 - t0, "loop": t1 - t0, "flush": t2 - t1, "verify": t3 - t2}

    def ml_once() -> float:
        return mlflow_batch_once(r.ml, r.ml_exp, names, steps_ml, verify=True)

    my_runs, ml_walls = [], []
    for rep in range(args.reps):
        m = my_once()
        my_runs.append(m)
        log(
            f"  rep {rep} modelyard: log_metrics {n_my / m['wall']:,.0f} pts/s (loop "
            f"{m['loop'] * 1e3:.0f} ms + flush {m['flush'] * 1e3:.0f} ms; read-back "
            f"{m['verify'] * 1e3:.0f} ms)"
        )
        if r.ml is not None:
            ml_walls.append(ml_once())
            log(f"  rep {rep} mlflow: log_batch {n_ml / ml_walls[-1]:,.0f} pts/s")
    prof.run("remote_batch", lambda: my_once(collect=False))

    my_rate = med([n_my / m["wall"] for m in my_runs])
    out: dict[str, Any] = {
        "modelyard": {
            "points": n_my,
            "keys": keys,
            "api": "run.log_metrics(dict, step) per step + run.flush(), remote SDK",
            "median_points_per_s": rnd(my_rate, 0),
            "median_wall_s": rnd(med([m["wall"] for m in my_runs]), 4),
            "median_loop_s": rnd(med([m["loop"] for m in my_runs]), 4),
            "median_flush_s": rnd(med([m["flush"] for m in my_runs]), 4),
            "median_read_back_s": rnd(med([m["verify"] for m in my_runs]), 4),
        }
    }
    if ml_walls:
        ml_rate = med([n_ml / w for w in ml_walls])
        out["mlflow"] = {
            "points": n_ml,
            "keys": keys,
            "api": f"MlflowClient.log_batch, {MLFLOW_CHUNK} metrics per call",
            "median_points_per_s": rnd(ml_rate, 1),
            "median_wall_s": rnd(med(ml_walls), 3),
        }
        out["ratio"] = rnd(my_rate / ml_rate, 1)
        out["target_met"] = out["ratio"] >= 20
    return out


# -- where the remote time goes (--profile) ---------------------------------------------


def serve_profiled(home: str, port: str, out: str) -> None:
    """``tracking.py --serve-profiled HOME PORT OUT``: the server of ``modelyard server
    --no-auth`` (same app, uvicorn, one worker) under cProfile, in every thread (routes
    declared with ``def`` run in a thread pool), dumped to OUT on SIGTERM."""
    import threading

    import uvicorn

    from modelyard import load_settings
    from modelyard.api._services import Services
    from modelyard.api.app import create_app
    from modelyard.api.auth import no_auth

    settings = load_settings(
        home=home,
        store={"url": f"sqlite:///{os.path.join(home, 'modelyard.db')}"},
        server={"host": LOOPBACK, "port": int(port)},
    )
    preflight = Services(settings)  # as the CLI does: migrate a brand-new store first
    preflight.open()
    preflight.close()
    profiles: list[cProfile.Profile] = []

    def per_thread(*_: Any) -> None:  # the first event of each new thread
        p = cProfile.Profile()
        profiles.append(p)
        p.enable()  # replaces this hook in that thread

    app = create_app(settings, auth=no_auth)
    gc.collect()
    tracked_at_start = len(gc.get_objects())  # what every full collection walks, at least
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=int(port)))
    # uvicorn re-raises a captured SIGTERM after shutting down, which would kill us
    # before the profile is written: stop it ourselves instead.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    # cProfile charges the cyclic garbage collector to whatever allocated when it ran:
    # count its passes and time separately.
    gc_time: dict[str, Any] = {"passes": [0, 0, 0], "s": [0.0, 0.0, 0.0]}
    started: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            gen = info["generation"]
            gc_time["passes"][gen] += 1
            gc_time["s"][gen] += time.perf_counter() - started.pop()

    gc.callbacks.append(on_gc)
    threading.setprofile(per_thread)
    main_prof = cProfile.Profile()
    main_prof.enable()
    server.run()
    main_prof.disable()
    threading.setprofile(None)
    gc.callbacks.remove(on_gc)
    gc_time["tracked_objects_app_created"] = tracked_at_start
    with open(out + ".gc.json", "w") as f:
        json.dump(gc_time, f)
    stats = pstats.Stats(main_prof)
    for p in profiles:
        p.disable()
        with contextlib.suppress(TypeError):  # a thread that recorded nothing
            stats.add(p)
    stats.dump_stats(out)


def profile_remote_server(root: str, args: argparse.Namespace, directory: str) -> dict[str, Any]:
    """The one-call and the batched workload (3 times each) against a profiled server on
    a store of its own; writes DIR/remote_server.prof and a text summary."""
    home = os.path.join(root, "profiled-server")
    os.makedirs(home)
    out = os.path.join(directory, "remote_server.prof")
    port = free_port()
    argv = [sys.executable, os.path.abspath(__file__), "--serve-profiled", home, str(port), out]
    url = f"http://{LOOPBACK}:{port}"
    srv = ServerProcess(
        "modelyard-profiled", argv, cwd=home, env=_child_env({}),
        health_url=f"{url}/api/v1/health",
    )  # fmt: skip
    import modelyard

    keys = [f"m{k}" for k in range(args.batch_keys)]
    try:
        client = modelyard.connect(url)
        client.create_project("bench")
        for _ in range(3):
            run = client.start_run("bench", capture=False)
            for i in range(args.remote_points):
                run.log_metric("loss", 1.0 / (i + 1), step=i)
            run.flush()
            for st in range(args.remote_batch_points // len(keys)):
                run.log_metrics({k: st * 0.001 for k in keys}, step=st)
            run.end()
        client.close()
    finally:
        srv.stop()
    buf = io.StringIO()
    stats = pstats.Stats(out, stream=buf)
    stats.strip_dirs().sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    with open(out + ".gc.json") as f:
        gc_time = json.load(f)
    with open(os.path.join(directory, "remote_server.txt"), "w") as f:
        f.write(f"cyclic GC in the server, generations 0/1/2: {gc_time}\n\n")
        f.write(buf.getvalue())
    log(f"  server profile written to {out} (+ .txt); server GC: {gc_time}")
    return {"server_profile": out, "server_gc": gc_time}


def remote_breakdown(r: RemoteSides, root: str, args: argparse.Namespace) -> dict[str, Any]:
    """Where one batch request's time goes, in pieces timed on their own (median of
    ``max(7, --reps)``, a full GC pass before each): the client's encoding, the server's
    steps run in this process on the same body (the request guard's nesting check, JSON
    parsing, validation against the request model, the store's write on a scratch
    embedded store), and the whole ``POST /batches`` against the live server. The rest is
    transport, uvicorn, FastAPI, the answer, and the server's cyclic garbage collector,
    which the pieces timed here after a full pass mostly escape. Uses internals of the
    SDK and the server: a diagnostic, not an API."""
    from modelyard import Client, load_settings
    from modelyard.limits import BATCH_ROWS

    home = os.path.join(root, "breakdown")
    local = Client(load_settings(home=home, store={"url": f"sqlite:///{home}/modelyard.db"}))
    local.create_project("bench")
    shapes = {
        "one_call_batch": (args.remote_points, 1),
        "full_batch": (min(BATCH_ROWS, args.remote_batch_points), args.batch_keys),
    }
    try:
        return {
            name: _breakdown_one(r.my, local, n, keys, max(7, args.reps))
            for name, (n, keys) in shapes.items()
        }
    finally:
        local.close()


def _breakdown_one(remote: Any, local: Any, n: int, keys: int, reps: int) -> dict[str, Any]:
    from modelyard.api._guard import MAX_JSON_DEPTH, _nesting_exceeds
    from modelyard.api.schemas.metrics import BatchCreate
    from modelyard.remote.tracking import _batch_bodies
    from modelyard.tracking._buffer import Batch

    ts = int(time.time() * 1000)

    def rows(run_id: str) -> list[tuple[str, str, float, int, int]]:
        return [(run_id, f"m{i % keys}", i * 0.001, i // keys, ts) for i in range(n)]

    def batches(client: Any) -> list[Batch]:
        """One batch per rep, each for a run of its own that is still open (an ended run
        takes no more metrics)."""
        return [Batch(metrics=rows(client.tracking.create_run("bench").id)) for _ in range(reps)]

    body = _batch_bodies(Batch(metrics=rows("0" * 32)), "b" * 24)[0]
    obj = json.loads(body)
    remote_batches, local_batches = batches(remote), batches(local)
    steps: dict[str, Callable[[], Any]] = {
        "client_encode": lambda: _batch_bodies(remote_batches[0], uuid.uuid4().hex),
        "server_guard_nesting": lambda: _nesting_exceeds(body, MAX_JSON_DEPTH),
        "server_json_parse": lambda: json.loads(body),
        "server_validate": lambda: BatchCreate.model_validate(obj),
        "server_store_write": lambda: local.tracking.write_batch(
            local_batches.pop(), uuid.uuid4().hex
        ),
        "post_batches_end_to_end": lambda: remote.tracking.write_batch(remote_batches.pop()),
    }
    ms = {k: rnd(med(timed(fn, reps)[0]) * 1e3, 1) for k, fn in steps.items()}
    parts = sum(v for k, v in ms.items() if k != "post_batches_end_to_end")
    ms["rest_transport_framework_server_gc"] = rnd(ms["post_batches_end_to_end"] - parts, 1)
    log(f"  breakdown, {n} pts x {keys} keys ({len(body) / n:.0f} B/pt): {ms}")
    return {
        "points": n,
        "keys": keys,
        "body_bytes": len(body),
        "ms": ms,
        "us_per_point": {k: rnd(v * 1e3 / n, 2) for k, v in ms.items()},
    }


# -- report ------------------------------------------------------------------------------


def fmt(x: Any, nd: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "NO"
    if isinstance(x, int | float):
        return f"{x:,.{nd}f}"
    return str(x)


def fx(x: Any) -> str:
    return "-" if x is None else f"{fmt(x)}x"


def table(res: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str, str, str]] = []

    def add(name, my, ml, ratio, target="", met=None):
        rows.append((name, my, ml, ratio, target, "" if met is None else fmt(met)))

    if (r := res.get("log_metric")) is not None:
        ml = r.get("mlflow", {})
        add(
            "1. log_metric per call (pts/s)",
            fmt(r["modelyard"]["median_points_per_s"], 0),
            fmt(ml.get("median_points_per_s"), 1),
            fx(r.get("ratio")),
            TARGETS["log_metric"],
            r.get("target_met"),
        )
    if (r := res.get("batch")) is not None:
        ml = r.get("mlflow", {})
        add(
            "2. batched logging (pts/s)",
            fmt(r["modelyard"]["median_points_per_s"], 0),
            fmt(ml.get("median_points_per_s"), 0),
            fx(r.get("ratio")),
            TARGETS["batch"],
            r.get("target_met"),
        )
    if (r := res.get("search")) is not None:
        for q in ("top100_order_by_auc", "first_page_1000", "top100_pandas"):
            qq = r[q]
            target = TARGETS["search"] if q == "top100_order_by_auc" else "(info)"
            add(
                f"3. search_runs {q} (p50 ms)",
                fmt(qq["modelyard"]["p50_ms"], 2),
                fmt(qq.get("mlflow", {}).get("p50_ms"), 1),
                fx(qq.get("ratio")),
                target,
                r.get("target_met") if q == "top100_order_by_auc" else None,
            )
    if (r := res.get("history")) is not None:
        add(
            f"4. metric history {r['points']:,} pts (p50 ms)",
            fmt(r["modelyard"]["p50_ms"], 1),
            "raw sqlite3 " + fmt(r["raw_sqlite"]["p50_ms"], 1),
            fmt(r["ratio_vs_raw"], 2) + "x raw",
            TARGETS["history"],
            r["target_met"],
        )
        if "mlflow" in r:
            add(
                f"   MLflow get_metric_history {r['mlflow']['points']:,} pts",
                fmt(r["modelyard"]["p50_ms"], 1),
                fmt(r["mlflow"]["p50_ms"], 0),
                fx(r["mlflow_vs_modelyard"]),
                "(info)",
            )
    if (r := res.get("start_run")) is not None:
        on, off = r["capture_on"], r["capture_off"]
        ml = r.get("mlflow_fluent_start_run", {})
        add(
            "5. start_run capture=True p50/p95 ms",
            f"{fmt(on['median_p50_ms'], 2)} / {fmt(on['median_p95_ms'], 2)}",
            f"{fmt(ml.get('p50_ms'), 1)} / {fmt(ml.get('p95_ms'), 1)}",
            "",
            TARGETS["start_run"],
            r["target_met"],
        )
        add(
            "   start_run capture=False p50/p95 ms",
            f"{fmt(off['median_p50_ms'], 2)} / {fmt(off['median_p95_ms'], 2)}",
            "",
            "",
            "(info)",
        )
    if (r := res.get("remote_startup")) is not None:
        my, ml = r["modelyard"], r.get("mlflow", {})
        add(
            "6. server start-up to health, brand-new store (s)",
            fmt(my["brand_new_store_s"], 2),
            fmt(ml.get("brand_new_store_s"), 2),
            fx(r.get("ratio_startup_brand_new")),
            "(info)",
        )
        add(
            "   server start-up, existing store (s)",
            fmt(my["existing_store_s"], 2),
            fmt(ml.get("existing_store_s"), 2),
            fx(r.get("ratio_startup_existing")),
            "(info)",
        )
        procs = f" ({ml['processes']} procs)" if ml else ""
        add(
            "   idle server RSS / PSS, process group (MiB)",
            f"{fmt(my['idle_rss_mib'], 0)} / {fmt(my['idle_pss_mib'], 0)}"
            f" ({my['processes']} procs)",
            f"{fmt(ml.get('idle_rss_mib'), 0)} / {fmt(ml.get('idle_pss_mib'), 0)}{procs}",
            f"{fx(r.get('ratio_idle_rss'))} / {fx(r.get('ratio_idle_pss'))}",
            "(info)",
        )
    if (r := res.get("remote_log_metric")) is not None:
        ml = r.get("mlflow", {})
        add(
            "7. remote log_metric per call (pts/s)",
            fmt(r["modelyard"]["median_points_per_s"], 0),
            fmt(ml.get("median_points_per_s"), 1),
            fx(r.get("ratio")),
            TARGETS["remote_log_metric"],
            r.get("target_met"),
        )
        add(
            "   the same, counting the read-back (pts/s)",
            fmt(r["modelyard"]["median_points_per_s_incl_read_back"], 0),
            fmt(ml.get("median_points_per_s"), 1),
            fx(r.get("ratio_incl_read_back")),
            "(info)",
        )
    if (r := res.get("remote_batch")) is not None:
        ml = r.get("mlflow", {})
        add(
            "8. remote batched logging (pts/s)",
            fmt(r["modelyard"]["median_points_per_s"], 0),
            fmt(ml.get("median_points_per_s"), 0),
            fx(r.get("ratio")),
            TARGETS["remote_batch"],
            r.get("target_met"),
        )
    head = ("measurement", "Modelyard", "MLflow / ref", "ratio", "target", "met")
    return markdown_table(head, rows)


# -- main -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small workloads (smoke run, ~2-4 min; ~40 s with --only local)",
    )
    ap.add_argument("--reps", type=int, default=None, help="repetitions per measurement (3)")
    ap.add_argument(
        "--sections", help=f"comma list of sections (default: all): {', '.join(SECTIONS)}"
    )
    ap.add_argument(
        "--only",
        choices=("local", "remote"),
        help="local: sections 1-5 (embedded SDK, SQLite files); remote: sections 6-8 "
        "(modelyard server vs mlflow server on 127.0.0.1)",
    )
    ap.add_argument("--skip-mlflow", action="store_true", help="Modelyard side only")
    ap.add_argument("--points", type=int, help="log_metric points, Modelyard (20000)")
    ap.add_argument("--mlflow-points", type=int, help="log_metric points, MLflow (1000)")
    ap.add_argument("--batch-points", type=int, help="batched points, Modelyard (100000)")
    ap.add_argument("--mlflow-batch-points", type=int, help="batched points, MLflow (100000)")
    ap.add_argument("--batch-keys", type=int, default=10, help="metric keys per step (10)")
    ap.add_argument("--runs", type=int, help="runs for search_runs (10000)")
    ap.add_argument("--mlflow-api-runs", type=int, help="of those, via MLflow's API (200)")
    ap.add_argument("--hist-points", type=int, help="metric history points, Modelyard (100000)")
    ap.add_argument("--mlflow-hist-points", type=int, help="history points, MLflow (100000)")
    ap.add_argument("--start-runs", type=int, help="start_run calls per rep (50)")
    ap.add_argument("--fast-inner", type=int, default=5, help="timings per rep of fast calls")
    ap.add_argument("--remote-points", type=int, help="remote log_metric points, Modelyard (20000)")
    ap.add_argument("--mlflow-remote-points", type=int, help="the same, MLflow server (300)")
    ap.add_argument("--remote-batch-points", type=int, help="remote batched points (100000)")
    ap.add_argument(
        "--mlflow-remote-batch-points", type=int, help="the same, MLflow server (20000)"
    )
    ap.add_argument(
        "--startup-reps", type=int, help="server starts per side: 1 brand-new store + N-1 (2)"
    )
    ap.add_argument("--mlflow-workers", type=int, help="mlflow server --workers (its default)")
    ap.add_argument("--profile", metavar="DIR", help="cProfile the Modelyard side into DIR")
    ap.add_argument("--json-out", metavar="FILE", help="also write the JSON result to FILE")
    args = ap.parse_args(argv)
    full = {
        "reps": 3,
        "points": 20_000,
        "mlflow_points": 1_000,
        "batch_points": 100_000,
        "mlflow_batch_points": 100_000,
        "runs": 10_000,
        "mlflow_api_runs": 200,
        "hist_points": 100_000,
        "mlflow_hist_points": 100_000,
        "start_runs": 50,
        "remote_points": 20_000,
        "mlflow_remote_points": 300,
        "remote_batch_points": 100_000,
        "mlflow_remote_batch_points": 20_000,
        "startup_reps": 2,
    }
    quick = {
        "reps": 2,
        "points": 5_000,
        "mlflow_points": 200,
        "batch_points": 20_000,
        "mlflow_batch_points": 10_000,
        "runs": 1_000,
        "mlflow_api_runs": 50,
        "hist_points": 20_000,
        "mlflow_hist_points": 10_000,
        "start_runs": 10,
        "remote_points": 5_000,
        "mlflow_remote_points": 100,
        "remote_batch_points": 20_000,
        "mlflow_remote_batch_points": 5_000,
        "startup_reps": 1,
    }
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    group = {None: SECTIONS, "local": LOCAL_SECTIONS, "remote": REMOTE_SECTIONS}[args.only]
    if args.sections is None:
        args.sections = list(group)
    else:
        args.sections = [x.strip() for x in args.sections.split(",") if x.strip()]
        bad = set(args.sections) - set(group)
        if bad:
            ap.error(f"unknown sections {sorted(bad)}; choose from {', '.join(group)}")
    if args.startup_reps < 1:
        ap.error("--startup-reps must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-profiled"]:  # the server side of --profile (internal)
        serve_profiled(*argv[1:4])
        return 0
    args = parse_args(argv)
    prof = Profiler(args.profile)
    t_all = now()
    result: dict[str, Any] = {
        "bench": "modelyard_vs_mlflow_tracking",
        "versions": versions("modelyard", "mlflow", "SQLAlchemy", "alembic", "pandas"),
        "machine": machine(),
        "checkout": checkout_state(),
        "config": {k: v for k, v in vars(args).items() if k not in {"json_out"}},
        "targets": {k: TARGETS[k] for k in args.sections},
    }
    log(f"versions: {result['versions']}")
    benches = {
        "log_metric": bench_log_metric,
        "batch": bench_batch,
        "search": bench_search,
        "history": bench_history,
        "start_run": bench_start_run,
    }
    remote_benches = {
        "remote_startup": lambda r: bench_remote_startup(r, args),
        "remote_log_metric": lambda r: bench_remote_log_metric(r, args, prof),
        "remote_batch": lambda r: bench_remote_batch(r, args, prof),
    }
    with scratch_dir("modelyard-bench-tracking-") as root, contextlib.ExitStack() as stack:
        if any(name in LOCAL_SECTIONS for name in args.sections):
            sides = Sides(root, with_mlflow=not args.skip_mlflow)
            stack.callback(sides.close)
            result["setup_s"] = {
                "modelyard_store_init": rnd(sides.my_init_s, 2),
                "mlflow_store_init": rnd(sides.ml_init_s, 2),
            }
        remote: RemoteSides | None = None
        for name in args.sections:
            t0, load0 = now(), loadavg()
            if load0 and load0[0] > (os.cpu_count() or 1):
                log(f"warning: load average {load0} exceeds the {os.cpu_count()} cores")
            if name in REMOTE_SECTIONS:
                if remote is None:  # the servers start at the first remote section
                    remote = RemoteSides(root, args, token=None)  # None: --no-auth
                    stack.callback(remote.close)
                result[name] = remote_benches[name](remote)
            else:
                result[name] = benches[name](sides, args, prof)
            result[name]["section_s"] = rnd(now() - t0, 1)
            result[name]["loadavg_before_after"] = [load0, loadavg()]
        if remote is not None and args.profile:
            log("== where the remote time goes (--profile)")
            result["remote_breakdown"] = remote_breakdown(remote, root, args)
            remote.close()  # quiet machine for the profiled server
            result["remote_breakdown"].update(profile_remote_server(root, args, args.profile))
    result["ratios"] = {
        "log_metric_points_per_s": result.get("log_metric", {}).get("ratio"),
        "batch_points_per_s": result.get("batch", {}).get("ratio"),
        "search_top100": result.get("search", {}).get("ratio"),
        "history_vs_raw_sqlite": result.get("history", {}).get("ratio_vs_raw"),
        "history_mlflow_vs_modelyard": result.get("history", {}).get("mlflow_vs_modelyard"),
        "remote_startup_brand_new": result.get("remote_startup", {}).get("ratio_startup_brand_new"),
        "remote_startup_existing": result.get("remote_startup", {}).get("ratio_startup_existing"),
        "remote_idle_rss": result.get("remote_startup", {}).get("ratio_idle_rss"),
        "remote_log_metric_points_per_s": result.get("remote_log_metric", {}).get("ratio"),
        "remote_batch_points_per_s": result.get("remote_batch", {}).get("ratio"),
    }
    result["targets_met"] = {
        k: result[k].get("target_met") for k in args.sections if k != "remote_startup"
    }
    result["total_s"] = rnd(now() - t_all, 1)
    text = json.dumps(result, default=str)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(text + "\n")
    print(table(result), file=_REAL_STDOUT)
    if args.quick:
        print(
            "note: --quick shrinks every workload (1,000 runs, 20,000-point history); "
            "judge the targets on a full run only",
            file=_REAL_STDOUT,
        )
    print(f"total {result['total_s']} s", file=_REAL_STDOUT)
    print(text, file=_REAL_STDOUT, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
