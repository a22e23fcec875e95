"""Evidently's side of ``benchmarks/monitoring.py``, run in its own virtualenv.

``python evidently_side.py DATA_DIR OUT_JSON [daily|full]``: one Report with the
DataDriftPreset (the 25 features) and the ClassificationPreset (target ``y``, labels
``yhat``, probabilities ``p``) of the reference against each calendar day of the
analysis set (``daily``, 30 reports, the reference Dataset built once), or against the
whole of it (``full``). A feature drifts when its ValueDrift is past the preset's
threshold (p-value below it, or distance at or above it). Adapted from the shared peer
harness (``ev_bench.py``); writes its timings and findings to OUT_JSON.
"""

import json
import os
import sys
import time

os.environ.setdefault("DO_NOT_TRACK", "1")
started = time.perf_counter()
timings = {}

import evidently  # noqa: E402
import pandas as pd  # noqa: E402
from evidently import BinaryClassification, DataDefinition, Dataset, Report  # noqa: E402
from evidently.presets import ClassificationPreset, DataDriftPreset  # noqa: E402

timings["import"] = time.perf_counter() - started
data_dir, out_path = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "daily"
mark = time.perf_counter()
ref = pd.read_parquet(os.path.join(data_dir, "reference.parquet"))
cur = pd.read_parquet(os.path.join(data_dir, "analysis.parquet"))
timings["read"] = time.perf_counter() - mark
NUM = [c for c in ref.columns if c.startswith("f")]
CAT = [c for c in ref.columns if c.startswith("c")]


def definition():
    return DataDefinition(
        numerical_columns=[*NUM, "p"],
        categorical_columns=[*CAT, "y", "yhat"],
        timestamp="timestamp",
        classification=[
            BinaryClassification(
                target="y", prediction_labels="yhat", prediction_probas="p", pos_label=1
            )
        ],
    )


def report(ref_ds, frame):
    snap = Report([DataDriftPreset(columns=NUM + CAT), ClassificationPreset()]).run(
        Dataset.from_pandas(frame, data_definition=definition()), ref_ds
    )
    out = {"drifted": [], "perf": {}}
    for m in snap.dict()["metrics"]:
        cfg = m["config"]
        kind = cfg.get("type", "")
        if kind.endswith(":ValueDrift"):
            value, threshold = m["value"], cfg["threshold"]
            flag = value < threshold if "p_value" in cfg["method"] else value >= threshold
            if flag:
                out["drifted"].append(cfg["column"])
        elif kind.endswith(":DriftedColumnsCount"):
            out["drift_share"] = m["value"]["share"]
        else:
            name = m["metric_name"]
            if name.startswith(("Accuracy(", "RocAuc(")):
                out["perf"][name.split("(")[0].lower()] = m["value"]
    return out


mark = time.perf_counter()
ref_ds = Dataset.from_pandas(ref, data_definition=definition())
windows = {}
if mode == "full":
    windows["all"] = report(ref_ds, cur)
else:
    for day, frame in cur.groupby(cur["timestamp"].dt.floor("D"), sort=True):
        windows[str(day.date())] = report(ref_ds, frame)
timings["compute"] = time.perf_counter() - mark
with open(out_path, "w") as f:
    json.dump(
        {
            "tool": "evidently",
            "versions": {"evidently": evidently.__version__, "pandas": pd.__version__},
            "mode": mode,
            "timings_s": timings,
            "windows": windows,
        },
        f,
        default=str,
    )
