"""Modelyard vs MLflow: the model registry, side by side in one script.

Setup: the tracking benchmark's virtualenv (MLflow never goes into the project's own):

    python3 -m venv benchmarks/.venv
    benchmarks/.venv/bin/pip install uv
    benchmarks/.venv/bin/uv pip install --python benchmarks/.venv/bin/python \
        -r benchmarks/requirements.txt -e '.[server,sklearn]'

Run from the repository root (~6-10 minutes on 2 cores; ``--quick`` ~1-2):

    benchmarks/.venv/bin/python benchmarks/registry.py [--quick] [--only local|remote]

Each tool keeps its store in a SQLite file of its own in a fresh scratch directory
(``$BENCH_TMPDIR`` or the system temp dir; ``BENCH_KEEP_TMP=1`` keeps it). The embedded
half uses each tool's client in this process (Modelyard's ``Client``; MLflow's
``MlflowClient`` on ``sqlite:///`` with a local artifact root); the server half starts
``modelyard server --no-auth`` and ``mlflow server`` on 127.0.0.1 over the same stores
(each in its own process group, stopped by its PID) and goes through them.

Operations, each timed per call (p50 and p95 of ``--reps`` calls, after warm-up):

1. create a version (like for like): a version of a model a run already logged, pointing at
   its stored artifacts and copying nothing. Modelyard ``model_service.register_from_run``
   of a run's artifact folder (a small LogisticRegression as skops, logged before the
   timing as one tree artifact per call, each with a file that makes its bytes new, since
   the same bytes are the same version); MLflow ``create_model_version`` of the model it
   logged. Target: >= 5x, and through the server p50 <= 5 ms.
   ``create_upload`` (Modelyard only, no MLflow call does this): ``model_service.register``
   of a local folder, its files stored (uploaded, through the server) with the version.
2. get a version by alias: ``models.get_version(name, alias="champion")`` vs
   ``get_model_version_by_alias``.
3. search among ``--versions`` versions (``--models`` models of equal size): the versions
   of one model (``models.list_versions(name)`` vs ``search_model_versions("name='..'")``),
   every one returned.
4. load a scikit-learn random forest (``--trees`` trees) by alias into a model object:
   ``models.load("rf@champion")`` (skops, each blob verified against its digest) vs
   ``mlflow.sklearn.load_model("models:/rf@champion")`` (pickle). Target >= 5x.

The versions searched are registered through each tool's own API once (timed and
reported as ``populate``, never counted in an operation).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _bench import loadavg, log, machine, markdown_table, rnd, scratch_dir, versions

from tracking import (  # importing it keeps stdout for results (the libraries' output: stderr)
    _REAL_STDOUT,
    ServerProcess,
    checkout_state,
    pct,
    start_mlflow_server,
    start_modelyard_server,
)

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
PROJECT = "bench"
TRUSTED = ["sklearn.tree._tree.Tree"]
OPERATIONS = ("create", "create_upload", "get_by_alias", "search", "load_by_alias")
TARGET_RATIO = 5.0
TARGET_CREATE_SERVER_MS = 5.0


def now() -> float:
    return time.perf_counter()


def timed(fn: Callable[[int], Any], n: int, warm: int = 3) -> dict[str, Any]:
    """p50/p95 (ms) of ``n`` calls of ``fn(i)`` after ``warm`` untimed ones."""
    for i in range(warm):
        fn(-1 - i)
    lat = []
    for i in range(n):
        t0 = now()
        fn(i)
        lat.append(now() - t0)
    return {"n": n, "p50_ms": rnd(pct(lat, 50) * 1e3, 3), "p95_ms": rnd(pct(lat, 95) * 1e3, 3)}


def models() -> dict[str, Any]:
    """A small LogisticRegression (the versions created) and a random forest (loaded)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return {
        "x": x,
        "lr": LogisticRegression(max_iter=5000).fit(x, y),
        "rf": lambda trees: RandomForestClassifier(n_estimators=trees, random_state=0).fit(x, y),
    }


# -- Modelyard ---------------------------------------------------------------------------


