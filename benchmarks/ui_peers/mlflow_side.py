"""MLflow's UI side of ``benchmarks/ui.py``, run with MLflow's own virtualenv
(``benchmarks/.venv-ui``): the shared harness's data (``/work/shared/bench/ui``:
``make_data_api.py``, ``copy_runs_sql.py``, ``measure_ui.py``) in one script.

It fills ``ROOT/mlflow.db`` with an experiment of RUNS runs (200 through MlflowClient,
with 5 params and 5 metrics each, the rest copied from them in SQL in one transaction)
and a run with a POINTS-step metric ``loss``, starts ``mlflow server`` on 127.0.0.1 (its
own process group, stopped by its PID), and times in headless Chromium: the runs page
until its first row is shown, and the metric page until its plotly line is drawn. It
prints one JSON line.

    mlflow_side.py ROOT RUNS POINTS REPS
"""

from __future__ import annotations

import json
import os
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

API_RUNS = 200
ARGS = ["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]


def make_data(root: str, runs: int, points: int) -> tuple[str, str]:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    db = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(db)
    exp = client.create_experiment("big-experiment", artifact_location=f"{root}/artifacts")
    rng = random.Random(0)
    for i in range(min(API_RUNS, runs)):
        run_id = client.create_run(exp, run_name=f"api-run-{i:05d}").info.run_id
        ts = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(f"m{k}", rng.random(), ts, 0) for k in range(5)],
            params=[Param(f"p{k}", str(rng.choice([1, 2, 4, 8]) * (k + 1))) for k in range(5)],
        )
        client.set_terminated(run_id)
    long_run = client.create_run(exp, run_name="long-history-run").info.run_id
    ts = int(time.time() * 1000)
    for start in range(0, points, 1000):
        client.log_batch(
            long_run,
            metrics=[
                Metric("loss", 1.0 / (1 + s * 0.001) + rng.random() * 0.01, ts + s, s)
                for s in range(start, min(points, start + 1000))
            ],
        )
    copy_runs(f"{root}/mlflow.db", exp, long_run, runs)
    return exp, long_run


def copy_runs(path: str, exp: str, long_run: str, target: int) -> None:
    """The API runs copied in SQL (same columns, a new run_uuid and name) until the
    experiment holds ``target`` runs besides the long one."""
    con = sqlite3.connect(path)
    cols = [d[0] for d in con.execute("select * from runs limit 0").description]
    template = con.execute(
        "select * from runs where experiment_id=? and run_uuid<>? order by start_time",
        (exp, long_run),
    ).fetchall()
    base = max(r[cols.index("start_time")] for r in template)
    rows: dict[str, list[tuple]] = {t: [] for t in ("runs", "params", "metrics", "latest", "tags")}
    for i in range(len(template), target):
        src = dict(zip(cols, template[i % len(template)], strict=True))
        old, new, name = src["run_uuid"], uuid.uuid4().hex, f"sql-copy-{i:05d}"
        start = base - i * 1000
        src.update(run_uuid=new, name=name, start_time=start, end_time=start + 20)
        src["artifact_uri"] = src["artifact_uri"].replace(old, new)
        rows["runs"].append(tuple(src[k] for k in cols))
        for k, v in con.execute("select key, value from params where run_uuid=?", (old,)):
            rows["params"].append((k, v, new))
        for k, _, _, step, nan in con.execute(
            "select key, value, timestamp, step, is_nan from latest_metrics where run_uuid=?",
            (old,),
        ):
            v = random.random()
            rows["metrics"].append((k, v, start + 10, new, step, nan))
            rows["latest"].append((k, v, start + 10, step, nan, new))
        for k, v in con.execute("select key, value from tags where run_uuid=?", (old,)):
            rows["tags"].append((k, name if k == "mlflow.runName" else v, new))
    with con:
        marks = ",".join("?" * len(cols))
        con.executemany(f"insert into runs ({','.join(cols)}) values ({marks})", rows["runs"])
        con.executemany("insert into params (key, value, run_uuid) values (?,?,?)", rows["params"])
        con.executemany(
            "insert into metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "values (?,?,?,?,?,?)",
            rows["metrics"],
        )
        con.executemany(
            "insert into latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "values (?,?,?,?,?,?)",
            rows["latest"],
        )
        con.executemany("insert into tags (key, value, run_uuid) values (?,?,?)", rows["tags"])
    con.close()


def start_server(root: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
    store = ["--backend-store-uri", f"sqlite:///{root}/mlflow.db"]
    artifacts = ["--default-artifact-root", f"{root}/artifacts"]
    proc = subprocess.Popen(
        [mlflow, "server", *store, *artifacts, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return proc, url
        except OSError:
            time.sleep(1)
    os.killpg(proc.pid, signal.SIGTERM)
    raise SystemExit("mlflow server did not answer its health check in 300 s")


def measure(url: str, exp: str, run: str, reps: int) -> dict[str, list[float]]:
    """The shared harness's marks: a run row shown in the runs table; the metric page's
    plotly line drawn (``measure_ui.py``'s selectors)."""
    from playwright.sync_api import sync_playwright

    row = f'div.ag-row[row-id] a[href^="#/experiments/{exp}/runs/"]'
    line = ".js-plotly-plot .scatterlayer .trace path.js-line"
    pages = {
        "runs_page_ms": (f"{url}/#/experiments/{exp}/runs", row),
        "chart_ms": (
            f"{url}/#/metric?runs=%5B%22{run}%22%5D&metric=%22loss%22"
            f"&experiments=%5B%22{exp}%22%5D&plot_metric_keys=%5B%22loss%22%5D"
            "&plot_layout=%7B%7D&x_axis=step&y_axis_scale=linear&line_smoothness=1"
            "&show_point=false&deselected_curves=%5B%5D&last_linear_y_axis_range=%5B%5D",
            line,
        ),
    }
    out: dict[str, list[float]] = {k: [] for k in pages}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium"), args=ARGS, headless=True
        )
        for i in range(reps + 1):
            for key, (address, selector) in pages.items():
                context = browser.new_context(viewport={"width": 1600, "height": 1000})
                page = context.new_page()
                t0 = time.perf_counter()
                page.goto(address, wait_until="commit")
                page.wait_for_selector(selector, timeout=600_000)
                if i:  # the first round is a warm-up
                    out[key].append(round((time.perf_counter() - t0) * 1000, 1))
                context.close()
        browser.close()
    return out


def main() -> None:
    root, runs, points, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    t0 = time.perf_counter()
    exp, long_run = make_data(root, runs, points)
    seeded = time.perf_counter() - t0
    proc, url = start_server(root)
    try:
        times = measure(url, exp, long_run, reps)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    print(json.dumps({"seed_s": round(seeded, 1), **times}))


if __name__ == "__main__":
    main()
