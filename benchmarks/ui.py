"""The web UI against MLflow's, and at scale.

``compare``: the same 10,000 runs and a 100,000-step metric loaded into Modelyard (seeded
through the store's tables in one transaction, ``_seed.py``) and into MLflow's server
(``ui_peers/mlflow_side.py``, in MLflow's own virtualenv), both UIs driven by Playwright
in headless Chromium (Debian's ``/usr/bin/chromium``): until the runs table shows its
rows, and until the metric chart is drawn (Modelyard: the run page's chart of the long
metric, ``[data-chart="metric"][data-key=...][data-drawn="1"]``; MLflow: its metric page's
plotly line). Target: at least 5x faster than MLflow's UI. Then Modelyard's run page with
a 1,000,000-step metric: drawn within 1 s (target), and the page alone from the server
(``GET`` to the last byte), to tell the server's part from the browser's.

``scale``: the runs page of a project with 100,000 runs, timed on the server
(``GET /projects/p/runs``: the first page, sorted by a metric, filtered; target 300 ms)
and in the browser (target 1 s).

    python3 -m venv benchmarks/.venv-ui
    benchmarks/.venv-ui/bin/pip install -r benchmarks/requirements-ui.txt
    python benchmarks/ui.py                   # both sections
    python benchmarks/ui.py --only scale      # Modelyard alone, no MLflow needed
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _bench import loadavg, log, machine, markdown_table, med, rnd, scratch_dir, versions
from _seed import seed_history, seed_runs

from modelyard.config import load_settings
from modelyard.sdk.client import Client

PROJECT = "p"
SERVER_TARGET_MS = 300
BROWSER_TARGET_MS = 1000
METRIC = "loss_curve"
QUERIES = {
    "first page": "",
    "sorted by metrics.auc": "?order=metrics.auc+DESC",
    "filter metrics.auc > 0.5": "?filter=metrics.auc+%3E+0.5",
    "filter params.optimizer = 'adam'": "?filter=params.optimizer+%3D+%27adam%27",
}
RATIO_TARGET = 5
MLFLOW_PYTHON = Path(__file__).parent / ".venv-ui" / "bin" / "python"
CHROMIUM_ARGS = ["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]


class Server:
    """``modelyard server``'s app without sign-in, served by uvicorn on a loopback port in
    a thread of this process."""

    def __init__(self, settings: Any) -> None:
        import socket

        import uvicorn

        from modelyard.api import create_app
        from modelyard.api.auth import no_auth

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            create_app(settings, auth=no_auth), log_config=None, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def server_times(url: str, reps: int) -> dict[str, Any]:
    """Each query's wall time from request to the last byte, over loopback (the first,
    cold call apart)."""
    out: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=120) as http:
        for name, query in QUERIES.items():
            t0 = time.perf_counter()
            first = http.get(f"/projects/{PROJECT}/runs{query}")
            cold = (time.perf_counter() - t0) * 1000
            assert first.status_code == 200 and 'class="empty"' not in first.text, query
            warm = []
            for _ in range(reps):
                t0 = time.perf_counter()
                http.get(f"/projects/{PROJECT}/runs{query}").raise_for_status()
                warm.append((time.perf_counter() - t0) * 1000)
            out[name] = {"cold_ms": rnd(cold, 1), "p50_ms": rnd(med(warm), 1)}
            log(f"  server {name}: cold {cold:.0f} ms, p50 {med(warm):.0f} ms")
    return out


def run_page_times(url: str, run_id: str, reps: int) -> dict[str, Any]:
    """The run page from the server alone: wall time to the last byte (the first, cold
    call apart), its size, and the points its chart of :data:`METRIC` gets."""
    address = f"/projects/{PROJECT}/runs/{run_id}"
    with httpx.Client(base_url=url, timeout=120) as http:
        page = http.get(address)
        page.raise_for_status()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            http.get(address).raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    marker = '<script type="application/json" id="chart-data">'
    start = page.text.index(marker) + len(marker)
    charts = json.loads(page.text[start : page.text.index("</script>", start)])
    out = {
        "p50_ms": rnd(med(times), 1),
        "kib": rnd(len(page.content) / 1024, 1),
        "points": len(charts[METRIC][0]["x"]),
        "total": charts[METRIC][0]["total"],
    }
    log(f"  run page from the server: {out}")
    return out


def browser_times(url: str, run_id: str, reps: int) -> dict[str, Any]:
    """Until the runs table shows its rows and the page has loaded, and until the run
    page's chart of :data:`METRIC` is drawn; a fresh browser context (empty cache) each
    time, the first round a warm-up."""
    from playwright.sync_api import sync_playwright

    chart = f'[data-chart="metric"][data-key="{METRIC}"][data-drawn="1"]'
    out: dict[str, Any] = {"runs_page_ms": [], "chart_ms": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS, headless=True
        )
        out["chromium"] = browser.version
        for i in range(reps + 1):
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            page = context.new_page()
            t0 = time.perf_counter()
            page.goto(f"{url}/projects/{PROJECT}/runs", wait_until="commit")
            page.wait_for_selector("table tbody tr", timeout=60_000)
            page.wait_for_load_state("load")
            if i:
                out["runs_page_ms"].append(rnd((time.perf_counter() - t0) * 1000, 1))
            context.close()
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            page = context.new_page()
            t0 = time.perf_counter()
            page.goto(f"{url}/projects/{PROJECT}/runs/{run_id}", wait_until="commit")
            page.wait_for_selector(chart, timeout=120_000)
            if i:
                out["chart_ms"].append(rnd((time.perf_counter() - t0) * 1000, 1))
            context.close()
        browser.close()
    return out


def modelyard_side(root: Path, runs: int, points: int, reps: int, server: bool) -> dict[str, Any]:
    """``runs`` runs and a ``points``-step metric on the newest, seeded; the server's
    times of the runs page (when ``server``), of the run page, and the browser's."""
    home = root / f"home-{runs}-{points}"
    settings = load_settings(home=home, store={"url": f"sqlite:///{home / 'modelyard.db'}"})
    out: dict[str, Any] = {"runs": runs, "points": points}
    with Client(settings) as client:
        t0 = time.perf_counter()
        ids = seed_runs(client, PROJECT, runs)
        seed_history(client, ids[0], METRIC, points)
        out["seed_s"] = rnd(time.perf_counter() - t0, 1)
    log(f"seeded {runs} runs and a {points}-step metric in {out['seed_s']} s")
    app = Server(settings)
    try:
        if server:
            out["server"] = server_times(app.url, reps)
        out["run_page"] = run_page_times(app.url, ids[0], reps)
        out["browser"] = browser_times(app.url, ids[0], reps)
        log(f"  browser: {out['browser']}")
    finally:
        app.stop()
    return out


