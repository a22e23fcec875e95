"""Modelyard's inference server vs `mlflow models serve` and BentoML with adaptive
batching, side by side in one script (issue 13, item 12).

Setup: the tracking benchmark's virtualenv (MLflow, never in the project's own) runs this
script, ``mlflow models serve`` and ``modelyard serve``; BentoML has a virtualenv of its
own (in the first it would move MLflow's OpenTelemetry packages); ``wrk`` must be on the
PATH (``apt-get install wrk``):

    python3 -m venv benchmarks/.venv
    benchmarks/.venv/bin/pip install uv
    benchmarks/.venv/bin/uv pip install --python benchmarks/.venv/bin/python \
        -r benchmarks/requirements.txt -e '.[server,sklearn]'
    python3 -m venv benchmarks/.venv-bento
    benchmarks/.venv-bento/bin/pip install uv
    benchmarks/.venv-bento/bin/uv pip install --python benchmarks/.venv-bento/bin/python \
        -r benchmarks/requirements-bento.txt

Run from the repository root (each server and model: ~1 min; ``--quick`` ~15 s):

    benchmarks/.venv/bin/python benchmarks/serving.py [--quick] [--only batcher|ours|peers]

Models: LogisticRegression and RandomForest(100) on scikit-learn's breast-cancer data
(569 rows x 30 columns, seed 0), as in the shared peer harness (shared/bench/serving/);
one row per request, JSON. Each side serves each model from a fresh server:

- ``ours``: ``modelyard serve`` (open auth) over a fresh Modelyard home in which both
  models are logged and each has a deployment; ``POST /v1/deployments/{name}/predict``
  with ``{"records": [{...}]}``. Then ``ours-nolog``: the same on deployments with sample
  rate 0 (the prediction log keeps nothing); then the LR's plan changed every poll under
  wrk at the highest concurrency, every non-2xx counted.
- ``mlflow``: ``mlflow models serve --env-manager local`` of the model MLflow logged;
  ``POST /invocations`` with ``dataframe_split``.
- ``bento``: ``bentoml serve bento_service:Batched`` (serving_peers/: adaptive batching,
  64 rows, ``--bento-latency-ms``, default 100, the peer's best in the shared figures);
  ``POST /predict`` with ``{"rows": [[...]]}``.

For each: start-up (process start to its first successful prediction), idle memory (RSS
and PSS of its process group, once its CPU has settled), a warm-up, then wrk
(``serving_peers/post.lua``, one wrk thread, as the shared harness) at each concurrency
(1, 16, 64) for ``--dur`` seconds: successful (2xx) answers a second, the rest counted
apart, latency p50/p99 of all answers, and the server's CPU. ``batcher``: the micro-batcher
in this process (no HTTP), closed loop at each concurrency: latency and requests a second,
against ``predict`` alone and against each request predicted on its own on two threads;
and open loop (``--open-rate`` requests a second), with and without the adaptive wait.

Servers run in process groups of their own and are stopped by their PIDs. Scratch files
go under ``$BENCH_TMPDIR`` (``BENCH_KEEP_TMP=1`` keeps them, with each server's log).
Progress goes to stderr; stdout gets the tables and, last, one JSON line.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import median
from typing import Any

from _bench import loadavg, log, machine, markdown_table, rnd, scratch_dir, versions

from tracking import (  # importing it keeps stdout for results (the libraries' output: stderr)
    _REAL_STDOUT,
    LOOPBACK,
    ServerProcess,
    _child_env,
    checkout_state,
    free_port,
    pct,
    venv_bin,
)

HERE = Path(__file__).resolve().parent
PEERS_DIR = HERE / "serving_peers"
LUA = PEERS_DIR / "post.lua"
PROJECT = "bench"
TRUSTED = ["sklearn.tree._tree.Tree"]  # what a RandomForest's skops file holds
MODELS = ("lr", "rf")
SIDES = ("ours", "mlflow", "bento")
SECTIONS = ("batcher", "ours", "peers")
TARGETS = {
    "lr_c64_ok_per_s": 2500.0,
    "lr_c64_p99_ms": 50.0,
    "rf_c64_ok_per_s": 2400.0,
    "c1_p50_over_predict_ms": 1.0,
    "startup_s": 2.0,
    "idle_rss_mib": 200.0,
    "log_cost": 0.10,  # the share of throughput (ok/s at 64) the prediction log may cost
}


def now() -> float:
    return time.perf_counter()


# -- the models ------------------------------------------------------------------------


def train() -> dict[str, Any]:
    """LR and RF(100) on breast-cancer, seed 0, as the shared peer harness trains them."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    data = load_breast_cancer()
    x, y = data.data.astype(np.float64), data.target
    models = {
        "lr": LogisticRegression(max_iter=10000, random_state=0).fit(x, y),
        "rf": RandomForestClassifier(n_estimators=100, random_state=0).fit(x, y),
    }
    return {"models": models, "x": x, "columns": [str(c) for c in data.feature_names]}