class MySide:
    """Modelyard: a client (embedded, or of a server) and a folder the flavor wrote."""

    def __init__(self, client: Any, folder: Path, setup: dict[str, Any]) -> None:
        self.c = client
        self.folder = folder
        self.setup = setup

    def create(self, name: str, n: int, warm: int) -> Callable[[int], Any]:
        """Register a run's artifact folder: ``warm + n`` folders are logged first."""
        note = self.folder / "note.txt"
        stamp = time.time_ns()
        with self.c.start_run(PROJECT, capture=False) as run:
            for i in range(-warm, n):
                note.write_text(f"{stamp}-{i}")
                run.log_artifact(self.folder, f"lr{i}")
            run_id = str(run.id)

        def one(i: int) -> Any:
            return self.c.model_service.register_from_run(
                name, project=PROJECT, run_id=run_id, path=f"lr{i}", **self.setup["kw"]
            )

        return one

    def create_upload(self, name: str, n: int = 0, warm: int = 0) -> Callable[[int], Any]:
        note = self.folder / "note.txt"
        stamp = time.time_ns()

        def one(i: int) -> Any:
            note.write_text(f"{stamp}-{i}")  # new bytes: a new version (a few µs)
            return self.c.model_service.register(
                name, self.folder, project=PROJECT, run_id=self.setup["run_id"], **self.setup["kw"]
            )

        return one

    def get_by_alias(self, name: str) -> Callable[[int], Any]:
        return lambda i: self.c.models.get_version(name, alias="champion", project=PROJECT)

    def search(self, name: str) -> Callable[[int], Any]:
        return lambda i: self.c.models.list_versions(name, project=PROJECT)

    def load(self, name: str) -> Callable[[int], Any]:
        return lambda i: self.c.models.load(f"{name}@champion", project=PROJECT, trusted=TRUSTED)


def my_prepare(client: Any, work: Path, m: dict[str, Any], trees: int) -> dict[str, Any]:
    """Log the forest (alias champion) and save the LogisticRegression's folder once."""
    from modelyard.registry.flavors import FLAVORS, package_versions

    with client.start_run(PROJECT, capture=False) as run:
        client.models.log(m["rf"](trees), "rf", input_example=m["x"][:5])
        run_id = str(run.id)
    client.models.set_alias("rf", "champion", 1, project=PROJECT)
    flavor = FLAVORS.get("sklearn")
    folder = work / "lr"
    (folder / "model").mkdir(parents=True)
    config = flavor.save(m["lr"], folder / "model")
    kw = {
        "flavor": "sklearn",
        "flavor_config": config,
        "packages": package_versions(flavor.packages(m["lr"])),
    }
    return {"run_id": run_id, "kw": kw, "folder": folder}


def my_populate(side: MySide, n_models: int, per_model: int) -> float:
    t0 = now()
    for j in range(n_models):
        make = side.create_upload(f"m-{j}")
        for i in range(per_model):
            make(i)
        side.c.models.set_alias(f"m-{j}", "champion", per_model, project=PROJECT)
    return now() - t0


# -- MLflow ------------------------------------------------------------------------------


class MlSide:
    def __init__(self, client: Any, setup: dict[str, Any]) -> None:
        self.c = client
        self.setup = setup

    def create(self, name: str, n: int = 0, warm: int = 0) -> Callable[[int], Any]:
        with contextlib.suppress(Exception):
            self.c.create_registered_model(name)
        s = self.setup
        return lambda i: self.c.create_model_version(
            name, source=s["lr_uri"], run_id=s["run_id"], model_id=s["lr_id"]
        )

    def get_by_alias(self, name: str) -> Callable[[int], Any]:
        return lambda i: self.c.get_model_version_by_alias(name, "champion")

    def search(self, name: str) -> Callable[[int], Any]:
        return lambda i: self.c.search_model_versions(f"name='{name}'")

    def load(self, name: str) -> Callable[[int], Any]:
        import mlflow.sklearn

        return lambda i: mlflow.sklearn.load_model(f"models:/{name}@champion")


