"""NannyML's side of ``benchmarks/monitoring.py``, run in its own virtualenv.

``python nannyml_side.py DATA_DIR OUT_JSON [drift,perf,cbpe]``: with daily chunks
(``chunk_period="D"``), each calculator fitted on the reference and run on the analysis
set: UnivariateDriftCalculator (continuous: Jensen-Shannon and Kolmogorov-Smirnov;
categorical: chi-square), PerformanceCalculator (realized ROC AUC and accuracy) and CBPE
(the same metrics estimated without labels). A finding is NannyML's own ``alert``
(thresholds from the reference's chunks). Adapted from the shared peer harness
(``nml_bench.py``), all parts in one process; writes timings and findings to OUT_JSON.
"""

import json
import os
import sys
import time

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
started = time.perf_counter()
timings = {}

import nannyml as nml  # noqa: E402
import pandas as pd  # noqa: E402

timings["import"] = time.perf_counter() - started
data_dir, out_path = sys.argv[1], sys.argv[2]
parts = (sys.argv[3] if len(sys.argv) > 3 else "drift,perf,cbpe").split(",")
mark = time.perf_counter()
ref = pd.read_parquet(os.path.join(data_dir, "reference.parquet"))
cur = pd.read_parquet(os.path.join(data_dir, "analysis.parquet"))
timings["read"] = time.perf_counter() - mark
NUM = [c for c in ref.columns if c.startswith("f")]
CAT = [c for c in ref.columns if c.startswith("c")]
common = {"timestamp_column_name": "timestamp", "chunk_period": "D"}
classifier = {
    "y_pred_proba": "p",
    "y_pred": "yhat",
    "y_true": "y",
    "problem_type": "classification_binary",
    "metrics": ["roc_auc", "accuracy"],
}


def flatten(result):
    frame = result.filter(period="analysis").to_df()
    starts = next(c for c in frame.columns if c[0] == "chunk" and c[-1] == "start_date")
    windows = {}
    for i in range(len(frame)):
        found = {}
        for col in frame.columns:
            if col[0] != "chunk" and col[-1] in ("value", "alert"):
                cell = frame[col].iloc[i]
                found.setdefault("|".join(col[:-1]), {})[col[-1]] = (
                    cell.item() if hasattr(cell, "item") else cell
                )
        windows[str(pd.Timestamp(frame[starts].iloc[i]).date())] = found
    return windows


found = {}
for part in parts:
    mark = time.perf_counter()
    if part == "drift":
        calc = nml.UnivariateDriftCalculator(
            column_names=NUM + CAT,
            treat_as_categorical=CAT,
            continuous_methods=["jensen_shannon", "kolmogorov_smirnov"],
            categorical_methods=["chi2"],
            **common,
        )
        calc.fit(ref)
        result = calc.calculate(cur)
    elif part == "perf":
        calc = nml.PerformanceCalculator(**classifier, **common)
        calc.fit(ref)
        result = calc.calculate(cur)
    else:
        calc = nml.CBPE(**classifier, **common)
        calc.fit(ref)
        result = calc.estimate(cur.drop(columns=["y"]))
    found[part] = flatten(result)
    timings[part] = time.perf_counter() - mark
with open(out_path, "w") as f:
    json.dump(
        {
            "tool": "nannyml",
            "versions": {"nannyml": nml.__version__, "pandas": pd.__version__},
            "parts": parts,
            "timings_s": timings,
            "windows": found,
        },
        f,
        default=str,
    )