def write_bodies(work: Path, m: dict[str, Any]) -> dict[str, Path]:
    row = [float(v) for v in m["x"][0]]
    bodies = {
        "ours": {"records": [dict(zip(m["columns"], row, strict=True))]},
        "mlflow": {"dataframe_split": {"columns": m["columns"], "data": [row]}},
        "bento": {"rows": [row]},
    }
    paths = {}
    for side, body in bodies.items():
        paths[side] = work / f"body-{side}.json"
        paths[side].write_text(json.dumps(body))
    return paths


# -- the micro-batcher in this process -------------------------------------------------


def bench_batcher(m: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Per model: ``predict`` alone on one row; then, closed loop at each concurrency,
    the batcher (one batch at a time on its worker thread); open loop at
    ``--open-rate``, the batcher with no wait and with a 2 ms one; and, against the
    batcher, each request predicted on its own on a pool of two threads."""
    import concurrent.futures

    import numpy as np

    from modelyard.serving._parts import Rows
    from modelyard.serving.batching import MicroBatcher

    x = m["x"]
    out: dict[str, Any] = {}
    for name in args.models:
        model = m["models"][name]
        one = x[:1]
        for _ in range(200):
            model.predict(one)
        alone = []
        for _ in range(args.batcher_calls):
            t0 = now()
            model.predict(one)
            alone.append(now() - t0)

        def predict_batch(batch: list[Rows], model: Any = model) -> list[Sequence[Any]]:
            tensors = [r.tensor for r in batch]
            joined = tensors[0] if len(tensors) == 1 else np.concatenate(tensors)
            outputs = model.predict(joined).tolist()
            answers, at = [], 0
            for r in batch:
                answers.append(outputs[at : at + r.count])
                at += r.count
            return answers

        res: dict[str, Any] = {"predict_1row_p50_ms": rnd(median(alone) * 1e3, 3)}
        for conc in args.conc:
            res[f"batcher_c{conc}"] = asyncio.run(
                _drive_batcher(MicroBatcher, predict_batch, x, conc, args)
            )
        # open loop (arrivals that do not wait on answers, as from many HTTP clients):
        # what the adaptive wait buys, against no wait at all
        for wait_ms in (0.0, 2.0):
            res[f"open{args.open_rate}_wait{wait_ms:g}ms"] = asyncio.run(
                _drive_open(MicroBatcher, predict_batch, x, wait_ms, args)
            )
        # the alternative to one batch at a time: each request its own predict, on two
        # threads (the cores this machine has)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        for conc in args.conc:
            res[f"unbatched_2threads_c{conc}"] = asyncio.run(
                _drive_unbatched(model.predict, pool, x, conc, args)
            )
        pool.shutdown()
        c1 = res["batcher_c1"]
        res["c1_p50_over_predict_ms"] = rnd(c1["p50_ms"] - res["predict_1row_p50_ms"], 3)
        out[name] = res
        log(f"  batcher {name}: {res}")
    return out


async def _drive_batcher(
    make: Any, predict_batch: Any, x: Any, conc: int, args: argparse.Namespace
) -> dict[str, Any]:
    from modelyard.serving._parts import Rows

    sizes: list[int] = []
    batcher = make(
        predict_batch,
        max_rows=64,
        max_wait_ms=2.0,
        max_queue_ms=500.0,
        on_batch=lambda n, s: sizes.append(n),
    )
    rows = [Rows(count=1, tensor=x[i : i + 1]) for i in range(64)]
    latencies: list[float] = []
    stop_at = now() + args.batcher_s

    async def client(k: int) -> None:
        while now() < stop_at:
            t0 = now()
            await batcher.submit(rows[k % 64])
            latencies.append(now() - t0)

    t0 = now()
    await asyncio.gather(*(client(k) for k in range(conc)))
    elapsed = now() - t0
    await batcher.close()
    ms = [s * 1e3 for s in latencies]
    return {
        "req_per_s": rnd(len(ms) / elapsed, 0),
        "p50_ms": rnd(pct(ms, 50), 3),
        "p99_ms": rnd(pct(ms, 99), 3),
        "mean_batch_rows": rnd(sum(sizes) / max(len(sizes), 1), 1),
    }


async def _drive_open(
    make: Any, predict_batch: Any, x: Any, wait_ms: float, args: argparse.Namespace
) -> dict[str, Any]:
    """``--open-rate`` one-row requests a second, sent every millisecond whatever the
    answers; the process's CPU time per request says what the batches saved."""
    from modelyard.serving._parts import Rows

    sizes: list[int] = []
    batcher = make(
        predict_batch,
        max_rows=64,
        max_wait_ms=wait_ms,
        max_queue_ms=500.0,
        on_batch=lambda n, s: sizes.append(n),
    )
    rows = [Rows(count=1, tensor=x[i : i + 1]) for i in range(64)]
    latencies: list[float] = []

    async def one(i: int) -> None:
        t0 = now()
        await batcher.submit(rows[i % 64])
        latencies.append(now() - t0)

    per_ms = max(1, args.open_rate // 1000)
    tasks, sent = [], 0
    cpu0, t0 = time.process_time(), now()
    while now() - t0 < args.batcher_s:
        tasks += [asyncio.ensure_future(one(sent + k)) for k in range(per_ms)]
        sent += per_ms
        await asyncio.sleep(0.001)
    await asyncio.gather(*tasks)
    elapsed, cpu = now() - t0, time.process_time() - cpu0
    await batcher.close()
    ms = [s * 1e3 for s in latencies]
    return {
        "req_per_s": rnd(sent / elapsed, 0),
        "p50_ms": rnd(pct(ms, 50), 3),
        "p99_ms": rnd(pct(ms, 99), 3),
        "mean_batch_rows": rnd(sum(sizes) / max(len(sizes), 1), 1),
        "cpu_us_per_req": rnd(cpu / max(sent, 1) * 1e6, 0),
    }


async def _drive_unbatched(
    predict: Any, pool: Any, x: Any, conc: int, args: argparse.Namespace
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    stop_at = now() + args.batcher_s

    async def client(k: int) -> None:
        while now() < stop_at:
            t0 = now()
            await loop.run_in_executor(pool, predict, x[k % 64 : k % 64 + 1])
            latencies.append(now() - t0)

    t0 = now()
    await asyncio.gather(*(client(k) for k in range(conc)))
    elapsed = now() - t0
    ms = [s * 1e3 for s in latencies]
    return {
        "req_per_s": rnd(len(ms) / elapsed, 0),
        "p50_ms": rnd(pct(ms, 50), 3),
        "p99_ms": rnd(pct(ms, 99), 3),
        "mean_batch_rows": 1.0,
    }


# -- wrk -------------------------------------------------------------------------------


def wrk(url: str, body: Path, conc: int, dur: float) -> dict[str, Any]:
    """wrk (one thread, ``conc`` connections) for ``dur`` seconds; only 2xx answers count
    as successful (wrk's status errors are answers of 400 and over)."""
    argv = [
        "wrk", "-t1", f"-c{conc}", f"-d{max(1, round(dur))}s", "--timeout", "10s",
        "-s", str(LUA), url,
    ]  # fmt: skip
    done = subprocess.run(
        argv, env={**os.environ, "BODY_FILE": str(body)}, capture_output=True, text=True,
        timeout=dur + 30,
    )  # fmt: skip
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {done.stdout[-500:]} {done.stderr[-500:]}")
    r = json.loads(line.split(" ", 1)[1])
    failed = r["timeout"] + r["read"] + r["write"] + r["connect"]  # no answer at all
    ok = max(r["requests"] - r["status"], 0)
    return {
        "ok_per_s": rnd(ok / r["duration_s"], 1),
        "all_per_s": rnd(r["rps"], 1),
        "non_2xx": r["status"],
        "errors": failed,
        "p50_ms": rnd(r["p50_ms"], 2),
        "p99_ms": rnd(r["p99_ms"], 2),
        "duration_s": r["duration_s"],
    }


def post(url: str, body: bytes) -> int:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


# -- the servers -----------------------------------------------------------------------


class Side(abc.ABC):
    """How to start one side's server for one model and where to send its requests."""

    name: str

    @abc.abstractmethod
    def start(self, model: str, port: int) -> ServerProcess: ...

    @abc.abstractmethod
    def url(self, model: str, port: int) -> str: ...


class Ours(Side):
    name = "ours"

    def __init__(self, work: Path, m: dict[str, Any]) -> None:
        import pandas as pd

        from modelyard import Client, load_settings

        self.home = work / "modelyard"
        self.home.mkdir()
        self.env = {
            "MODELYARD_HOME": str(self.home),
            "MODELYARD_STORE_URL": f"sqlite:///{self.home / 'modelyard.db'}",
            "MODELYARD_SERVING_AUTH": "open",
            # skops trusts no tree of a forest by default: the registry's setting vouches
            "MODELYARD_REGISTRY_TRUSTED_TYPES": json.dumps(TRUSTED),
        }
        example = pd.DataFrame(m["x"][:5], columns=m["columns"])
        settings = load_settings(
            home=self.home,
            store={"url": self.env["MODELYARD_STORE_URL"]},
            tracking={"capture_packages": False, "system_metrics_interval_s": 0},
        )
        self.settings = settings
        with Client(settings) as client:
            if not hasattr(client, "deployments"):
                raise Unavailable("this checkout has no `client.deployments` (issue 13, s1)")
            client.create_project(PROJECT)
            with client.start_run(PROJECT, capture=False):
                for name in MODELS:
                    client.models.log(m["models"][name], name, input_example=example)
                # lr/2, the canary of the plan changes: the same model, other bytes
                canary = copy.deepcopy(m["models"]["lr"]).set_params(max_iter=10001)
                client.models.log(canary, "lr", input_example=example)
            client.models.request("lr", 2, to="staging", project=PROJECT)
            for name in MODELS:  # only staging and production versions take traffic
                client.models.request(name, 1, to="staging", project=PROJECT)
                client.deployments.create(name, f"{name}/1", project=PROJECT)
                # the same with the prediction log off (it keeps no request)
                client.deployments.create(f"{name}-nolog", f"{name}/1", project=PROJECT,
                                          sample_rate=0.0)  # fmt: skip

    def start(self, model: str, port: int) -> ServerProcess:
        argv = [
            venv_bin("modelyard"), "serve", "--project", PROJECT, "--deployment", model,
            "--host", LOOPBACK, "--port", str(port),
        ]  # fmt: skip
        return ServerProcess(
            f"ours-{model}",
            argv,
            cwd=str(self.home),
            env=_child_env(self.env),
            health_url=f"http://{LOOPBACK}:{port}/readyz",
        )

    def url(self, model: str, port: int) -> str:
        return f"http://{LOOPBACK}:{port}/v1/deployments/{model}/predict"


class OursNoLog(Side):
    """``modelyard serve`` with its prediction log off: the deployments ``lr-nolog`` and
    ``rf-nolog`` (sample rate 0) of the same home."""

    name = "ours-nolog"

    def __init__(self, ours: Ours) -> None:
        self.ours = ours

    def start(self, model: str, port: int) -> ServerProcess:
        return self.ours.start(f"{model}-nolog", port)

    def url(self, model: str, port: int) -> str:
        return self.ours.url(f"{model}-nolog", port)


def bench_plan_change(ours: Ours, body: Path, args: argparse.Namespace) -> dict[str, Any]:
    """``modelyard serve`` of ``lr`` under wrk at the highest concurrency while its plan
    changes every ``plan_poll_s`` + 0.1 s (all to lr/1, then a 50/50 canary with lr/2, and
    back): every answer must still be a 2xx."""
    from modelyard import Client
    from modelyard.serving.entities import Route, TrafficPlan

    plans = [
        TrafficPlan((Route("lr", "1", 50), Route("lr", "2", 50))),
        TrafficPlan((Route("lr", "1", 100),)),
    ]
    port = free_port()
    srv = ours.start("lr", port)
    try:
        url, data = ours.url("lr", port), body.read_bytes()
        t0 = now()
        while post(url, data) != 200:
            if now() - t0 > 120:
                raise RuntimeError(f"no successful prediction from {url}")
            time.sleep(0.02)
        wrk(url, body, 16, args.warmup)
        result: dict[str, Any] = {}
        done = threading.Event()

        def load() -> None:
            result.update(wrk(url, body, max(args.conc), args.dur))
            done.set()

        loader = threading.Thread(target=load)
        loader.start()
        changes = 0
        with Client(ours.settings) as client:
            while not done.wait(client.settings.serving.plan_poll_s + 0.1):
                client.deployments.set_traffic(
                    "lr", plans[changes % 2], project=PROJECT, reason="benchmark"
                )
                changes += 1
        loader.join()
        metrics = urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=10).read()
        answered_by = {
            found.group(1)
            for line in metrics.decode().splitlines()
            if line.startswith("modelyard_serving_predictions_total{")
            and (found := re.search(r'[{,]version="([^"]+)"', line))
        }
        result.update(plan_changes=changes, versions_answering=len(answered_by),
                      loadavg=loadavg())  # fmt: skip
        log(f"  ours lr plan changes under c={max(args.conc)}: {result}")
        return result
    finally:
        stop_server(srv)


class MlflowServe(Side):
    name = "mlflow"

    def __init__(self, work: Path, m: dict[str, Any]) -> None:
        import mlflow
        import mlflow.sklearn
        from mlflow.models import infer_signature

        self.root = work / "mlflow"
        self.root.mkdir()
        self.uri = f"sqlite:///{self.root / 'mlflow.db'}"
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_experiment("serving-bench")
        self.model_uris = {}
        x = m["x"]
        for name in MODELS:
            model = m["models"][name]
            signature = infer_signature(x[:5], model.predict(x[:5]))
            trusted = ["sklearn.tree._tree.Tree"] if name == "rf" else None
            with mlflow.start_run(run_name=name):
                info = mlflow.sklearn.log_model(
                    model, name="model", signature=signature, input_example=x[:2],
                    skops_trusted_types=trusted,
                )  # fmt: skip
            self.model_uris[name] = info.model_uri

    def start(self, model: str, port: int) -> ServerProcess:
        argv = [
            venv_bin("mlflow"), "models", "serve", "-m", self.model_uris[model],
            "--env-manager", "local", "--host", LOOPBACK, "--port", str(port),
        ]  # fmt: skip
        env = _child_env(
            {
                "MLFLOW_TRACKING_URI": self.uri,
                "MLFLOW_DISABLE_TELEMETRY": "true",
                # it starts `uvicorn` by name: the one beside it
                "PATH": f"{Path(venv_bin('mlflow')).parent}{os.pathsep}{os.environ['PATH']}",
            }
        )
        return ServerProcess(
            f"mlflow-{model}",
            argv,
            cwd=str(self.root),
            env=env,
            health_url=f"http://{LOOPBACK}:{port}/ping",
        )

    def url(self, model: str, port: int) -> str:
        return f"http://{LOOPBACK}:{port}/invocations"


class Bento(Side):
    name = "bento"

    def __init__(self, work: Path, m: dict[str, Any], venv: Path, latency_ms: int) -> None:
        import joblib

        self.bentoml = venv / "bin" / "bentoml"
        if not self.bentoml.exists():
            raise Unavailable(f"no {self.bentoml} (see benchmarks/requirements-bento.txt)")
        self.root = work / "bento"
        (self.root / "home").mkdir(parents=True)
        self.latency_ms = latency_ms
        self.paths = {}
        for name in MODELS:
            self.paths[name] = self.root / f"{name}.joblib"
            joblib.dump(m["models"][name], self.paths[name])

    def start(self, model: str, port: int) -> ServerProcess:
        argv = [
            str(self.bentoml), "serve", "bento_service:Batched", "--working-dir", str(PEERS_DIR),
            "--host", LOOPBACK, "--port", str(port),
        ]  # fmt: skip
        home = self.root / "home"
        env = _child_env(
            {
                "MODEL_PATH": str(self.paths[model]),
                "MAX_LATENCY_MS": str(self.latency_ms),
                "BENTOML_DO_NOT_TRACK": "true",
                "DO_NOT_TRACK": "true",
                "HOME": str(home),
                "BENTOML_HOME": str(home / "bentoml"),
                "XDG_CACHE_HOME": str(home / ".cache"),
                "PATH": f"{self.bentoml.parent}{os.pathsep}{os.environ['PATH']}",
            }
        )
        return ServerProcess(
            f"bento-{model}",
            argv,
            cwd=str(self.root),
            env=env,
            health_url=f"http://{LOOPBACK}:{port}/readyz",
        )

    def url(self, model: str, port: int) -> str:
        return f"http://{LOOPBACK}:{port}/predict"


def tree(pid: int) -> list[Any]:
    """The server's process and all its descendants: BentoML's workers leave the
    server's process group, so the group is not enough."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_memory(pid: int) -> dict[str, Any]:
    import psutil

    rss = pss = 0
    procs = tree(pid)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            info = p.memory_full_info()
            rss, pss = rss + info.rss, pss + info.pss
    return {"processes": len(procs), "rss_mib": rnd(rss / 2**20, 1), "pss_mib": rnd(pss / 2**20, 1)}


def tree_cpu_s(pid: int) -> float:
    import psutil

    total = 0.0
    for p in tree(pid):
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def wait_idle(pid: int, quiet_s: float = 2.0, timeout: float = 60.0) -> bool:
    """Until the server's processes use under 5% of a core for ``quiet_s`` in a row
    (servers go on importing after they first answer)."""
    t0, quiet, prev = now(), 0.0, tree_cpu_s(pid)
    while now() - t0 < timeout and quiet < quiet_s:
        time.sleep(0.5)
        cur = tree_cpu_s(pid)
        quiet = quiet + 0.5 if (cur - prev) / 0.5 < 0.05 else 0.0
        prev = cur
    return quiet >= quiet_s


def stop_server(srv: ServerProcess) -> None:
    """Stop the server by its process group, then any descendant that left the group, each
    by its own PID."""
    import psutil

    left = tree(srv.pid)[1:]
    srv.stop()
    for p in left:
        with contextlib.suppress(psutil.Error):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                log(f"  killing {srv.name}'s leftover process {p.pid}")
                p.kill()


class Unavailable(Exception):
    """A side that cannot run in this checkout or environment (the reason is reported)."""


def bench_server(side: Side, model: str, body: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Start, first answer, idle memory, warm-up, wrk at each concurrency, stop."""
    port = free_port()
    t0 = now()
    srv = side.start(model, port)
    try:
        url, data = side.url(model, port), body.read_bytes()
        status = 0
        while now() - t0 < 120:
            status = post(url, data)
            if status == 200:
                break
            time.sleep(0.02)
        if status != 200:
            raise RuntimeError(f"no successful prediction from {url} (last status {status})")
        res: dict[str, Any] = {
            "health_s": rnd(srv.startup_s, 2),
            "first_answer_s": rnd(now() - t0, 2),
        }
        settled = wait_idle(srv.pid)  # False: still busy after a minute (measured anyway)
        res["idle"] = {**tree_memory(srv.pid), "settled": settled}
        wrk(url, body, 16, args.warmup)
        res["runs"] = {}
        for conc in args.conc:
            peak = [0.0]
            stop = threading.Event()

            def sample(stop: threading.Event = stop, peak: list[float] = peak) -> None:
                while not stop.wait(1.0):
                    peak[0] = max(peak[0], tree_memory(srv.pid)["rss_mib"])

            sampler = threading.Thread(target=sample)
            sampler.start()
            cpu0 = tree_cpu_s(srv.pid)
            r = wrk(url, body, conc, args.dur)
            stop.set()
            sampler.join()
            r["server_cpu_cores"] = rnd((tree_cpu_s(srv.pid) - cpu0) / r["duration_s"], 2)
            r["rss_peak_mib"] = peak[0] or None
            r["loadavg"] = loadavg()
            res["runs"][conc] = r
            log(f"  {side.name} {model} c={conc}: {r}")
        return res
    finally:
        stop_server(srv)


def checks(results: dict[str, Any]) -> dict[str, Any]:
    """Issue 13's targets for ``modelyard serve`` (None: not measured in this run)."""
    ours = results.get("servers", {}).get("ours", {})
    batcher = results.get("batcher", {})

    def run(model: str, conc: int) -> dict[str, Any] | None:
        runs = ours.get(model, {}).get("runs", {})
        return runs.get(conc) if isinstance(runs, dict) else None

    out: dict[str, Any] = {}
    lr64, rf64 = run("lr", 64), run("rf", 64)
    if lr64:
        out["lr_c64_ok_per_s"] = lr64["ok_per_s"] >= TARGETS["lr_c64_ok_per_s"]
        out["lr_c64_p99_ms"] = lr64["p99_ms"] <= TARGETS["lr_c64_p99_ms"]
        out["lr_c64_zero_errors"] = lr64["non_2xx"] + lr64["errors"] == 0
    if rf64:
        out["rf_c64_ok_per_s"] = rf64["ok_per_s"] >= TARGETS["rf_c64_ok_per_s"]
        out["rf_c64_zero_errors"] = rf64["non_2xx"] + rf64["errors"] == 0
    for model, res in ours.items():
        if "first_answer_s" in res:
            out[f"{model}_startup_s"] = res["first_answer_s"] <= TARGETS["startup_s"]
            out[f"{model}_idle_rss_mib"] = res["idle"]["rss_mib"] <= TARGETS["idle_rss_mib"]
    for model, res in batcher.items():
        out[f"{model}_batcher_c1_p50_over_predict_ms"] = (
            res["c1_p50_over_predict_ms"] <= TARGETS["c1_p50_over_predict_ms"]
        )
        c1 = run(model, 1)
        if c1:  # through HTTP: wrk's p50 at one connection against predict alone
            over = c1["p50_ms"] - res["predict_1row_p50_ms"]
            out[f"{model}_c1_p50_over_predict_ms"] = over <= TARGETS["c1_p50_over_predict_ms"]
    nolog = results.get("servers", {}).get("ours-nolog", {})
    for model in ours:
        on, off = run(model, 64), nolog.get(model, {}).get("runs", {}).get(64)
        if on and off:
            cost = 1 - on["ok_per_s"] / off["ok_per_s"]
            out[f"{model}_c64_log_cost"] = cost <= TARGETS["log_cost"]
    plan = results.get("plan_change")
    if plan and "non_2xx" in plan:
        out["plan_change_zero_failures"] = plan["non_2xx"] + plan["errors"] == 0
    return out


def tables(results: dict[str, Any]) -> str:
    parts = []
    batcher = results.get("batcher")
    if batcher:
        rows = []
        for model, res in batcher.items():
            for key, r in res.items():
                if isinstance(r, dict):
                    rows.append((model, key, r["req_per_s"], r["p50_ms"], r["p99_ms"],
                                 r["mean_batch_rows"], r.get("cpu_us_per_req", "")))  # fmt: skip
            rows.append((model, "predict alone, 1 row", "", res["predict_1row_p50_ms"], "", "", ""))
        head = ("model", "how", "req/s", "p50 ms", "p99 ms", "rows/batch", "CPU us/req")
        parts.append("Micro-batcher in process\n\n" + markdown_table(head, rows))
    servers = results.get("servers", {})
    rows, start_rows = [], []
    for side, per_model in servers.items():
        for model, res in per_model.items():
            if "runs" not in res:
                why = " ".join(str(res.get("skipped") or res.get("error")).split())
                rows.append((side, model, why[:90], *[""] * 7))
                continue
            for conc, r in res["runs"].items():
                rows.append((side, model, conc, r["ok_per_s"], r["non_2xx"], r["errors"],
                             r["p50_ms"], r["p99_ms"], r["server_cpu_cores"],
                             r["rss_peak_mib"]))  # fmt: skip
            idle = res["idle"]
            start_rows.append((side, model, res["first_answer_s"], idle["processes"],
                               idle["rss_mib"], idle["pss_mib"]))  # fmt: skip
    if rows:
        head = ("server", "model", "c", "ok/s", "non-2xx", "no answer", "p50 ms", "p99 ms",
                "srv CPU", "RSS MiB")  # fmt: skip
        parts.append("Servers under wrk\n\n" + markdown_table(head, rows))
    if start_rows:
        head = ("server", "model", "first answer s", "procs", "idle RSS MiB", "idle PSS MiB")
        parts.append("Start-up and idle memory\n\n" + markdown_table(head, start_rows))
    plan = results.get("plan_change")
    if plan and "non_2xx" in plan:
        head = ("plan changes", "versions answering", "ok/s", "non-2xx", "no answer", "p99 ms")
        row = (plan["plan_changes"], plan["versions_answering"], plan["ok_per_s"],
               plan["non_2xx"], plan["errors"], plan["p99_ms"])  # fmt: skip
        parts.append("ours, lr: plan changes under wrk\n\n" + markdown_table(head, [row]))
    return "\n\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=SECTIONS, action="append", help="repeatable")
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--conc", default="1,16,64")
    ap.add_argument("--dur", type=float, default=15.0, help="seconds per wrk run")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of wrk before")
    ap.add_argument("--bento-venv", type=Path, default=HERE / ".venv-bento")
    ap.add_argument("--bento-latency-ms", type=int, default=100)
    ap.add_argument("--batcher-s", type=float, default=3.0, help="seconds per batcher run")
    ap.add_argument("--batcher-calls", type=int, default=2000)
    ap.add_argument("--open-rate", type=int, default=2000, help="open-loop requests/s")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    if args.quick:
        args.dur, args.warmup, args.batcher_s, args.batcher_calls = 2.0, 1.0, 0.5, 300
    args.models = [m for m in args.models.split(",") if m]
    args.conc = [int(c) for c in args.conc.split(",")]
    sections = args.only or list(SECTIONS)
    if ("ours" in sections or "peers" in sections) and shutil.which("wrk") is None:
        sys.exit("wrk is not on the PATH (apt-get install wrk)")

    results: dict[str, Any] = {
        "machine": machine(),
        "versions": versions("modelyard", "mlflow", "scikit-learn", "numpy", "uvicorn"),
        "checkout": checkout_state(),
        "loadavg_before": loadavg(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    log("training the models")
    m = train()
    with scratch_dir("serving-bench-") as scratch:
        work = Path(scratch)
        bodies = write_bodies(work, m)
        if "batcher" in sections:
            log("micro-batcher in process")
            results["batcher"] = bench_batcher(m, args)
        makers: list[tuple[str, Callable[[], Side]]] = []
        ours: list[Ours] = []  # the home both of our sides serve from

        def make_ours() -> Side:
            ours.append(Ours(work, m))
            return ours[0]

        def make_nolog() -> Side:
            if not ours:
                raise Unavailable("`modelyard serve` could not be prepared")
            return OursNoLog(ours[0])

        if "ours" in sections:
            makers.append(("ours", make_ours))
            makers.append(("ours-nolog", make_nolog))
        if "peers" in sections:
            makers.append(("mlflow", lambda: MlflowServe(work, m)))
            makers.append(("bento", lambda: Bento(work, m, args.bento_venv, args.bento_latency_ms)))
        servers: dict[str, Any] = results.setdefault("servers", {})
        for name, make in makers:
            log(f"{name}: preparing")
            try:
                side = make()
            except Unavailable as exc:
                log(f"  {name} skipped: {exc}")
                servers[name] = {model: {"skipped": str(exc)} for model in args.models}
                continue
            except Exception as exc:  # its set-up failed: reported, the other sides run
                log(f"  {name} could not be prepared: {exc!r}")
                servers[name] = {model: {"error": repr(exc)[:500]} for model in args.models}
                continue
            for model in args.models:
                log(f"{name} {model}")
                try:
                    res = bench_server(side, model, bodies[name.split("-")[0]], args)
                except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError) as exc:
                    log(f"  {name} {model} failed: {exc}")
                    res = {"error": str(exc)[:500]}
                servers.setdefault(name, {})[model] = res
        if ours and "lr" in args.models:
            log("ours: a plan change every poll under load")
            try:
                results["plan_change"] = bench_plan_change(ours[0], bodies["ours"], args)
            except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError) as exc:
                log(f"  plan change under load failed: {exc}")
                results["plan_change"] = {"error": str(exc)[:500]}
    results["loadavg_after"] = loadavg()
    results["targets"] = TARGETS
    results["checks"] = checks(results)
    print(tables(results), file=_REAL_STDOUT)
    line = json.dumps(results, default=str)
    print(line, file=_REAL_STDOUT, flush=True)
    if args.json_out:
        args.json_out.write_text(line + "\n")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
