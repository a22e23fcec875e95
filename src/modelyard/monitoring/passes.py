"""The incremental monitoring pass over one deployment.

1. **Segments.** The log segments of the deployment (by project and name) without a
   ``monitor_reads`` row for it are read, one blob read each. Their rows are split by model
   version and hour; each part is summarized (the :class:`Summarizer`) and, in ONE write
   transaction per segment, the segment's ``monitor_reads`` row is inserted (a segment
   already read -- by another worker, or a pass run twice -- inserts nothing and is
   skipped) and each part is merged into its hour's ``monitor_windows`` row, with the
   hour's outputs (prediction ids and output columns, a Parquet blob) and its performance
   rebuilt from those outputs and all their labels. The transaction first locks the
   deployment's ``monitor_cursors`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
   write lock does the same), so two passes merging different segments into the same hour
   never lose one another's rows. Late rows land in their own (old) hour, which is judged
   again.
2. **Labels.** The labels given since the deployment's label cursor (and at least
   :data:`LABEL_SETTLE_MS` ago, so a batch still being written is taken next time) are
   matched to the hours within ``monitoring.label_horizon_days`` whose outputs hold their
   prediction ids: the hours' outputs are read newest first (their prediction ids only,
   until one holds a new label) and no further once every new label is found in a whole
   hour, all versions of it (a request's shadow copies are logged with its time); a label
   of an id in no hour reads every hour in the horizon. Those hours' performance is
   rebuilt from their outputs and ALL their labels (a later label replaces an earlier
   one). Labels for ids in no hour are counted as unknown; as repeated, in an hour built
   by an earlier pass, those that did not label a row it had no label for, i.e. that
   replaced one the hour was built with (an hour this pass rebuilt from new segments took
   in every label given by then: none of its labels counts).
3. **Judging.** Each enabled monitor judges every window holding an hour that changed since
   its last pass (rows, labels, or the servers' reports), or that ended since, per model
   version and for all versions together (each window's hours are decoded and merged once
   per pass and version, shared by every monitor judging it; all versions together are
   the versions' merged summaries merged); its values are upserted (the same window judged
   with the same finding changes nothing). A window still in progress is judged and marked
   ``partial`` in its details, and never opens or clears an alert; the latest complete
   window's finding opens the monitor's alert (on the deployment for all versions, on the
   version for one) or clears it, only when that window's status is new or changed.

A store that fails (:class:`StorageError`) is tried again a few times with backoff; then
the pass stops and reports the error. A worker killed mid-pass loses nothing: what a
segment's transaction committed stays read and merged, the rest is read next time, and
windows are judged from the store, not from memory.
"""

from __future__ import annotations

import io
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, exists, select, update

