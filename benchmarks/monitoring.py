"""A monitoring pass over logged predictions: Modelyard next to Evidently and NannyML.

One script, the same data and windows for every side: a reference (training) set of
100,000 rows and 1,000,000 logged predictions of a binary classifier (20 numeric and 5
categorical features, a label and a probability) over 30 days, judged per day. The data
follow the shared peer harness's design (``gen_data.py``, seeded): in the last third of
the days f0-f4 shift (means, a scale, heavier tails) and the features' relation to the
target changes, so accuracy drops while the model's outputs do not show it.

Modelyard reads the data as the product does: the reference is the training set's
dataset profile (``modelyard.data.profile``, stored as JSON), the log is segments in the
segment format (``predictions/_segments.py``: ``input.<name>``, ``output.label``,
``output.probabilities``) with labels by prediction id. Measured, each in a process of
its own (wall time from start to exit and peak RSS, the same way as the peers):

* ``engine``: the pass's parts without the store: the segments summarized per hour
  (``Summarizer.summarize``, the live performance with ``PerformanceSummarizer`` when
  there is one), each hour's summary encoded as stored, the hours of each day read back
  and merged, and every registered check of drift, prediction drift, quality and
  performance judging the 30 days; then one new hour again (summarized, its day rebuilt
  from its stored hours, the hour and the day judged);
* ``store``: the pass itself (``client.monitors.run_pass``) in an embedded home, the
  segments written with ``PredictionService.write_segment`` and the labels added first
  (untimed); then one new hour's segment and a second pass;
* ``floor``: not a monitor: the same segments read and each hour's columns binned with
  numpy, nothing kept (what reading and summarizing could cost at least);
* ``big``: peak RSS of the engine over 10,000,000 rows generated an hour at a time.

Evidently (DataDriftPreset + ClassificationPreset, one report per day) and NannyML
(univariate drift, realized performance, CBPE, daily chunks) run from their own
virtualenvs (``monitoring_peers/``). Prints a table and, as the last line of stdout, one
JSON object with every figure. Setup and options: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _bench import loadavg, log, machine, markdown_table, rnd, scratch_dir, versions

HERE = Path(__file__).resolve().parent
SEED = 20240601
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
N_NUM = 20
CAT_SIZES = (10, 20, 30, 40, 50)
NUM = tuple(f"f{i}" for i in range(N_NUM))
CAT = tuple(f"c{i}" for i in range(len(CAT_SIZES)))
FEATURES = NUM + CAT
VERSION_ID = "v-bench"
#: The checks the pass judges each day by, when registered (``monitoring.checks.CHECKS``).
KINDS = ("drift", "prediction_drift", "quality", "performance")
#: Each kind's config (the rest take their defaults): prediction drift of the predicted
#: label; accuracy may fall 5 points below the version's evaluation.
CONFIGS: dict[str, dict[str, Any]] = {
    "prediction_drift": {"output": "output.label"},
    "performance": {"metric": "accuracy", "max_drop": 0.05},
}
TARGETS = {"evidently": 50.0, "nannyml": 20.0, "incremental_share": 0.01, "big_rss_mb": 500.0}


# -- data -----------------------------------------------------------------------------------


class World:
    """The fixed parameters of the generated data (gen_data.py's design): per-feature
    marginals, category probabilities, the true relation before and after the change and
    the deployed model (fitted to the relation before it, slightly off)."""

    def __init__(self) -> None:
        rng = np.random.default_rng(SEED)
        self.loc = rng.normal(0, 1, N_NUM)
        self.scale = rng.uniform(0.5, 2.0, N_NUM)
        self.cat_probs = [rng.dirichlet(np.full(k, 2.0)) for k in CAT_SIZES]
        self.cat_effect = [rng.normal(0, 0.5, k) for k in CAT_SIZES]
        self.w_true = np.zeros(N_NUM)
        self.w_true[:6] = [1.2, -0.9, 0.7, 0.5, 0.0, 0.4]
        self.w_model = self.w_true + rng.normal(0, 0.05, N_NUM) * (self.w_true != 0)
        self.w_post = self.w_true.copy()
        self.w_post[[0, 5, 6]] = [-0.3, -0.6, 0.8]
        self.vocab = [
            pa.array([f"c{j}_{v:02d}" for v in range(k)]) for j, k in enumerate(CAT_SIZES)
        ]

    def rows(self, seed: int, n: int, start_ms: int, span_ms: int, shifted: bool) -> pa.Table:
        """``n`` rows with times spread over ``span_ms`` from ``start_ms`` (sorted):
        ``time`` (ms), the features, ``y`` (the label), ``p`` (the model's probability)."""
        rng = np.random.default_rng([SEED, seed])
        times = start_ms + np.sort(rng.integers(0, span_ms, n))
        x = rng.normal(self.loc, self.scale, size=(n, N_NUM))
        x[:, 10] = rng.exponential(self.scale[10], n)
        x[:, 11] = rng.gamma(2.0, self.scale[11], n)
        x[:, 12] = rng.uniform(-3, 3, n)
        if shifted:
            x[:, 0] += 0.5 * self.scale[0]
            x[:, 1] = self.loc[1] + (x[:, 1] - self.loc[1]) * 1.5
            x[:, 2] -= 0.3 * self.scale[2]
            x[:, 3] = self.loc[3] + self.scale[3] * rng.standard_t(3, n)
            x[:, 4] += 1.0 * self.scale[4]
        cats = [rng.choice(k, size=n, p=p) for k, p in zip(CAT_SIZES, self.cat_probs, strict=True)]
        z = (x - self.loc) / self.scale
        cat_term = self.cat_effect[0][cats[0]] + self.cat_effect[1][cats[1]]
        logit = z @ (self.w_post if shifted else self.w_true) + cat_term - 0.2
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
        model = z @ self.w_model + 0.9 * cat_term - 0.2 + rng.normal(0, 0.3, n)
        p = 1 / (1 + np.exp(-model))
        columns: dict[str, Any] = {"time": pa.array(times, pa.int64())}
        for j, name in enumerate(NUM):
            columns[name] = pa.array(x[:, j])
        for j, name in enumerate(CAT):
            columns[name] = self.vocab[j].take(pa.array(cats[j]))
        columns["y"] = pa.array(y)
        columns["p"] = pa.array(p)
        return pa.table(columns)


def first_day(days: int) -> int:
    """The first logged day (ms): the log ends the day before yesterday (UTC), so every
    window is complete now and a new hour after it is in the past too."""
    today = int(time.time() * 1000) // DAY_MS * DAY_MS
    return today - (days + 2) * DAY_MS


def day_rows(world: World, day: int, rows: int, days: int, t0: int) -> pa.Table:
    """Day ``day``'s logged rows (``rows`` over ``days`` from ``t0``; the last third
    shifted)."""
    per_day = rows // days + (1 if day < rows % days else 0)
    return world.rows(day + 1, per_day, t0 + day * DAY_MS, DAY_MS, day >= days - days // 3)


def peer_table(rows: pa.Table) -> pa.Table:
    """The peers' frame: ``timestamp`` (naive UTC), the features, ``y``, ``p``, ``yhat``."""
    import pyarrow.compute as pc

    stamp = rows.column("time").cast(pa.timestamp("ms"))
    yhat = pc.cast(pc.greater(rows.column("p"), 0.5), pa.int8())
    return pa.table(
        {
            "timestamp": stamp,
            **{name: rows.column(name) for name in FEATURES},
            "y": rows.column("y"),
            "p": rows.column("p"),
            "yhat": yhat,
        }
    )


def segment_table(rows: pa.Table, first_id: int) -> tuple[pa.Table, pa.Table]:
    """The rows as a prediction-log segment, and their labels (``prediction_id``,
    ``label``) in the same order."""
    import pyarrow.compute as pc

    n = rows.num_rows
    ids = pa.array([f"p{first_id + i:09d}" for i in range(n)])
    p = rows.column("p").to_numpy()
    probabilities = pa.ListArray.from_arrays(
        pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)),
        pa.array(np.column_stack([1 - p, p]).ravel()),
    )
    latency = np.random.default_rng([SEED, first_id]).gamma(2.0, 3.0, n)
    columns: dict[str, Any] = {
        "prediction_id": ids,
        "version_id": pa.array([VERSION_ID] * n),
        "time": rows.column("time").cast(pa.timestamp("ms", tz="UTC")),
        "latency_ms": pa.array(latency),
    }
    for name in FEATURES:
        columns[f"input.{name}"] = rows.column(name)
    columns["output.label"] = pc.cast(pc.greater(rows.column("p"), 0.5), pa.int64())
    columns["output.probabilities"] = probabilities
    labels = pa.table({"prediction_id": ids, "label": rows.column("y").cast(pa.int64())})
    return pa.table(columns), labels


def generate(root: Path, rows: int, ref_rows: int, days: int) -> dict[str, Any]:
    """Write the peers' ``reference.parquet`` and ``analysis.parquet``, and our side's
    reference profile (``profile.json``), evaluation (``evaluation.json``) and one
    segment file and labels file per day under ``segments/``."""
    from modelyard.data.profile import profile

    world = World()
    (root / "segments").mkdir(parents=True, exist_ok=True)
    ref_span = 10 * DAY_MS
    t0 = first_day(days)
    reference = world.rows(0, ref_rows, t0 - ref_span, ref_span, False)
    pq.write_table(peer_table(reference), root / "reference.parquet")
    training = reference.select([*FEATURES, "y"])
    pq.write_table(training, root / "training.parquet")
    (root / "profile.json").write_text(json.dumps(profile(training).to_dict()))
    (root / "evaluation.json").write_text(json.dumps(evaluation_of(reference)))
    writer = None
    first = 0
    for day in range(days):
        chunk = day_rows(world, day, rows, days, t0)
        table = peer_table(chunk)
        if writer is None:
            writer = pq.ParquetWriter(root / "analysis.parquet", table.schema)
        writer.write_table(table)
        seg, labels = segment_table(chunk, first)
        first += chunk.num_rows
        pq.write_table(seg, root / "segments" / f"day-{day:03d}.parquet", compression="zstd")
        pq.write_table(labels, root / "segments" / f"labels-{day:03d}.parquet")
    assert writer is not None
    writer.close()
    return {"rows": first, "reference_rows": ref_rows, "days": days, "t0_ms": t0}


def evaluation_of(reference: pa.Table) -> dict[str, Any]:
    """The served version's evaluation report (``registry.evaluation``) on the
    reference set: the baseline of prediction drift and live performance."""
    from modelyard.registry.evaluation import Scorer, evaluate

    table = reference.select(["p", "y"])
    scorer = Scorer(
        predict=lambda frame: (frame["p"].to_numpy() > 0.5).astype(np.int64),
        predict_proba=lambda frame: np.column_stack([1 - frame["p"], frame["p"]]),
        classes=[0, 1],
        features=["p"],
    )
    return evaluate(
        table.cast(pa.schema([("p", pa.float64()), ("y", pa.int64())])).to_batches(),
        target="y",
        model=scorer,
        task="classification",
        importance_repeats=1,
    )


# -- our side: the engine -------------------------------------------------------------------


def engine_parts() -> dict[str, Any]:
    """The pass's parts: the window summarizer, the performance summarizer and the
    registered checks of ``KINDS``."""
    from modelyard.monitoring.checks import CHECKS
    from modelyard.monitoring.performance import PerformanceSummarizer
    from modelyard.monitoring.summary import Summarizer

    return {
        "summarizer": Summarizer(),
        "performance": PerformanceSummarizer(),
        "checks": {kind: CHECKS[kind] for kind in KINDS if kind in CHECKS},
    }


def load_reference(root: Path) -> Any:
    from modelyard.data.profile import Profile
    from modelyard.monitoring._parts import Reference

    return Reference(
        version_id=VERSION_ID,
        version="churn/1",
        features=FEATURES,
        profile=Profile.from_dict(json.loads((root / "profile.json").read_text())),
        evaluation=json.loads((root / "evaluation.json").read_text()),
        task="classification",
        classes=("0", "1"),
        target="y",
    )


class Engine:
    """Hourly summaries of segments, kept encoded as the store keeps them, merged into
    days and judged."""

    def __init__(self, root: Path, spill: Path | None = None) -> None:
        """``spill``: keep the hours' encodings in files there (as the store keeps them
        outside the process), not in memory."""
        parts = engine_parts()
        self.summarizer = parts["summarizer"]
        self.performance = parts["performance"]
        self.reference = load_reference(root)
        self.checks = {
            kind: (check, check.configure(CONFIGS.get(kind, {}), self.reference))
            for kind, check in parts["checks"].items()
        }
        self.hours: dict[int, bytes] | Spilled = {} if spill is None else Spilled(spill / "s")
        self.perf_hours: dict[int, bytes] | Spilled = {} if spill is None else Spilled(spill / "p")
        self.seconds = {"read": 0.0, "summarize": 0.0, "performance": 0.0, "merge": 0.0}
        self.seconds["judge"] = 0.0

    def add(self, segment: pa.Table, labels: pa.Table | None) -> None:
        """Summarize ``segment`` (sorted by time) per hour."""
        times = segment.column("time").cast(pa.int64()).to_numpy()
        first, last = int(times[0]) // HOUR_MS, int(times[-1]) // HOUR_MS
        edges = np.searchsorted(times, np.arange(first, last + 2) * HOUR_MS)
        outputs = [n for n in segment.column_names if n == "output" or n.startswith("output.")]
        for hour, lo, hi in zip(range(first, last + 1), edges[:-1], edges[1:], strict=True):
            if hi == lo:
                continue
            piece = segment.slice(lo, hi - lo)
            mark = time.perf_counter()
            self.hours[hour] = self.summarizer.summarize(piece, self.reference).to_bytes()
            self.seconds["summarize"] += time.perf_counter() - mark
            if labels is not None:
                mark = time.perf_counter()
                given = labels.column("label").slice(lo, hi - lo).to_pylist()
                summary = self.performance.summarize(piece.select(outputs), given, self.reference)
                self.perf_hours[hour] = summary.to_bytes()
                self.seconds["performance"] += time.perf_counter() - mark

    def window(self, start_ms: int, end_ms: int) -> tuple[Any, Any]:
        """The window's hours read back from their encoding and merged."""
        mark = time.perf_counter()
        summary = performance = None
        for hour in range(start_ms // HOUR_MS, end_ms // HOUR_MS):
            if hour in self.hours:
                one = self.summarizer.load(self.hours[hour])
                summary = one if summary is None else summary.merge(one)
            if hour in self.perf_hours:
                done = self.performance.load(self.perf_hours[hour])
                performance = done if performance is None else performance.merge(done)
        self.seconds["merge"] += time.perf_counter() - mark
        return summary, performance

    def judge(self, start_ms: int, end_ms: int) -> dict[str, Any]:
        """Every check's finding on the window (its value and whether it breached)."""
        from modelyard.monitoring._parts import WindowInputs

        summary, performance = self.window(start_ms, end_ms)
        mark = time.perf_counter()
        inputs = WindowInputs(start_ms, end_ms, self.reference, summary, performance)
        found = {}
        for kind, (check, config) in self.checks.items():
            finding = check.judge(config, inputs)
            found[kind] = {
                "value": finding.value,
                "breached": finding.breached,
                "note": finding.note,
                "flagged": flagged(finding.details),
            }
        self.seconds["judge"] += time.perf_counter() - mark
        return found


class Spilled(dict[int, int]):
    """Encodings kept in files, one per hour, by hour (the value: its size)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def __setitem__(self, hour: int, data: bytes) -> None:  # type: ignore[override]
        (self.folder / str(hour)).write_bytes(data)
        super().__setitem__(hour, len(data))

    def __getitem__(self, hour: int) -> bytes:  # type: ignore[override]
        return (self.folder / str(hour)).read_bytes()


def flagged(details: Any) -> list[str]:
    """The names a finding's details mark as drifted or breached (``{name: {"drifted":
    true}}`` or ``{name: {"breached": true}}``, at the top or under ``features``)."""
    if not isinstance(details, dict):
        return []
    inner = details.get("features", details)
    if not isinstance(inner, dict):
        return []
    return sorted(
        str(name)
        for name, value in inner.items()
        if isinstance(value, dict) and (value.get("drifted") or value.get("breached"))
    )


def child_engine(root: Path, days: int, reps: int, t0: int) -> dict[str, Any]:
    seconds: dict[str, float] = {}
    mark = time.perf_counter()
    engine = Engine(root)
    seconds["setup"] = time.perf_counter() - mark
    mark = time.perf_counter()
    for day in range(days):
        at = time.perf_counter()
        segment = pq.read_table(root / "segments" / f"day-{day:03d}.parquet")
        labels = pq.read_table(root / "segments" / f"labels-{day:03d}.parquet")
        engine.seconds["read"] += time.perf_counter() - at
        engine.add(segment, labels)
    windows = {
        day_name(day, t0): engine.judge(t0 + day * DAY_MS, t0 + (day + 1) * DAY_MS)
        for day in range(days)
    }
    seconds["pass"] = time.perf_counter() - mark
    seconds.update({f"pass_{k}": v for k, v in engine.seconds.items()})
    # one new hour: the last hour of the last day, read from its own segment, summarized,
    # its day rebuilt from the stored hours, the hour and the day judged
    last = pq.read_table(root / "segments" / f"day-{days - 1:03d}.parquet")
    last_labels = pq.read_table(root / "segments" / f"labels-{days - 1:03d}.parquet")
    hour_start = t0 + days * DAY_MS - HOUR_MS
    keep = np.flatnonzero(last.column("time").cast(pa.int64()).to_numpy() >= hour_start)
    new_file = root / "new-hour.parquet"
    pq.write_table(last.slice(int(keep[0])), new_file, compression="zstd")
    pq.write_table(last_labels.slice(int(keep[0])), root / "new-hour-labels.parquet")
    incremental = []
    for _ in range(reps):
        at = time.perf_counter()
        engine.add(pq.read_table(new_file), pq.read_table(root / "new-hour-labels.parquet"))
        engine.judge(hour_start, hour_start + HOUR_MS)
        engine.judge(t0 + (days - 1) * DAY_MS, t0 + days * DAY_MS)
        incremental.append(time.perf_counter() - at)
    seconds["incremental_hour"] = min(incremental)
    return {
        "seconds": seconds,
        "incremental_reps": incremental,
        "new_hour_rows": len(keep),
        "hours": len(engine.hours),
        "kinds": list(engine.checks),
        "hour_summary_bytes": int(np.mean([len(b) for b in engine.hours.values()])),
        "hour_performance_bytes": int(np.mean([len(b) for b in engine.perf_hours.values()])),
        "windows": windows,
    }


def child_floor(root: Path, days: int) -> dict[str, Any]:
    """A floor, not a monitor: the same segment files read and each hour's columns
    counted with numpy into 100 bins at the training set's quantiles (numbers) or by
    category code, nothing kept, merged or judged."""
    import pyarrow.compute as pc

    mark = time.perf_counter()
    reference = pq.read_table(root / "reference.parquet")
    edges = {n: np.quantile(reference.column(n).to_numpy(), np.linspace(0, 1, 101)) for n in NUM}
    counted = 0
    for day in range(days):
        segment = pq.read_table(root / "segments" / f"day-{day:03d}.parquet")
        times = segment.column("time").cast(pa.int64()).to_numpy()
        hours = np.arange(int(times[0]) // HOUR_MS, int(times[-1]) // HOUR_MS + 2) * HOUR_MS
        bounds = np.searchsorted(times, hours)
        numbers = {n: segment.column(f"input.{n}").to_numpy() for n in NUM}
        codes = {
            n: pc.dictionary_encode(segment.column(f"input.{n}")).combine_chunks().indices
            for n in CAT
        }
        for lo, hi in itertools.pairwise(bounds):
            for n, e in edges.items():
                np.bincount(np.searchsorted(e, numbers[n][lo:hi]), minlength=102)
            for code in codes.values():
                np.bincount(code.slice(lo, hi - lo).to_numpy(zero_copy_only=False))
            counted += len(NUM) + len(CAT)
    return {"seconds": time.perf_counter() - mark, "histograms": counted}


def child_big(rows: int, days: int, root: Path, t0: int) -> dict[str, Any]:
    """The engine over ``rows`` rows generated an hour at a time (each hour written as one
    segment file, read back, summarized, its encodings kept in files as the store keeps
    them, and forgotten), then every day merged from its stored hours and judged."""
    engine = Engine(root, spill=root / "big-hours")
    world = World()
    path = root / "big-hour.parquet"
    hours = days * 24
    mark = time.perf_counter()
    first = 0
    for hour in range(hours):
        n = rows // hours + (1 if hour < rows % hours else 0)
        shifted = hour // 24 >= days - days // 3
        chunk = world.rows(100_000 + hour, n, t0 + hour * HOUR_MS, HOUR_MS, shifted)
        segment, labels = segment_table(chunk, first)
        first += n
        pq.write_table(segment, path, compression="zstd")
        del chunk, segment
        engine.add(pq.read_table(path), labels)
        del labels
    for day in range(days):
        engine.judge(t0 + day * DAY_MS, t0 + (day + 1) * DAY_MS)
    return {
        "rows": first,
        "seconds": time.perf_counter() - mark,
        "stored_summary_bytes": sum(engine.hours.values()) + sum(engine.perf_hours.values()),
    }


# -- our side: the pass through the store ---------------------------------------------------


def store_service(client: Any, t0: int) -> Any:
    """The client's monitor service, ready for a replayed log."""
    monitors = client.services.monitors
    monitors.label_settle_ms = 0  # the labels are added just before the pass
    # every label within the label horizon (the log's first day is days + 2 days ago)
    horizon = (int(time.time() * 1000) - t0) // DAY_MS + 2
    settings = monitors.settings.monitoring.model_copy(update={"label_horizon_days": horizon})
    monitors.settings = monitors.settings.model_copy(update={"monitoring": settings})
    return monitors


