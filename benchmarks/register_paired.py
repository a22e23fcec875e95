"""Dataset registration before and after a change, side by side, next to `dvc add`.

The machine these benchmarks run on is shared, and its load moves the figures more than
most changes do; comparing two runs of ``data.py`` made at different times says little.
This script measures both sides in the same rep, in alternating order: `dvc add` in a
fresh repository, then ``client.datasets.register`` with and without the profile, once
with the ``src/`` of another checkout ("before") first on the path and once with the
installed one ("after"), each in a fresh subprocess and Modelyard home.

    git archive cc57dc2 src | tar -x -C /tmp/old
    benchmarks/.venv-data/bin/python benchmarks/register_paired.py --before-src /tmp/old/src

Inputs are ``data.py``'s: a CSV of ``--big-mib`` MiB and ``--n-small`` small CSVs. Prints
one line per case and rep, then one JSON object with every time and the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

import data

_REGISTER = r"""
import gc, json, sys, time
import pandas  # imported in data.py's process too: not part of the time
import modelyard
from modelyard import Client, load_settings
home, name, path, profile = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
client = Client(load_settings(home=home))
client.create_project("bench")
gc.collect()
t0 = time.perf_counter()
client.datasets.register(name, path, project="bench", profile=profile)
seconds = time.perf_counter() - t0
client.close()
print(json.dumps({"s": seconds, "file": modelyard.__file__}))
"""


def register(src: str | None, home: str, name: str, path: str, profile: bool) -> float:
    """Seconds of one ``register`` call in a new interpreter; ``src`` first on its path."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src
    argv = [sys.executable, "-c", _REGISTER, home, name, path, "1" if profile else "0"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if src is not None and not result["file"].startswith(os.path.abspath(src)):
        raise RuntimeError(f"the 'before' side imported {result['file']}, not {src}")
    return float(result["s"])


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = tempfile.mkdtemp(prefix="register-paired-", dir=os.environ.get("BENCH_TMPDIR"))
    env = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_TERMINAL_PROMPT="0")
    try:
        source = os.path.join(root, "source")
        os.makedirs(source)
        big = os.path.join(source, "big.csv")
        small = os.path.join(source, "samples")
        data.write_big_csv(big, args.big_mib)
        data.write_small_csvs(small, args.n_small)
        cases = {"big_csv": (big, "big.csv"), "small_files": (small, "samples")}
        sides = {"before": args.before_src, "after": None}
        keys = ("dvc_add", "before", "after", "before_no_profile", "after_no_profile")
        times: dict[str, dict[str, list[float]]] = {c: {k: [] for k in keys} for c in cases}
        loads = [data.loadavg()]
        for rep in range(args.reps):
            for case, (path, target) in cases.items():
                repo = data.new_dvc_repo(os.path.join(root, f"dvc-{case}-{rep}"), env)
                data.copy_input(path, os.path.join(repo, target))
                data.settle()
                times[case]["dvc_add"].append(data.dvc_add(repo, target, env))
                shutil.rmtree(repo, ignore_errors=True)
                mine = os.path.join(root, f"input-{case}-{rep}", target)
                data.copy_input(path, mine)
                order = ("before", "after") if rep % 2 == 0 else ("after", "before")
                for profile in (True, False):
                    for side in order:
                        home = os.path.join(root, f"home-{case}-{rep}-{side}-{profile}")
                        data.settle()
                        seconds = register(sides[side], home, case.replace("_", "-"), mine, profile)
                        times[case][side if profile else f"{side}_no_profile"].append(seconds)
                        shutil.rmtree(home, ignore_errors=True)
                shutil.rmtree(os.path.dirname(mine), ignore_errors=True)
                loads.append(data.loadavg())
                last = {k: round(v[-1], 2) for k, v in times[case].items()}
                data.log(f"  {case} rep {rep}: {last}, load {loads[-1]}")
        medians = {c: {k: round(data.med(v), 3) for k, v in t.items()} for c, t in times.items()}
        return {
            "before_src": args.before_src,
            "commit": data.checkout_commit(),
            "big_csv_mib": args.big_mib,
            "n_small": args.n_small,
            "seconds": times,
            "medians": medians,
            "loadavg": loads,
        }
    finally:
        if not os.environ.get("BENCH_KEEP_TMP"):
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-src", required=True, help="the src/ folder of the baseline")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (3)")
    parser.add_argument("--big-mib", type=int, default=1024, help="big CSV size in MiB (1024)")
    parser.add_argument("--n-small", type=int, default=10_000, help="small CSVs (10,000)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