from modelyard._util import now_ms
from modelyard.errors import CorruptBlob, ModelyardError, NotFound, StorageError
from modelyard.monitoring._parts import Reference, WindowInputs
from modelyard.monitoring._raise import clear_alert, raise_alert
from modelyard.monitoring.checks import CHECKS
from modelyard.monitoring.entities import Finding, PassReport
from modelyard.predictions._segments import read_segment
from modelyard.store.tables import (
    deployment_stats,
    monitor_cursors,
    monitor_reads,
    monitor_values,
    monitor_windows,
    monitors,
    prediction_labels,
    prediction_segments,
    projects,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.monitoring._parts import (
        PerformanceSummarizer,
        PerformanceSummary,
        Summarizer,
        WindowSummary,
    )
    from modelyard.monitoring.service import MonitorService
    from modelyard.serving.entities import Deployment

__all__ = [
    "ALL_VERSIONS",
    "DAY_MS",
    "HOUR_MS",
    "LABEL_SETTLE_MS",
    "RETRY_WAITS_S",
    "MonitorPass",
    "windows_of",
]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
#: The version id of values for all versions of a deployment together.
ALL_VERSIONS = ""
#: Labels given less than this long ago are taken by the next pass (a batch whose
#: transaction has not committed yet may carry an earlier time).
LABEL_SETTLE_MS = 5_000
#: A window that ended this long before a monitor's last pass is not judged again for
#: having ended (a monitor's first pass looks back this far).
ENDED_LOOKBACK_MS = 2 * DAY_MS
#: How often a store error is tried again, and the waits (s) before each try.
RETRY_WAITS_S = (0.2, 1.0, 3.0)
#: Prediction ids asked for in one query of labels.
_IDS_PER_QUERY = 500

T = TypeVar("T")


def windows_of(hour: int, window: str, slide: str | None) -> list[tuple[int, int]]:
    """The windows ``[start, end)`` of a monitor that hold the hour starting at ``hour``."""
    if window == "hour":
        return [(hour, hour + HOUR_MS)]
    if slide == "hour":
        return [(hour - k * HOUR_MS, hour - k * HOUR_MS + DAY_MS) for k in range(24)]
    day = hour - hour % DAY_MS
    return [(day, day + DAY_MS)]


def _ids_of(outputs: pa.Table) -> list[str]:
    return [str(v) for v in outputs.column("prediction_id").to_pylist()]


def _parquet(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


def _table(data: bytes, columns: list[str] | None = None) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_table(pa.BufferReader(data), columns=columns)


class MonitorPass:
    """One pass over one deployment (see the module), for ``service``'s actor."""

    def __init__(
        self,
        service: MonitorService,
        project: str,
        deployment: Deployment,
        summarizer: Summarizer,
        performance: PerformanceSummarizer,
        *,
        on_segment: Callable[[int, int], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.service = service
        self.store = service.store
        self.project = project
        self.deployment = deployment
        self.summarizer = summarizer
        self.performance = performance
        self.on_segment = on_segment
        self.sleep = sleep
        self._references: dict[str, Reference] = {}
        self.project_id = ""
        #: The hours (version id, start) this pass rebuilt from new segments: their
        #: performance took in every label given by then.
        self._built: set[tuple[str, int]] = set()

    # -- the whole pass -------------------------------------------------------------------

    def run(self) -> PassReport:
        started = time.perf_counter()
        counts: dict[str, int] = defaultdict(int)
        opened: list[str] = []
        resolved: list[str] = []
        errors: list[str] = []
        try:
            self._retrying(self._prepare)
            self._segments(counts)
            self._retrying(lambda: self._labels(counts))
            self._judge(counts, opened, resolved, errors)
        except StorageError as exc:
            errors.append(f"the store failed ({exc.message}); the pass stopped")
        return PassReport(
            deployment=self.deployment.name,
            segments=counts["segments"],
            rows=counts["rows"],
            windows=counts["windows"],
            labels=counts["labels"],
            values=counts["values"],
            opened=tuple(opened),
            resolved=tuple(resolved),
            errors=tuple(errors),
            seconds=time.perf_counter() - started,
            unknown_labels=counts["unknown_labels"],
            repeated_labels=counts["repeated_labels"],
        )

    def _retrying(self, work: Callable[[], T]) -> T:
        """``work`` done, tried again after each wait of the service's ``retry_waits_s``
        while the store fails (a corrupt blob is not tried again: it stays corrupt)."""
        for wait in (*self.service.retry_waits_s, None):
            try:
                return work()
            except CorruptBlob:
                raise
            except StorageError:
                if wait is None:
                    raise
                self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _prepare(self) -> None:
        """The project's id, and the deployment's cursor row (the row merges lock)."""
        with self.store.write() as conn:
            self.project_id = str(
                conn.execute(select(projects.c.id).where(projects.c.name == self.project)).scalar()
            )
            conn.execute(
                self.store.insert_stmt(monitor_cursors)
                .values(deployment_id=self.deployment.id, labelled_at=0, updated_at=now_ms())
                .on_conflict_do_nothing()
            )

    def _lock(self, conn: Connection) -> Any:
        """The deployment's cursor row, locked until the transaction ends."""
        return conn.execute(
            select(monitor_cursors)
            .where(monitor_cursors.c.deployment_id == self.deployment.id)
            .with_for_update()
        ).one()

    def reference(self, version_id: str) -> Reference:
        """The reference of a version the log names (one read per pass); a version the
        registry no longer has is compared with nothing."""
        if version_id not in self._references:
            try:
                found = self.service.reference(version_id)
            except NotFound:
                found = Reference(version_id=version_id, version=version_id, features=())
            self._references[version_id] = found
        return self._references[version_id]

    def _champion(self) -> Reference | None:
        route = self.deployment.plan.champion
        return self.reference(route.version_id) if route and route.version_id else None

    # -- 1. segments ----------------------------------------------------------------------

    def _segments(self, counts: dict[str, int]) -> None:
        seg = prediction_segments.c

        def unread() -> list[Any]:
            with self.store.read() as conn:
                read = exists().where(
                    monitor_reads.c.deployment_id == self.deployment.id,
                    monitor_reads.c.segment_id == seg.id,
                )
                return list(
                    conn.execute(
                        select(seg.id, seg.digest, seg.rows)
                        .where(
                            seg.project_id == self.project_id,
                            seg.deployment == self.deployment.name,
                            ~read,
                        )
                        .order_by(seg.min_time, seg.id)
                    ).all()
                )

        found = self._retrying(unread)
        for done, row in enumerate(found, 1):
            self._segment(row, counts)
            if self.on_segment is not None:
                self.on_segment(done, len(found))

    def _segment(self, row: Any, counts: dict[str, int]) -> None:
        digest = row.digest
        table = read_segment(
            self._retrying(lambda: self.service.blobs.get_bytes(digest)), None, None
        )
        parts = self._parts(table)
        if self._retrying(lambda: self._merge(row.id, parts)):
            counts["segments"] += 1
            counts["rows"] += table.num_rows
            counts["windows"] += len(parts)

    def _parts(self, table: pa.Table) -> dict[tuple[str, int], tuple[WindowSummary, pa.Table]]:
        """The segment's rows by version and hour: each part's summary and outputs."""
        import pyarrow as pa
        import pyarrow.compute as pc

        times = table.column("time").cast(pa.int64())
        hours = pc.multiply(pc.divide(times, HOUR_MS), HOUR_MS)  # times are after 1970
        versions = table.column("version_id")
        out_columns = ["prediction_id"] + [
            n for n in table.column_names if n == "output" or n.startswith("output.")
        ]
        parts = {}
        for version_id in sorted(pc.unique(versions).to_pylist()):
            of_version = pc.equal(versions, version_id)
            for hour in sorted(pc.unique(pc.filter(hours, of_version)).to_pylist()):
                rows = table.filter(pc.and_(of_version, pc.equal(hours, hour)))
                summary = self.summarizer.summarize(rows, self.reference(version_id))
                parts[(version_id, int(hour))] = (summary, rows.select(out_columns))
        return parts

    def _merge(
        self, segment_id: str, parts: dict[tuple[str, int], tuple[WindowSummary, pa.Table]]
    ) -> bool:
        """One segment's transaction (see the module); False when it was read already."""
        import pyarrow as pa

        with self.store.write() as conn:
            inserted = conn.execute(
                self.store.insert_stmt(monitor_reads)
                .values(deployment_id=self.deployment.id, segment_id=segment_id, read_at=now_ms())
                .on_conflict_do_nothing()
                .returning(monitor_reads.c.segment_id)
            ).first()
            if inserted is None:
                return False
            self._lock(conn)
            at = self.service.clock()  # the clock the monitors' last passes are on
            w = monitor_windows.c
            for (version_id, hour), (summary, outputs) in parts.items():
                row = conn.execute(
                    select(monitor_windows).where(
                        w.deployment_id == self.deployment.id,
                        w.version_id == version_id,
                        w.window_start == hour,
                    )
                ).first()
                if row is not None:
                    summary = self.summarizer.load(row.summary).merge(summary)
                    if row.outputs_digest is not None:
                        before = _table(self.service.blobs.get_bytes(row.outputs_digest))
                        outputs = pa.concat_tables([before, outputs], promote_options="permissive")
                digest = self.service.blobs.put_bytes(_parquet(outputs)).digest
                performance, labelled = self._performance(conn, version_id, outputs)
                values = {
                    "window_end": hour + HOUR_MS,
                    "rows": summary.rows,
                    "labelled": labelled,
                    "summary": summary.to_bytes(),
                    "performance": performance.to_bytes(),
                    "outputs_digest": digest,
                    "updated_at": at,
                }
                self._built.add((version_id, hour))
                if row is None:
                    conn.execute(
                        monitor_windows.insert().values(
                            deployment_id=self.deployment.id,
                            version_id=version_id,
                            window_start=hour,
                            **values,
                        )
                    )
                else:
                    conn.execute(
                        update(monitor_windows)
                        .where(
                            w.deployment_id == self.deployment.id,
                            w.version_id == version_id,
                            w.window_start == hour,
                        )
                        .values(**values)
                    )
        return True

    def _performance(
        self, conn: Connection, version_id: str, outputs: pa.Table
    ) -> tuple[PerformanceSummary, int]:
        """An hour's performance from its outputs and every label given for them."""
        ids = _ids_of(outputs)
        found = _labels(conn, self.project_id, self.deployment.name, ids)
        labels = [found.get(i) for i in ids]
        summary = self.performance.summarize(
            outputs.drop_columns(["prediction_id"]), labels, self.reference(version_id)
        )
        return summary, sum(1 for v in labels if v is not None)

    # -- 2. labels ------------------------------------------------------------------------

    def _labels(self, counts: dict[str, int]) -> None:
        now = self.service.clock()
        horizon = now - self.service.settings.monitoring.label_horizon_days * DAY_MS
        with self.store.write() as conn:
            cursor = self._lock(conn)
            lab = prediction_labels.c
            given = conn.execute(
                select(lab.prediction_id, lab.labelled_at).where(
                    lab.project_id == self.project_id,
                    lab.deployment == self.deployment.name,
                    lab.labelled_at > cursor.labelled_at,
                    lab.labelled_at <= now_ms() - self.service.label_settle_ms,
                )
            ).all()
            if not given:
                return
            given_at = {r.prediction_id: r.labelled_at for r in given}
            w = monitor_windows.c
            hours = conn.execute(
                select(w.version_id, w.window_start, w.labelled, w.outputs_digest, w.updated_at)
                .where(
                    w.deployment_id == self.deployment.id,
                    w.window_start >= horizon - horizon % HOUR_MS,
                    w.outputs_digest.is_not(None),
                )
                .order_by(w.window_start.desc(), w.version_id)
            ).all()
            known: set[str] = set()
            start = None
            at = self.service.clock()  # the clock the monitors' last passes are on
            for hour in hours:
                if hour.window_start != start and known.issuperset(given_at):
                    break  # every label found, and all versions of its hours (shadow copies)
                start = hour.window_start
                data = self.service.blobs.get_bytes(hour.outputs_digest)
                hit = given_at.keys() & _ids_of(_table(data, ["prediction_id"]))
                if not hit:
                    continue
                known |= hit
                outputs = _table(data)
                performance, labelled = self._performance(conn, hour.version_id, outputs)
                if (hour.version_id, hour.window_start) not in self._built:
                    # built before this pass: a label given since that labelled no new row
                    # replaced one the hour was built with
                    counts["repeated_labels"] += max(len(hit) - (labelled - hour.labelled), 0)
                counts["windows"] += 1
                conn.execute(
                    update(monitor_windows)
                    .where(
                        w.deployment_id == self.deployment.id,
                        w.version_id == hour.version_id,
                        w.window_start == hour.window_start,
                    )
                    .values(performance=performance.to_bytes(), labelled=labelled, updated_at=at)
                )
            counts["labels"] += len(known)
            counts["unknown_labels"] += len(given_at.keys() - known)
            conn.execute(
                update(monitor_cursors)
                .where(monitor_cursors.c.deployment_id == self.deployment.id)
                .values(labelled_at=max(r.labelled_at for r in given), updated_at=at)
            )

    # -- 3. judging -----------------------------------------------------------------------

    def _judge(
        self,
        counts: dict[str, int],
        opened: list[str],
        resolved: list[str],
        errors: list[str],
    ) -> None:
        snapshot = self._retrying(self._snapshot)
        if snapshot is None:
            return
        judged_at, enabled, hour_rows, stats = snapshot
        now = self.service.clock()
        plans: list[tuple[Any, list[tuple[int, int]]]] = []
        for monitor in enabled:
            if monitor.kind not in CHECKS:
                errors.append(f"monitor {monitor.name}: no check of kind {monitor.kind!r}")
                continue
            plans.append((monitor, self._windows(monitor, judged_at, hour_rows, stats)))
        needed = {h for _, windows in plans for s, e in windows for h in range(s, e, HOUR_MS)}
        parts = self._retrying(lambda: self._summaries(needed))
        by_hour: dict[int, list[Any]] = defaultdict(list)
        for r in hour_rows:
            by_hour[r.window_start].append(r)
        inputs = _Inputs(self, now, by_hour, parts, stats)
        results: list[tuple[Any, str, int, int, Finding]] = []
        for monitor, windows in plans:
            try:
                results.extend(self._judge_monitor(monitor, windows, now, by_hour, inputs))
            except ModelyardError as exc:
                errors.append(f"monitor {monitor.name}: {exc.message}")
            except Exception as exc:  # a check's own failure: reported, the others run
                errors.append(f"monitor {monitor.name}: {type(exc).__name__}: {exc}")
        changed = self._retrying(lambda: self._write(judged_at, now, enabled, results))
        counts["values"] += changed.values
        opened.extend(changed.opened)
        resolved.extend(changed.resolved)

    def _snapshot(self) -> tuple[int, list[Any], list[Any], list[Any]] | None:
        """Under the deployment's lock: the time judged from, the enabled monitors, the
        hours and the servers' reports they may need."""
        with self.store.write() as conn:
            self._lock(conn)
            judged_at = self.service.clock()
            enabled = conn.execute(
                select(monitors)
                .where(monitors.c.deployment_id == self.deployment.id, monitors.c.enabled)
                .order_by(monitors.c.name)
            ).all()
            if not enabled:
                return None
            oldest = min(m.last_pass_at or 0 for m in enabled)
            w = monitor_windows.c
            changed = conn.execute(
                select(w.window_start).where(
                    w.deployment_id == self.deployment.id, w.updated_at >= oldest
                )
            ).scalars()
            starts = set(changed)
            floor = min(starts, default=judged_at) - DAY_MS - WEEK_MS
            floor = min(floor, judged_at - ENDED_LOOKBACK_MS - WEEK_MS)
            hour_rows = conn.execute(
                select(w.version_id, w.window_start, w.rows, w.updated_at).where(
                    w.deployment_id == self.deployment.id, w.window_start >= floor
                )
            ).all()
            s = deployment_stats.c
            stats = conn.execute(
                select(
                    s.version_id, s.window_start, s.window_end, s.requests, s.errors, s.latency_ms
                ).where(s.deployment_id == self.deployment.id, s.window_end >= floor)
            ).all()
        return judged_at, list(enabled), list(hour_rows), list(stats)

    def _summaries(self, hours: set[int]) -> dict[tuple[str, int], tuple[bytes, bytes | None]]:
        """The stored summary and performance of each version's hours among ``hours``."""
        if not hours:
            return {}
        w = monitor_windows.c
        with self.store.read() as conn:
            rows = conn.execute(
                select(w.version_id, w.window_start, w.summary, w.performance).where(
                    w.deployment_id == self.deployment.id,
                    w.window_start >= min(hours),
                    w.window_start <= max(hours),
                )
            ).all()
        return {
            (r.version_id, r.window_start): (r.summary, r.performance)
            for r in rows
            if r.window_start in hours
        }

    def _windows(
        self, monitor: Any, judged_at: int, hour_rows: list[Any], stats: list[Any]
    ) -> list[tuple[int, int]]:
        """The monitor's windows to judge: those holding an hour that changed since its
        last pass (rows, labels, servers' reports) or that ended since, and that have begun
        by ``judged_at`` (a later one -- a server's wall-clock report while a replay is
        judged on its own clock, a server whose clock runs ahead -- waits until then: its
        hours stay changed since this pass)."""
        since = monitor.last_pass_at
        touched = {r.window_start for r in hour_rows if since is None or r.updated_at >= since}
        touched |= {
            s.window_start - s.window_start % HOUR_MS
            for s in stats
            if since is None or s.window_end >= since
        }
        ended_from = max(since or 0, judged_at - ENDED_LOOKBACK_MS)
        end = judged_at - judged_at % HOUR_MS
        touched |= set(range(ended_from - ended_from % HOUR_MS, end, HOUR_MS))
        found = {w for h in touched for w in windows_of(h, monitor.window, monitor.slide)}
        return sorted(w for w in found if w[0] < judged_at)

    def _judge_monitor(
        self,
        monitor: Any,
        windows: list[tuple[int, int]],
        now: int,
        by_hour: dict[int, list[Any]],
        inputs: _Inputs,
    ) -> list[tuple[Any, str, int, int, Finding]]:
        check = CHECKS[monitor.kind]
        config = json.loads(monitor.config)
        out = []
        for start, stop in windows:
            versions = {
                r.version_id for h in range(start, stop, HOUR_MS) for r in by_hour.get(h, ())
            }
            for version_id in [*sorted(versions), ALL_VERSIONS]:
                finding = check.judge(config, inputs.get(version_id, start, stop))
                if stop > now:
                    finding = Finding(
                        finding.value,
                        finding.threshold,
                        finding.breached,
                        finding.rows,
                        {**finding.details, "partial": True},
                        finding.note,
                    )
                out.append((monitor, version_id, start, stop, finding))
        return out

    def _write(
        self,
        judged_at: int,
        now: int,
        enabled: list[Any],
        results: list[tuple[Any, str, int, int, Finding]],
    ) -> _Written:
        """Under the deployment's lock: values that are new or changed, the alerts of each
        monitor's latest complete window whose status is new or changed, and each
        monitor's last pass."""
        written = _Written()
        v = monitor_values.c
        with self.store.write() as conn:
            self._lock(conn)
            latest: dict[tuple[str, str], tuple[int, Any, Finding, str]] = {}
            for monitor, version_id, start, stop, finding in results:
                status = _status(finding)
                details = json.dumps(finding.details, sort_keys=True, default=str)
                key = (monitor.id, version_id, start, stop)
                before = conn.execute(
                    select(v.value, v.threshold, v.status, v.rows, v.details).where(
                        v.monitor_id == monitor.id,
                        v.version_id == version_id,
                        v.window_start == start,
                        v.window_end == stop,
                    )
                ).first()
                new = (finding.value, finding.threshold, status, finding.rows, details)
                if before is not None and tuple(before) == new:
                    continue
                conn.execute(
                    self.store.upsert_stmt(
                        monitor_values,
                        ["monitor_id", "version_id", "window_start", "window_end"],
                        ["value", "threshold", "status", "rows", "details", "computed_at"],
                    ),
                    dict(
                        zip(
                            ["monitor_id", "version_id", "window_start", "window_end"],
                            key,
                            strict=True,
                        ),
                        value=finding.value,
                        threshold=finding.threshold,
                        status=status,
                        rows=finding.rows,
                        details=details,
                        computed_at=now_ms(),
                    ),
                )
                written.values += 1
                seen = before is not None and not json.loads(before.details).get("partial")
                if stop > now or (seen and before is not None and before.status == status):
                    continue  # in progress, or a complete window's status known already
                mine = latest.get((monitor.id, version_id))
                if mine is None or stop > mine[0]:
                    latest[(monitor.id, version_id)] = (stop, monitor, finding, status)
            for (monitor_id, version_id), (stop, monitor, finding, status) in latest.items():
                newest = conn.execute(
                    select(v.window_end)
                    .where(
                        v.monitor_id == monitor_id,
                        v.version_id == version_id,
                        v.window_end <= now,
                    )
                    .order_by(v.window_end.desc())
                    .limit(1)
                ).scalar()
                if newest is not None and newest > stop:
                    continue  # an older window judged again: the newer one decides
                self._alert(conn, monitor, version_id, stop, finding, status, written)
            conn.execute(
                update(monitors)
                .where(monitors.c.id.in_([m.id for m in enabled]))
                .values(last_pass_at=judged_at)
            )
        return written

    def _alert(
        self,
        conn: Connection,
        monitor: Any,
        version_id: str,
        stop: int,
        finding: Finding,
        status: str,
        written: _Written,
    ) -> None:
        if version_id == ALL_VERSIONS:
            subject = ("deployment", self.deployment.id, f"deployment {self.deployment.name}")
            source = monitor.name
        else:  # a version may be served by several deployments, each with its monitors
            subject = ("model_version", version_id, self.reference(version_id).version)
            source = f"{self.deployment.name}/{monitor.name}"
        kind, subject_id, name = subject
        if status == "breach":
            raised = raise_alert(
                conn,
                project=self.project,
                subject_kind=kind,
                subject_id=subject_id,
                subject=name,
                monitor=source,
                severity=monitor.severity,
                title=_title(monitor, name, finding),
                details={
                    "monitor": monitor.name,
                    "kind": monitor.kind,
                    "deployment": self.deployment.name,
                    "window_end": stop,
                    "value": finding.value,
                    "threshold": finding.threshold,
                    "rows": finding.rows,
                    **finding.details,
                },
                at=now_ms(),
                monitor_id=monitor.id,
            )
            if raised.opened:
                written.opened.append(raised.alert_id)
        elif status == "ok":
            cleared = clear_alert(
                conn,
                project=self.project,
                subject_kind=kind,
                subject_id=subject_id,
                subject=name,
                monitor=source,
                at=now_ms(),
            )
            if cleared is not None:
                written.resolved.append(cleared)


class _Inputs:
    """Each (window, version)'s :class:`WindowInputs`, built once per pass and shared by
    every monitor judging the window: its hours' stored summaries decoded and merged once
    per version; all versions together are the versions' merged summaries merged (a copy
    of the first is merged into, so no version's inputs change)."""

    def __init__(
        self,
        owner: MonitorPass,
        now: int,
        by_hour: dict[int, list[Any]],
        parts: dict[tuple[str, int], tuple[bytes, bytes | None]],
        stats: list[Any],
    ) -> None:
        self.owner = owner
        self.now = now
        self.by_hour = by_hour
        self.parts = parts
        self.stats = stats
        self._built: dict[tuple[int, int, str], WindowInputs] = {}

    def get(self, version_id: str, start: int, stop: int) -> WindowInputs:
        key = (start, stop, version_id)
        if key not in self._built:
            self._built[key] = self._build(version_id, start, stop)
        return self._built[key]

    def _build(self, version_id: str, start: int, stop: int) -> WindowInputs:
        owner = self.owner
        rows = [r for h in range(start, stop, HOUR_MS) for r in self.by_hour.get(h, ())]
        summary: WindowSummary | None = None
        performance: PerformanceSummary | None = None
        if version_id == ALL_VERSIONS:
            each = [self.get(v, start, stop) for v in sorted({r.version_id for r in rows})]
            summary = _combined([i.summary for i in each], owner.summarizer.load)
            performance = _combined([i.performance for i in each], owner.performance.load)
        else:
            for r in rows:
                found = self.parts.get((r.version_id, r.window_start))
                if found is None or r.version_id != version_id:
                    continue
                part = owner.summarizer.load(found[0])
                summary = part if summary is None else summary.merge(part)
                if found[1] is not None:
                    perf = owner.performance.load(found[1])
                    performance = perf if performance is None else performance.merge(perf)
        requests = errors = 0
        latency: list[int] = []
        for s in self.stats:
            if start <= s.window_start < stop and version_id in (ALL_VERSIONS, s.version_id):
                requests += s.requests
                errors += s.errors
                counts = json.loads(s.latency_ms)
                latency = [a + b for a, b in zip(latency or [0] * len(counts), counts, strict=True)]
        week_ago = [
            r
            for h in range(start - WEEK_MS, stop - WEEK_MS, HOUR_MS)
            for r in self.by_hour.get(h, ())
            if version_id in (ALL_VERSIONS, r.version_id)
        ]
        reference = owner._champion() if version_id == ALL_VERSIONS else owner.reference(version_id)
        return WindowInputs(
            start=start,
            end=stop,
            reference=reference,
            summary=summary,
            performance=performance,
            requests=requests,
            errors=errors,
            latency_ms=tuple(latency),
            expected_rows=float(sum(r.rows for r in week_ago)) if week_ago else None,
            extra={
                "partial": stop > self.now,
                "week_ago_rows": sum(r.rows for r in week_ago) if week_ago else None,
                "time_profile": (
                    reference.profile.time
                    if reference is not None and reference.profile is not None
                    else None
                ),
            },
        )


S = TypeVar("S", "WindowSummary", "PerformanceSummary")


def _combined(parts: list[S | None], load: Callable[[bytes], S]) -> S | None:
    """``parts`` merged, none of them changed: the only one itself, else a copy of the
    first (encoded and loaded again) with the others merged into it."""
    present = [p for p in parts if p is not None]
    if len(present) <= 1:
        return present[0] if present else None
    merged = load(present[0].to_bytes())
    for part in present[1:]:
        merged = merged.merge(part)
    return merged


class _Written:
    def __init__(self) -> None:
        self.values = 0
        self.opened: list[str] = []
        self.resolved: list[str] = []


def _status(finding: Finding) -> str:
    if finding.value is None:
        return "no_data"
    return "breach" if finding.breached else "ok"


def _title(monitor: Any, subject: str, finding: Finding) -> str:
    value = "none" if finding.value is None else f"{finding.value:.4g}"
    bound = "" if finding.threshold is None else f" (threshold {finding.threshold:.4g})"
    return f"{monitor.kind} {monitor.name} on {subject}: {value}{bound}"


def _labels(
    conn: Connection, project_id: str, deployment: str, ids: Iterable[str]
) -> dict[str, Any]:
    """The labels given for ``ids`` (decoded), by prediction id."""
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Any] = {}
    lab = prediction_labels.c
    for start in range(0, len(wanted), _IDS_PER_QUERY):
        rows = conn.execute(
            select(lab.prediction_id, lab.label).where(
                lab.project_id == project_id,
                lab.deployment == deployment,
                lab.prediction_id.in_(wanted[start : start + _IDS_PER_QUERY]),
            )
        )
        for row in rows:
            found[row.prediction_id] = json.loads(row.label)
    return found