def child_store(root: Path, days: int, t0: int) -> dict[str, Any]:
    """The store's setup for the pass, in an embedded home: the training set registered
    (its profile computed), read by the run that made the model version, the version
    registered with its signature and evaluation, staged and deployed, one segment per
    hour written with ``write_segment``, the labels added, a day monitor of each kind
    created."""
    from modelyard import Client
    from modelyard.registry.signature import infer_signature

    mark = time.perf_counter()
    with Client(home=root / "home") as client:
        services = client.services
        monitors = store_service(client, t0)
        client.create_project("bench")
        run = client.start_run(project="bench", name="train")
        training = services.datasets.register(
            "training", str(root / "training.parquet"), project="bench"
        )
        services.datasets.record_input(training, run.id)
        run.end()
        model = root / "model-files"
        (model / "model").mkdir(parents=True, exist_ok=True)
        (model / "model" / "model.skops").write_bytes(b"not loaded by a pass")
        example = pq.read_table(root / "training.parquet").slice(0, 5).select(FEATURES)
        version = services.models.register(
            "churn",
            model,
            project="bench",
            flavor="sklearn",
            run_id=run.id,
            signature=infer_signature(example.to_pandas()),
        )
        services.models.record_evaluation(
            version, json.loads((root / "evaluation.json").read_text()), source="the training set"
        )
        services.models.request_transition("churn", project="bench", to="staging", version=1)
        services.deployments.create("churn-api", "churn/1", project="bench")
        written = 0
        for day in range(days):
            segment = pq.read_table(root / "segments" / f"day-{day:03d}.parquet")
            labels = pq.read_table(root / "segments" / f"labels-{day:03d}.parquet")
            segment = segment.set_column(1, "version_id", pa.array([version.id] * segment.num_rows))
            written += write_hours(services.predictions, segment)
            add_labels(services.predictions, labels)
        kinds, refused = [], {}
        for kind in KINDS:
            try:
                monitors.create(
                    "churn-api", kind, kind, project="bench", config=CONFIGS.get(kind), window="day"
                )
                kinds.append(kind)
            except Exception as exc:  # a kind not built yet, or refused: reported
                refused[kind] = f"{type(exc).__name__}: {exc}"
    return {
        "seconds": time.perf_counter() - mark,
        "version_id": version.id,
        "segments": written,
        "kinds": kinds,
        "refused": refused,
    }