def mlflow_side(python: str, root: Path, runs: int, points: int, reps: int) -> dict[str, Any]:
    """``ui_peers/mlflow_side.py`` in MLflow's virtualenv: the same sizes, its UI's times."""
    folder = root / "mlflow"
    folder.mkdir()
    script = Path(__file__).parent / "ui_peers" / "mlflow_side.py"
    done = subprocess.run(
        [python, str(script), str(folder), str(runs), str(points), str(reps)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise SystemExit(f"MLflow's side failed:\n{done.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    log(f"  mlflow: {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000, help="runs of the scale section")
    parser.add_argument("--compare-runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=100_000, help="the compared metric's steps")
    parser.add_argument("--big-points", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--only", choices=("scale", "compare"), action="append")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--mlflow-python", default=str(MLFLOW_PYTHON))
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    sections = args.only or ["scale", "compare"]
    result: dict[str, Any] = {
        "machine": machine(),
        "versions": versions("playwright"),
        "load_before": loadavg(),
    }
    with scratch_dir("modelyard-ui-") as tmp:
        root = Path(tmp)
        if "scale" in sections:
            log(f"== scale: {args.runs} runs")
            result["scale"] = modelyard_side(root, args.runs, args.points, args.reps, True)
        if "compare" in sections:
            log(f"== compare: {args.compare_runs} runs, a {args.points}-step metric")
            mine = modelyard_side(root, args.compare_runs, args.points, args.reps, False)
            result["compare"] = {"modelyard": mine}
            big = modelyard_side(root, 1, args.big_points, args.reps, False)
            result["compare"]["modelyard_big_chart"] = big
            if not args.skip_mlflow:
                result["compare"]["mlflow"] = mlflow_side(
                    args.mlflow_python, root, args.compare_runs, args.points, args.reps
                )
    result["load_after"] = loadavg()
    print(report(result))
    print(json.dumps(result))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))
    return 0


def report(result: dict[str, Any]) -> str:
    """The tables of a run: the scale section's server and browser times against their
    targets, then each compared page's times on both sides."""
    parts = []
    if "scale" in result:
        scale = result["scale"]
        rows = [
            (name, t["cold_ms"], t["p50_ms"], _met(t["p50_ms"] <= SERVER_TARGET_MS))
            for name, t in scale["server"].items()
        ]
        runs_page = med(scale["browser"]["runs_page_ms"])
        rows.append(("runs page in Chromium", "", runs_page, _met(runs_page <= BROWSER_TARGET_MS)))
        head = (f"{scale['runs']:,} runs: GET /projects/p/runs", "cold ms", "p50 ms", "target")
        parts.append(markdown_table(head, rows))
    if "compare" in result:
        mine, theirs = result["compare"]["modelyard"], result["compare"].get("mlflow")
        rows = []
        for key, what in (("runs_page_ms", "runs table shows its rows"), ("chart_ms", "chart")):
            my = med(mine["browser"][key]) if mine["browser"][key] else None
            ml = med(theirs[key]) if theirs else None
            ratio = rnd(ml / my, 1) if my and ml else None
            met = _met(ratio >= RATIO_TARGET) if ratio else ""
            rows.append((what, my, ml or "-", ratio or "-", met))
        big = result["compare"]["modelyard_big_chart"]
        drawn = med(big["browser"]["chart_ms"])
        within = f"<= {BROWSER_TARGET_MS} ms: {_met(drawn <= BROWSER_TARGET_MS)}"
        rows.append((f"{big['points']:,}-point chart", drawn, "", "", within))
        server = big["run_page"]
        rows.append(("  its run page from the server", server["p50_ms"], "", "", ""))
        head = (
            f"{mine['runs']:,} runs, {mine['points']:,}-point metric (p50 ms)",
            "Modelyard",
            "MLflow",
            "MLflow / Modelyard",
            f"target >= {RATIO_TARGET}x",
        )
        parts.append(markdown_table(head, rows))
    parts.append(f"load average before {result['load_before']}, after {result['load_after']}")
    return "\n\n".join(parts)


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


if __name__ == "__main__":
    raise SystemExit(main())