def ml_prepare(uri: str, m: dict[str, Any], trees: int) -> tuple[Any, dict[str, Any]]:
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    mlflow.set_experiment("registry-bench")
    with mlflow.start_run() as run:
        lr = mlflow.sklearn.log_model(m["lr"], name="lr", input_example=m["x"][:5])
        rf = mlflow.sklearn.log_model(
            m["rf"](trees), name="rf", input_example=m["x"][:5], skops_trusted_types=TRUSTED
        )
    client.create_registered_model("rf")
    client.create_model_version("rf", source=rf.model_uri, run_id=run.info.run_id,
                                model_id=rf.model_id)  # fmt: skip
    client.set_registered_model_alias("rf", "champion", "1")
    return client, {"run_id": run.info.run_id, "lr_uri": lr.model_uri, "lr_id": lr.model_id}


def ml_populate(side: MlSide, n_models: int, per_model: int) -> float:
    t0 = now()
    for j in range(n_models):
        make = side.create(f"m-{j}")
        for i in range(per_model):
            make(i)
        side.c.set_registered_model_alias(f"m-{j}", "champion", str(per_model))
    return now() - t0


def ml_client(uri: str) -> Any:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


# -- the run -----------------------------------------------------------------------------


def run_ops(my: MySide, ml: MlSide | None, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """The four operations on both sides (``mode``: embedded or server)."""
    out: dict[str, Any] = {}
    name = "m-0"
    plan: list[tuple[str, str, int]] = [
        ("create", f"created-{mode}", args.reps),
        ("create_upload", f"uploaded-{mode}", args.reps),
        ("get_by_alias", name, args.reps),
        ("search", name, args.reps),
        ("load_by_alias", "rf", args.load_reps),
    ]
    for op, target, n in plan:
        row: dict[str, Any] = {}
        warm = 1 if op == "load_by_alias" else 3
        for side_name, side in (("modelyard", my), ("mlflow", ml)):
            if side is None or (op == "create_upload" and side is ml):
                continue
            if op.startswith("create"):
                fn = getattr(side, op)(target, n, warm)
            else:
                fn = {
                    "get_by_alias": side.get_by_alias,
                    "search": side.search,
                    "load_by_alias": side.load,
                }[op](target)
            row[side_name] = timed(fn, n, warm=warm)
            log(f"  {mode} {op} {side_name}: {row[side_name]}")
        if "mlflow" in row:
            row["ratio_p50"] = rnd(row["mlflow"]["p50_ms"] / row["modelyard"]["p50_ms"], 1)
        out[op] = row
    return out


def embedded(root: Path, m: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from modelyard import Client, load_settings

    home = root / "modelyard"
    settings = load_settings(
        home=home,
        store={"url": f"sqlite:///{home / 'modelyard.db'}"},
        tracking={"capture_packages": False, "system_metrics_interval_s": 0},
    )
    result: dict[str, Any] = {}
    with Client(settings) as client:
        client.create_project(PROJECT)
        setup = my_prepare(client, root, m, args.trees)
        my = MySide(client, setup["folder"], setup)
        ml = None
        if not args.skip_mlflow:
            uri = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
            (root / "mlflow").mkdir()
            os.chdir(root / "mlflow")  # MLflow's default artifact root: ./mlruns here
            mc, ml_setup = ml_prepare(uri, m, args.trees)
            ml = MlSide(mc, ml_setup)
            result["mlflow_setup"] = ml_setup
        per_model = args.versions // args.models
        result["populate_s"] = {"modelyard": rnd(my_populate(my, args.models, per_model), 2)}
        log(f"  modelyard: {args.versions} versions in {result['populate_s']['modelyard']} s")
        if ml is not None:
            result["populate_s"]["mlflow"] = rnd(ml_populate(ml, args.models, per_model), 2)
            log(f"  mlflow: {args.versions} versions in {result['populate_s']['mlflow']} s")
        result["my_setup"] = {"run_id": setup["run_id"], "kw": setup["kw"]}
        if args.only != "remote":
            result["ops"] = run_ops(my, ml, "embedded", args)
    return result


def served(root: Path, m: dict[str, Any], args: argparse.Namespace, setup: dict[str, Any]):
    import modelyard

    my_srv: ServerProcess | None = None
    ml_srv: ServerProcess | None = None
    try:
        my_srv, my_url = start_modelyard_server(str(root / "modelyard"), None)
        result: dict[str, Any] = {"startup_s": {"modelyard": rnd(my_srv.startup_s, 2)}}
        ml = None
        if not args.skip_mlflow:
            ml_srv, ml_url = start_mlflow_server(str(root / "mlflow"), None)
            result["startup_s"]["mlflow"] = rnd(ml_srv.startup_s, 2)
            ml = MlSide(ml_client(ml_url), setup["mlflow_setup"])
            for _ in range(12):  # every worker on the registry's code path
                ml.c.search_registered_models(max_results=1)
        with modelyard.connect(my_url) as client:
            folder = root / "lr"
            my = MySide(client, folder, setup["my_setup"])
            for _ in range(12):
                client.models.list_models(PROJECT)
            result["ops"] = run_ops(my, ml, "server", args)
        return result
    finally:
        if my_srv is not None:
            my_srv.stop()
        if ml_srv is not None:
            ml_srv.stop()


def report(res: dict[str, Any]) -> str:
    rows = []
    for mode in ("embedded", "server"):
        for op in OPERATIONS:
            row = res.get(mode, {}).get("ops", {}).get(op)
            if row is None:
                continue
            my, ml = row["modelyard"], row.get("mlflow")
            ratio = row.get("ratio_p50")
            rows.append(
                (
                    mode,
                    op,
                    f"{my['p50_ms']:.2f} / {my['p95_ms']:.2f}",
                    f"{ml['p50_ms']:.2f} / {ml['p95_ms']:.2f}" if ml else "-",
                    f"{ratio:.1f}x" if ratio is not None else "-",
                    "-" if ratio is None else "yes" if ratio >= TARGET_RATIO else "no",
                )
            )
    head = ("mode", "operation", "Modelyard p50 / p95 ms", "MLflow p50 / p95 ms",
            "ratio (p50)", ">= 5x")  # fmt: skip
    lines = [markdown_table(head, rows)]
    create = res.get("server", {}).get("ops", {}).get("create")
    if create:
        p50 = create["modelyard"]["p50_ms"]
        ok = "met" if p50 <= TARGET_CREATE_SERVER_MS else "missed"
        lines.append(
            f"\ncreate a version (from a run's artifacts) through the server: p50 {p50:.2f} ms "
            f"(target <= 5 ms: {ok})"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run: fewer of everything")
    ap.add_argument("--only", choices=["local", "remote"], help="embedded or server half only")
    ap.add_argument("--reps", type=int, default=200, help="timed calls per operation")
    ap.add_argument("--load-reps", type=int, default=20, help="timed loads")
    ap.add_argument("--versions", type=int, default=10_000, help="versions to search among")
    ap.add_argument("--models", type=int, default=100, help="models they belong to")
    ap.add_argument("--trees", type=int, default=100, help="trees of the forest loaded")
    ap.add_argument("--skip-mlflow", action="store_true", help="Modelyard only")
    ap.add_argument("--json-out", help="also write the results here")
    args = ap.parse_args(argv)
    if args.quick:
        args.reps, args.load_reps, args.versions, args.models = 30, 5, 500, 10
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    res: dict[str, Any] = {
        "bench": "registry",
        "args": vars(args),
        "versions": versions("modelyard", "mlflow", "scikit-learn", "skops", "SQLAlchemy"),
        "machine": machine(),
        "checkout": checkout_state(),
        "loadavg_before": loadavg(),
    }
    m = models()
    here = os.getcwd()
    with scratch_dir("registry-bench-") as d:
        root = Path(d)
        try:
            log("== embedded (and populating the stores)")
            res["embedded"] = embedded(root, m, args)
            os.chdir(here)
            if args.only != "local":
                log("== through the servers")
                res["server"] = served(root, m, args, res["embedded"])
        finally:
            os.chdir(here)
    res["loadavg_after"] = loadavg()
    print(report(res), file=_REAL_STDOUT)
    line = json.dumps(res, default=str)
    print(line, file=_REAL_STDOUT, flush=True)
    if args.json_out:
        Path(args.json_out).write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