def child_store_pass(root: Path, rows: int, days: int, t0: int) -> dict[str, Any]:
    """In a process of its own after the setup: the full pass, one new hour's segment and
    labels and a second pass, and a pass with nothing new."""
    from modelyard import Client

    seconds: dict[str, float] = {}
    version_id = json.loads((root / "store.json").read_text())["version_id"]
    with Client(home=root / "home") as client:
        monitors = store_service(client, t0)
        mark = time.perf_counter()
        full = monitors.run_pass("churn-api", project="bench")
        seconds["pass"] = time.perf_counter() - mark
        start = t0 + days * DAY_MS
        new = World().rows(10_000, max(1, rows // days // 24), start, HOUR_MS, True)
        segment, labels = segment_table(new, rows + 1)
        segment = segment.set_column(1, "version_id", pa.array([version_id] * segment.num_rows))
        mark = time.perf_counter()
        write_hours(client.services.predictions, segment)
        add_labels(client.services.predictions, labels)
        seconds["write_new_hour"] = time.perf_counter() - mark
        mark = time.perf_counter()
        incremental = monitors.run_pass("churn-api", project="bench")
        seconds["incremental_hour"] = time.perf_counter() - mark
        mark = time.perf_counter()
        idle = monitors.run_pass("churn-api", project="bench")
        seconds["nothing_new"] = time.perf_counter() - mark
    return {
        "seconds": seconds,
        "full": full.as_dict(),
        "incremental": incremental.as_dict(),
        "nothing_new": idle.as_dict(),
    }


def write_hours(predictions: Any, segment: pa.Table) -> int:
    """Write ``segment`` as one segment per hour, as a server flushing its log would."""
    times = segment.column("time").cast(pa.int64()).to_numpy()
    first, last = int(times[0]) // HOUR_MS, int(times[-1]) // HOUR_MS
    edges = np.searchsorted(times, np.arange(first, last + 2) * HOUR_MS)
    count = 0
    for lo, hi in itertools.pairwise(edges):
        if hi > lo:
            predictions.write_segment("bench", "churn-api", segment.slice(lo, hi - lo))
            count += 1
    return count


def add_labels(predictions: Any, labels: pa.Table) -> None:
    from modelyard import limits

    ids = labels.column("prediction_id").to_pylist()
    values = labels.column("label").to_pylist()
    for at in range(0, len(ids), limits.PREDICTION_LABELS):
        chunk = slice(at, at + limits.PREDICTION_LABELS)
        predictions.add_labels(
            "bench", "churn-api", dict(zip(ids[chunk], values[chunk], strict=True))
        )


def day_name(day: int, t0: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime((t0 + day * DAY_MS) / 1000))


# -- processes ------------------------------------------------------------------------------


def run_process(argv: list[str], out: Path, timeout: float) -> dict[str, Any]:
    """Run ``argv`` to its end: its wall time, peak RSS (wait4's ru_maxrss) and the JSON
    it wrote to ``out``."""
    log("  $", " ".join(str(a) for a in argv))
    load = loadavg()
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        log(err[-3000:])
        return {"error": f"exit {proc.returncode}", "wall_s": wall, "stderr": err[-2000:]}
    found = json.loads(out.read_text())
    found.update(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        load_before=load,
        load_after=loadavg(),
    )
    return found


def child_main(role: str, spec: dict[str, Any]) -> None:
    mark = time.perf_counter()
    root = Path(spec["root"])
    if spec.get("profile"):
        import cProfile
        import pstats

        with cProfile.Profile() as prof:
            found = child_role(role, root, spec)
        folder = Path(spec["profile"])
        folder.mkdir(parents=True, exist_ok=True)
        prof.dump_stats(folder / f"{role}.prof")
        with open(folder / f"{role}.txt", "w") as f:
            pstats.Stats(prof, stream=f).sort_stats("cumulative").print_stats(60)
            pstats.Stats(prof, stream=f).sort_stats("tottime").print_stats(40)
    else:
        found = child_role(role, root, spec)
    found["process_s"] = time.perf_counter() - mark
    Path(spec["out"]).write_text(json.dumps(found, default=str))


def child_role(role: str, root: Path, spec: dict[str, Any]) -> dict[str, Any]:
    t0 = json.loads((root / "data.json").read_text())["t0_ms"]
    if role == "engine":
        return child_engine(root, spec["days"], spec["reps"], t0)
    if role == "big":
        return child_big(spec["rows"], spec["days"], root, t0)
    if role == "floor":
        return child_floor(root, spec["days"])
    if role == "store":
        return child_store(root, spec["days"], t0)
    return child_store_pass(root, spec["rows"], spec["days"], t0)


def ours(role: str, root: Path, timeout: float, **spec: Any) -> dict[str, Any]:
    out = root / f"{role}.json"
    spec.update(root=str(root), out=str(out))
    return run_process(
        [sys.executable, str(Path(__file__).resolve()), "--child", role, json.dumps(spec)],
        out,
        timeout,
    )


def peer(tool: str, python: Path, root: Path, timeout: float) -> dict[str, Any]:
    if not python.exists():
        return {"error": f"no {python}: see benchmarks/README.md"}
    out = root / f"{tool}.json"
    script = HERE / "monitoring_peers" / f"{tool}_side.py"
    return run_process([str(python), str(script), str(root), str(out)], out, timeout)


# -- report ---------------------------------------------------------------------------------


def agreement(engine: dict[str, Any], ev: dict[str, Any], nml: dict[str, Any]) -> dict[str, Any]:
    """Per day, which days each side calls drifted or degraded."""
    days = sorted(engine.get("windows", {}))
    out: dict[str, Any] = {}
    for day in days:
        mine = engine["windows"][day]
        row: dict[str, Any] = {
            kind: found.get("breached") for kind, found in mine.items() if isinstance(found, dict)
        }
        row["ours_drifted"] = mine.get("drift", {}).get("flagged")
        ev_day = ev.get("windows", {}).get(day)
        if ev_day:
            row["evidently_drifted"] = ev_day.get("drifted")
            row["evidently_accuracy"] = ev_day.get("perf", {}).get("accuracy")
        nml_drift = nml.get("windows", {}).get("drift", {}).get(day)
        if nml_drift:
            row["nannyml_drifted"] = sorted(
                {name.split("|")[0] for name, v in nml_drift.items() if v.get("alert")}
            )
        row["ours_accuracy"] = mine.get("performance", {}).get("value")
        for part, key in (("perf", "nannyml_accuracy"), ("cbpe", "nannyml_accuracy_estimated")):
            found = nml.get("windows", {}).get(part, {}).get(day, {}).get("accuracy")
            if found:
                row[key] = found.get("value")
        out[day] = row
    return out


def ratio(peer_s: float | None, ours_s: float | None) -> float | None:
    if not peer_s or not ours_s:
        return None
    return peer_s / ours_s


def build_report(results: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    engine = results.get("engine", {})
    store = results.get("store", {})
    ev = results.get("evidently", {})
    nml = results.get("nannyml", {})
    big = results.get("big", {})
    ours_wall = engine.get("wall_s")
    pass_s = engine.get("seconds", {}).get("pass")
    verdict: dict[str, Any] = {}
    rows = []
    for tool, found, target in (
        ("evidently", ev, TARGETS["evidently"]),
        ("nannyml", nml, TARGETS["nannyml"]),
    ):
        if "wall_s" not in found or "error" in found or ours_wall is None:
            continue
        r = ratio(found["wall_s"], ours_wall)
        verdict[f"{tool}_process_ratio"] = r
        verdict[f"{tool}_cpu_ratio"] = ratio(found["cpu_s"], engine["cpu_s"])
        compute = sum(v for k, v in found["timings_s"].items() if k not in ("import", "read"))
        verdict[f"{tool}_compute_ratio"] = ratio(compute, pass_s)
        verdict[f"{tool}_met"] = r is not None and r >= target
        rows.append(
            (
                f"engine process vs {tool}: wall (pass alone)",
                f"{ours_wall:.2f} s ({pass_s:.2f} s)",
                f"{found['wall_s']:.1f} s ({compute:.1f} s)",
                f"{r:.1f}x ({verdict[f'{tool}_compute_ratio']:.1f}x)",
                f">= {target:.0f}x",
                "yes" if verdict[f"{tool}_met"] else "no",
            )
        )
        rows.append(
            (
                f"engine process vs {tool}: CPU",
                f"{engine['cpu_s']:.2f} s",
                f"{found['cpu_s']:.1f} s",
                f"{verdict[f'{tool}_cpu_ratio']:.1f}x",
                f">= {target:.0f}x",
                "yes" if verdict[f"{tool}_cpu_ratio"] >= target else "no",
            )
        )
        rows.append(
            (
                f"peak RSS, engine vs {tool}",
                f"{engine['peak_rss_mb']:.0f} MB",
                f"{found['peak_rss_mb']:.0f} MB",
                "",
                "",
                "",
            )
        )
    if store.get("wall_s") and "error" not in store:
        for tool, found, target in (
            ("evidently", ev, TARGETS["evidently"]),
            ("nannyml", nml, TARGETS["nannyml"]),
        ):
            if "wall_s" not in found:
                continue
            r = ratio(found["wall_s"], store["seconds"]["pass"])
            verdict[f"store_{tool}_ratio"] = r
            verdict[f"store_{tool}_met"] = r is not None and r >= target
            rows.append(
                (
                    f"store pass (run_pass) vs {tool} process",
                    f"{store['seconds']['pass']:.2f} s",
                    f"{found['wall_s']:.1f} s",
                    f"{r:.1f}x",
                    f">= {target:.0f}x",
                    "yes" if verdict[f"store_{tool}_met"] else "no",
                )
            )
    if store.get("peak_rss_mb") and "error" not in store:
        rows.append(
            (
                "peak RSS, the store pass's process (three passes)",
                f"{store['peak_rss_mb']:.0f} MB",
                "",
                "",
                "",
                "",
            )
        )
    elif "store" in results:
        rows.append(("store pass (run_pass)", store.get("error", "not run"), "", "", "", ""))
    for name, found in (("engine", engine), ("store", store)):
        seconds = found.get("seconds", {})
        if seconds.get("incremental_hour") and seconds.get("pass"):
            share = seconds["incremental_hour"] / seconds["pass"]
            verdict[f"{name}_incremental_share"] = share
            verdict[f"{name}_incremental_met"] = share <= TARGETS["incremental_share"]
            rows.append(
                (
                    f"{name}: one new hour vs the full pass",
                    f"{seconds['incremental_hour'] * 1000:.1f} ms",
                    f"{seconds['pass']:.2f} s",
                    f"{share:.2%}",
                    "<= 1%",
                    "yes" if verdict[f"{name}_incremental_met"] else "no",
                )
            )
    floor = results.get("floor", {})
    if floor.get("cpu_s") is not None:
        rows.append(
            (
                "floor: read the segments, bin each hour with numpy",
                f"{floor['wall_s']:.2f} s wall, {floor['cpu_s']:.2f} s CPU",
                "",
                "",
                "",
                "",
            )
        )
    if big.get("peak_rss_mb"):
        verdict["big_rss_met"] = big["peak_rss_mb"] < TARGETS["big_rss_mb"]
        rows.append(
            (
                f"peak RSS, engine over {big['rows']:,} rows",
                f"{big['peak_rss_mb']:.0f} MB ({big['wall_s']:.0f} s)",
                "",
                "",
                "< 500 MB",
                "yes" if verdict["big_rss_met"] else "no",
            )
        )
    head = ("measurement", "Modelyard", "peer", "ratio", "target", "met")
    return markdown_table(head, rows), verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny data, no peers, no 10M run")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--reps", type=int, default=3, help="repeats of the new hour")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        help="any of engine,store,floor,big,evidently,nannyml",
    )
    parser.add_argument("--ev-python", type=Path, default=HERE / ".venv-monitoring-ev/bin/python")
    parser.add_argument("--nml-python", type=Path, default=HERE / ".venv-monitoring-nml/bin/python")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per process, seconds")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--data", type=Path, help="keep the generated data here and reuse it on later runs"
    )
    parser.add_argument("--profile", type=Path, help="cProfile our engine and store processes")
    parser.add_argument("--report", type=Path, help="print the table of a --json-out file")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child[0], json.loads(args.child[1]))
        return
    if args.report:
        print(build_report(json.loads(args.report.read_text()))[0])
        return
    skip = {s for item in args.skip for s in item.split(",")}
    if args.quick:
        args.rows, args.reference_rows, args.days = 24_000, 5_000, 3
        skip |= {"evidently", "nannyml", "big"}
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine(),
        "versions": versions("modelyard", "numpy", "pyarrow"),
        "load_start": loadavg(),
        "args": {k: str(v) for k, v in vars(args).items() if k != "child"},
    }
    with scratch_dir("mon-bench-") as scratch:
        root = args.data or Path(scratch)
        done = root / "data.json"
        wanted = {"rows": args.rows, "reference_rows": args.reference_rows, "days": args.days}
        kept = json.loads(done.read_text()) if done.exists() else {}
        if "t0_ms" in kept and {k: v for k, v in kept.items() if k in wanted} == wanted:
            results["data"] = kept
        else:
            log(f"generating {args.rows:,} rows over {args.days} days ...")
            mark = time.perf_counter()
            results["data"] = generate(root, args.rows, args.reference_rows, args.days)
            results["data"]["seconds"] = time.perf_counter() - mark
            done.write_text(json.dumps(results["data"]))
        profile = str(args.profile) if args.profile else None
        if "engine" not in skip:
            log("ours: engine ...")
            results["engine"] = ours(
                "engine", root, args.timeout, days=args.days, reps=args.reps, profile=profile
            )
        if "store" not in skip:
            log("ours: pass through the store ...")
            setup = ours("store", root, args.timeout, days=args.days)
            results["store_setup"] = setup
            if "error" in setup:
                results["store"] = setup
            else:
                spec = {"rows": args.rows, "days": args.days, "profile": profile}
                results["store"] = ours("store_pass", root, args.timeout, **spec)
        if "floor" not in skip:
            log("floor: read and bin the hours with numpy ...")
            results["floor"] = ours("floor", root, args.timeout, days=args.days)
        if "big" not in skip:
            log(f"ours: engine over {args.big_rows:,} rows ...")
            results["big"] = ours("big", root, args.timeout, rows=args.big_rows, days=args.days)
        if "nannyml" not in skip:
            log("NannyML ...")
            results["nannyml"] = peer("nannyml", args.nml_python, root, args.timeout)
        if "evidently" not in skip:
            log("Evidently ...")
            results["evidently"] = peer("evidently", args.ev_python, root, args.timeout)
    results["load_end"] = loadavg()
    results["seconds"] = time.perf_counter() - started
    results["agreement"] = agreement(
        results.get("engine", {}), results.get("evidently", {}), results.get("nannyml", {})
    )
    table, verdict = build_report(results)
    results["verdict"] = verdict
    print(table)
    print(f"load {results['load_start']} -> {results['load_end']}, {results['seconds']:.0f} s")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1, default=str))
    summary = {k: v if isinstance(v, bool) else rnd(v, 4) for k, v in verdict.items()}
    print(json.dumps(summary | {"ok": "error" not in results.get("engine", {})}))


if __name__ == "__main__":
    main()
