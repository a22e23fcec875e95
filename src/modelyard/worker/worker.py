"""The worker behind ``modelyard worker``: find due work, claim it, run the pipelines.

Each pass takes over fires whose worker stopped (their lease expired), then claims the
due occurrences of the enabled schedules (:meth:`ScheduleService.due`) one at a time,
each only while fewer than ``concurrency`` fires run, and runs each claimed fire on a
thread of its own, which runs the pipeline with ``Pipeline.run(client=..., project=...,
**params)``: by default in a fresh Python process per fire (``python -m
modelyard.worker._fire``, the job on its stdin, the run id and outcome back on its
stdout), or with ``isolation="inline"`` on that thread. While a pipeline runs, another
thread renews the fire's lease. The pipeline run carries the fire's trigger from its
first moment as tags (:data:`TRIGGER_TAG`, :data:`SCHEDULE_TAG`, :data:`FIRE_TAG`); the
fire records the run, its status and its error. One line per fire goes to ``log``
(stderr).

Beside the fires, a thread delivers webhooks (:class:`~modelyard.events.delivery.Deliverer`):
every ``webhooks.poll_interval_s`` it claims the deliveries due, sends each once and
records how it went, one line each to ``log``; a delivery this worker held when it died is
sent again by the next worker once its lease expired.
A third thread runs the monitoring passes (:meth:`MonitorService.run_pass` over each
deployment with enabled monitors, as the system actor) every
``monitoring.pass_interval_s``, and sooner when new log segments were written; a pass that
fails is logged and the next one tries again.
Every ``retirement_interval_s`` (at the start of a pass) the worker also applies the model
retirement policies of each project (of its project, when it has one), as the system
actor (:meth:`ModelService.run_retirement`), one line per move. At the start of every
pass it judges the deployments' rollouts from the inference servers' reports, as the
system actor (:meth:`DeploymentService.evaluate`): a breached guard rolls a deployment back
to its champion, a due step moves its candidate on; one line each. Every
:data:`~modelyard.monitoring.costs.BUDGET_CHECK_S` (at the start of a pass) it checks the
projects' budgets on this month's spending (:meth:`CostService.check_budgets`): an alert
opens as spending passes a threshold, one line each.
A thread of its own drives the closed loops (:mod:`modelyard.monitoring.loop`), as the
system actor, every ``poll_interval_s``: it starts the loops whose policies' triggers
fired (an open alert of a trigger monitor, a due schedule), then claims the running loops
whose lease is free and advances each one step, one line per step. A loop's retraining
pipeline runs as a fire's does (a fresh process, or inline with ``isolation="inline"``),
tagged with the loop (:data:`~modelyard.monitoring.loop.LOOP_TAG`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from modelyard._refs import PipelineSources
from modelyard.errors import Conflict, InvalidInput, ModelyardError
from modelyard.events.delivery import Deliverer
from modelyard.governance.identity import SYSTEM
from modelyard.monitoring.costs import BUDGET_CHECK_S, BudgetCheck
from modelyard.monitoring.entities import PassReport
from modelyard.monitoring.loop import StepInterrupted
from modelyard.registry.retirement import RetirementMove
from modelyard.schedules.cron import MAX_COUNTED
from modelyard.schedules.entities import Due, Fire, Schedule
from modelyard.schedules.service import FAILED, FINISHED, Clock, resolve
from modelyard.sdk.client import Client
from modelyard.serving.rollouts import RolloutAction
from modelyard.worker._fire import job_line, one_line

if TYPE_CHECKING:
    from modelyard.config import Settings

__all__ = [
    "FIRE_TAG",
    "INTERRUPTED",
    "SCHEDULE_TAG",
    "TRIGGER_TAG",
    "Outcome",
    "Pass",
    "Worker",
    "fire_command",
]

#: What started a scheduled pipeline run: ``cron:EXPR@TIME``, ``dataset:NAME:VERSION``
#: or ``manual:USER@TIME`` (a run asked for now).
TRIGGER_TAG = "modelyard.trigger"
#: The schedule of a scheduled pipeline run.
SCHEDULE_TAG = "modelyard.schedule"
#: The fire (claimed occurrence) a scheduled pipeline run belongs to.
FIRE_TAG = "modelyard.schedule_fire"

#: The error of a fire that the worker's second SIGINT or SIGTERM interrupted.
INTERRUPTED = "interrupted: the worker was stopped during the run"
#: How long an interrupted pipeline process has to end its run before SIGKILL.
TERMINATE_GRACE_S = 5.0
#: How often the claiming loop looks at :meth:`Worker.stop` and :meth:`Worker.interrupt`,
#: which only set flags (a signal handler calls them: they take no lock that the
#: interrupted main thread may hold).
_TICK_S = 0.1


@dataclass(frozen=True, slots=True)
class Outcome:
    """One fire this worker ran: its pipeline run (None when the pipeline could not be
    loaded or started), status, error and wall time."""

    fire: Fire
    schedule: Schedule
    run_id: str | None
    status: str
    error: str | None
    seconds: float
    recorded: bool


@dataclass(slots=True)
class Pass:
    """What one pass found: the fires it ran, in the order they finished, the
    occurrences another worker claimed first, the moves of the retirement policies
    (when they were due), what judging the rollouts did, what checking the budgets
    did (when it was due), the monitoring passes and the loop steps it ran (loop run id,
    step)."""

    ran: list[Outcome] = field(default_factory=list)
    lost: int = 0
    retired: list[RetirementMove] = field(default_factory=list)
    rollouts: list[RolloutAction] = field(default_factory=list)
    budgets: list[BudgetCheck] = field(default_factory=list)
    monitored: list[PassReport] = field(default_factory=list)
    loops: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Running:
    """A fire this worker started: its pipeline process once there is one, its run once
    it exists, and whether its outcome is recorded (by its thread, or by the claiming
    loop for an inline fire it interrupted)."""

    schedule: Schedule
    fire: Fire
    due: Due | None
    done: Pass
    started: float = field(default_factory=time.monotonic)
    proc: subprocess.Popen[bytes] | None = None
    run_id: str | None = None
    settled: bool = False


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Worker:
    """Runs the due work of the schedules in one store (of one project, or all); it
    works where the store is (settings with a ``tracking.uri`` are refused).

    ``clock`` (aware datetimes) decides what is due; ``log`` gets one line per fire (from
    the fire's thread). ``concurrency`` fires run at once at most.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        project: str | None = None,
        poll_interval_s: float | None = None,
        lease_s: float | None = None,
        clock: Clock | None = None,
        log: Callable[[str], None] | None = None,
        isolation: Literal["process", "inline"] | None = None,
        concurrency: int | None = None,
    ) -> None:
        if settings.tracking.uri is not None:
            raise InvalidInput(
                f"a worker needs the stores, not the tracking server at "
                f"{settings.tracking.uri}: run `modelyard worker` where the store is "
                "(without tracking.uri)",
                field="tracking.uri",
            )
        self.project = project
        self.poll_interval_s = (
            poll_interval_s if poll_interval_s is not None else settings.worker.poll_interval_s
        )
        self.lease_s = lease_s if lease_s is not None else settings.worker.lease_s
        self.isolation = isolation or settings.worker.isolation
        if self.isolation not in ("process", "inline"):
            raise InvalidInput(
                f"isolation must be 'process' or 'inline'; got {self.isolation!r}",
                field="isolation",
            )
        self.concurrency = concurrency if concurrency is not None else settings.worker.concurrency
        if not 1 <= self.concurrency <= 64:
            raise InvalidInput(
                f"concurrency must be between 1 and 64; got {self.concurrency}",
                field="concurrency",
            )
        self.settings = settings
        self.retirement_interval_s = settings.worker.retirement_interval_s
        self._retirement_due = time.monotonic()
        self._budgets_due = time.monotonic()
        self.clock = clock or _utcnow
        self.log = log or _stderr
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.client = Client(settings)
        self.service = self.client.services.schedules.with_clock(self.clock)
        self.sources = PipelineSources.from_settings(settings)
        self._stop = threading.Event()
        self._interrupted = threading.Event()
        self._ended = threading.Event()  # a fire's thread ended
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self.deliverer = Deliverer(
            self.client.services.webhooks,
            worker=self.name,
            timeout_s=settings.webhooks.timeout_s,
            project=project,
            log=lambda line: self.log(f"{self._stamp()} {line}"),
        )
        self.delivery_interval_s = settings.webhooks.poll_interval_s
        self.monitors = self.client.services.monitors.acting_as(SYSTEM)
        self.monitor_interval_s = settings.monitoring.pass_interval_s
        self.loops = self.client.services.loops.acting_as(SYSTEM)
        self._loop_proc: subprocess.Popen[bytes] | None = None  # a loop's pipeline process

    # -- the loop ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Claim nothing more; the running fires finish (:meth:`run_forever` returns once
        they have)."""
        self._stop.set()

    def interrupt(self) -> None:
        """Stop, and interrupt the running fires: each pipeline process gets SIGTERM (its
        run ends ``killed``), SIGKILL after :data:`TERMINATE_GRACE_S`; an inline fire
        cannot be stopped, its run is ended ``killed`` and its thread is left to end with
        the process. Each fire is recorded failed with :data:`INTERRUPTED`."""
        self._interrupted.set()
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    def run_forever(self) -> None:
        """Pass after pass until :meth:`stop`, then wait for the running fires. A pass
        claims only while a slot is free and does not wait for its fires; the next comes
        ``poll_interval_s`` later, or as soon as a fire ends when the last pass found no
        free slot. A pass that fails on the store (a database restart) is logged and the
        next one tries again. A KeyboardInterrupt interrupts the running fires. Webhooks
        are delivered on a thread of their own meanwhile (the attempt under way ends
        before this returns)."""
        deliveries = threading.Thread(target=self._deliver, name="modelyard-webhooks", daemon=True)
        deliveries.start()
        watching = threading.Thread(target=self._watch, name="modelyard-monitors", daemon=True)
        watching.start()
        loops = threading.Thread(target=self._drive_loops, name="modelyard-loops", daemon=True)
        loops.start()
        try:
            while not self._stop.is_set():
                try:
                    full = self._claim(Pass(), wait=False)
                except ModelyardError as exc:
                    self.log(f"{self._stamp()} pass failed: {exc.message}")
                    full = False
                self._pause(full)
        except KeyboardInterrupt:
            self.interrupt()
            raise
        finally:
            self._drain()
            deliveries.join()
            watching.join()
            if self._interrupted.is_set():
                with self._lock:
                    proc = self._loop_proc
                if proc is not None:  # a loop's pipeline: its step is taken up again later
                    _stop(proc)
            loops.join()

    def _deliver(self) -> None:
        """Deliver webhooks until :meth:`stop`: a pass every ``webhooks.poll_interval_s``,
        at once again after a full batch. A pass that fails on the store is logged."""
        while not self._stop.is_set():
            try:
                full = self.deliverer.run_pass() >= self.deliverer.batch
            except ModelyardError as exc:
                self.log(f"{self._stamp()} webhook pass failed: {exc.message}")
                full = False
            if not full:
                self._stop.wait(self.delivery_interval_s)

    def _watch(self) -> None:
        """Monitoring passes until :meth:`stop`: every ``monitoring.pass_interval_s``, and
        sooner when new log segments were written (counted every ``poll_interval_s``). A
        look that fails on the store is logged and tried again."""
        seen = -1
        due = 0.0
        while not self._stop.is_set():
            try:
                count = self.monitors.segments_logged(project=self.project)
                if count != seen or time.monotonic() >= due:
                    seen = count
                    due = time.monotonic() + self.monitor_interval_s
                    self._monitor(Pass())
            except ModelyardError as exc:
                self.log(f"{self._stamp()} monitoring failed: {exc.message}")
            self._stop.wait(min(self.poll_interval_s, self.monitor_interval_s))

    def _monitor(self, done: Pass) -> None:
        """A monitoring pass over each deployment with enabled monitors (of its project,
        when it has one), as the system actor; one line each. A pass that fails is logged
        and the next one tries again."""
        for project, deployment in self.monitors.monitored(project=self.project):
            try:
                report = self.monitors.run_pass(deployment, project=project)
            except ModelyardError as exc:
                self.log(f"{self._stamp()} monitoring {project}/{deployment} failed: {exc.message}")
                continue
            self.log(
                f"{self._stamp()} monitoring {project}/{deployment}: {report.segments} segments, "
                f"{report.rows} rows, {report.labels} labels, {report.values} values, "
                f"{len(report.opened)} alerts opened, {len(report.resolved)} resolved"
                + "".join(f"; {e}" for e in report.errors)
            )
            done.monitored.append(report)

    def _drive_loops(self) -> None:
        """Advance the closed loops until :meth:`stop`, a pass every ``poll_interval_s``;
        a pass that fails on the store is logged."""
        while not self._stop.is_set():
            try:
                self.loop_pass(Pass())
            except ModelyardError as exc:
                self.log(f"{self._stamp()} loop pass failed: {exc.message}")
            self._stop.wait(self.poll_interval_s)

    def loop_pass(self, done: Pass) -> None:
        """Start the loops whose triggers fired, then advance each running loop whose
        lease is free by one step; one line each."""
        for run in self.loops.trigger(project=self.project):
            self.log(
                f"{self._stamp()} loop {run.project}/{run.deployment} {run.id[:12]} started "
                f"({run.trigger.get('kind')})"
            )
        for run_id in self.loops.claim(worker=self.name, project=self.project):
            if self._stop.is_set():
                break
            step = self.loops.advance(run_id, worker=self.name, runner=self.run_pipeline)
            if step is not None:
                self.log(f"{self._stamp()} loop {run_id[:12]}: {step}")
                done.loops.append((run_id, step))

    def run_pipeline(
        self,
        pipeline: str,
        *,
        project: str,
        params: dict[str, Any],
        tags: dict[str, str],
        on_start: Callable[[str], None],
    ) -> tuple[str, str | None]:
        """Run a pipeline as a fire runs one (in a fresh process, or inline): its outcome,
        ``(finished, None)`` or ``(failed, error)``; StepInterrupted when :meth:`interrupt`
        stopped its process (the loop's step is left for the next worker)."""
        if self.isolation == "inline":
            try:
                resolve(pipeline, self.sources).run(
                    client=self.client, project=project, tags=tags, on_start=on_start, **params
                )
            except Exception as exc:
                return FAILED, one_line(exc)
            return FINISHED, None
        job = job_line(self.settings, pipeline=pipeline, project=project, params=params, tags=tags)
        with self._lock:  # seen by run_forever once interrupted, or not started
            if self._interrupted.is_set():
                raise StepInterrupted(INTERRUPTED)
            self._loop_proc = subprocess.Popen(
                fire_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,
            )
        with self._loop_proc as proc:
            try:
                outcome = _follow(proc, job, on_start)
            finally:
                _stop(proc)
                with self._lock:
                    self._loop_proc = None
        if self._interrupted.is_set() and (outcome is None or outcome[0] != FINISHED):
            raise StepInterrupted(INTERRUPTED)
        return outcome if outcome is not None else (FAILED, _exit_error(proc.returncode))

    def run_once(self) -> Pass:
        """One pass: take over abandoned fires, then claim what is due, waiting for a
        free slot when ``concurrency`` fires run, advance the closed loops one step
        (:meth:`loop_pass`), attempt every webhook delivery due and run a monitoring pass
        over each monitored deployment;
        returns when every fire it started has finished. A KeyboardInterrupt interrupts
        the running fires."""
        done = Pass()
        try:
            self._claim(done, wait=True)
            self.loop_pass(done)
            self.deliverer.drain()
            self._monitor(done)
        except KeyboardInterrupt:
            self.interrupt()
            raise
        finally:
            self._drain()
        return done

    def close(self) -> None:
        """Close the client. Values an inline fire logged after this worker interrupted it
        and ended its run as killed are refused by the closed-run rule (a Conflict at the
        last flush): the interruption's doing, already reported with the fire, so it does
        not fail the worker."""
        try:
            self.client.close()
        except Conflict:
            if not self._interrupted.is_set():
                raise

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- slots ----------------------------------------------------------------------------------

    def _claim(self, done: Pass, *, wait: bool) -> bool:
        """Take over abandoned fires, then claim the due occurrences, one at a time and
        each only while a slot is free (with ``wait``, once one is), and start each on a
        thread of its own. True when it stopped for want of a free slot."""
        self._retire(done)
        self._judge_rollouts(done)
        self._check_budgets(done)
        while True:
            if not self._free_slot(wait):
                return not self._stop.is_set()
            fire = self.service.take_over(
                worker=self.name, lease_s=self.lease_s, project=self.project
            )
            if fire is None:
                break
            schedule = self.service.get(fire.schedule, project=fire.project)
            self._start(_Running(schedule, fire, None, done))
        for due in self.service.due(project=self.project):
            if not self._free_slot(wait):
                return not self._stop.is_set()
            claimed = self.service.claim(due, worker=self.name, lease_s=self.lease_s)
            if claimed is None:
                done.lost += 1
                continue
            self._start(_Running(due.schedule, claimed, due, done))
        return False

    def _retire(self, done: Pass) -> None:
        """Apply the retirement policies, when ``retirement_interval_s`` has passed since
        the last time (never when it is 0); a project that fails is logged, the others
        go on."""
        if not self.retirement_interval_s or time.monotonic() < self._retirement_due:
            return
        self._retirement_due = time.monotonic() + self.retirement_interval_s
        models = self.client.services.models.acting_as(SYSTEM)
        if self.project is not None:
            names = [self.project]
        else:
            names = [p.name for p in self.client.services.projects.list_projects()]
        for project in names:
            try:
                moves = models.run_retirement(project=project)
            except ModelyardError as exc:
                self.log(f"{self._stamp()} retirement of {project} failed: {exc.message}")
                continue
            for move in moves:
                self.log(
                    f"{self._stamp()} retirement {move.project}/{move.name}/{move.version}: "
                    f"{move.from_status} -> {move.to_status} ({move.rule}): {move.outcome}"
                    f"{': ' + move.detail if move.outcome in ('refused', 'skipped') else ''}"
                )
            done.retired += moves

    def _judge_rollouts(self, done: Pass) -> None:
        """Judge the rollouts (of its project, when it has one) as the system actor."""
        service = self.client.services.deployments.acting_as(SYSTEM)
        try:
            acted = service.evaluate(project=self.project)
        except ModelyardError as exc:
            self.log(f"{self._stamp()} judging the rollouts failed: {exc.message}")
            return
        for action in acted:
            self.log(
                f"{self._stamp()} rollout {action.project}/{action.deployment}: "
                f"{action.action} (revision {action.revision}): {action.reason}"
            )
        done.rollouts += acted

    def _check_budgets(self, done: Pass) -> None:
        """Check the budgets (of its project, when it has one) when
        :data:`BUDGET_CHECK_S` has passed since the last time."""
        if time.monotonic() < self._budgets_due:
            return
        self._budgets_due = time.monotonic() + BUDGET_CHECK_S
        costs = self.client.services.costs.acting_as(SYSTEM)
        try:
            checked = costs.check_budgets(project=self.project)
        except ModelyardError as exc:
            self.log(f"{self._stamp()} checking the budgets failed: {exc.message}")
            return
        for check in checked:
            passed = f"passed {check.threshold:.0%}" if check.threshold is not None else "cleared"
            self.log(
                f"{self._stamp()} budget {check.project}/{check.scope}: {check.action} "
                f"({passed}: {check.spent:g} of {check.amount:g})"
            )
        done.budgets += checked

    def _free_slot(self, wait: bool) -> bool:
        """Whether a fire may start: not stopping and fewer than ``concurrency`` running
        (with ``wait``, once a running fire has ended)."""
        while not self._stop.is_set():
            self._ended.clear()
            with self._lock:
                if len(self._running) < self.concurrency:
                    return True
            if not wait:
                return False
            self._ended.wait(_TICK_S)
        return False

    def _pause(self, full: bool) -> None:
        """Wait ``poll_interval_s``, or until :meth:`stop`, or, when the pass found no
        free slot (``full``), until a fire ends."""
        deadline = time.monotonic() + self.poll_interval_s
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._ended.clear()
            if full:
                with self._lock:
                    if len(self._running) < self.concurrency:
                        return
            self._ended.wait(min(left, _TICK_S))

    def _start(self, running: _Running) -> None:
        with self._lock:
            self._running[running.fire.id] = running
        threading.Thread(
            target=self._fire_thread,
            args=(running,),
            name=f"modelyard-fire-{running.fire.id[:8]}",
            daemon=True,  # an inline fire interrupted is left to end with the process
        ).start()

    def _fire_thread(self, running: _Running) -> None:
        try:
            self._run(running)
        except ModelyardError as exc:
            fire = running.fire
            self.log(
                f"{self._stamp()} {fire.project}/{fire.schedule} {fire.trigger}: "
                f"not recorded: {exc.message}"
            )
        finally:
            with self._lock:
                del self._running[running.fire.id]
            self._ended.set()

    def _drain(self) -> None:
        """Wait until none of this worker's fires runs. Once :meth:`interrupt` was
        called, stop them first: each pipeline process as :func:`_stop` does, all at
        once; an inline fire is recorded interrupted here and not waited for. A
        KeyboardInterrupt while waiting interrupts them, and is raised once they ended."""
        caught: KeyboardInterrupt | None = None
        stopped = False
        while True:
            try:
                self._ended.clear()
                with self._lock:
                    running = list(self._running.values())
                if not running:
                    break
                if self._interrupted.is_set() and not stopped:
                    stopped = True
                    if self.isolation == "inline":
                        for each in running:
                            self._settle(each, FAILED, INTERRUPTED, run_status="killed")
                        break
                    with self._lock:  # a process is started under it (_in_process)
                        procs = [each.proc for each in running if each.proc is not None]
                    _stop_all(procs)
                    continue
                self._ended.wait(_TICK_S)
            except KeyboardInterrupt as exc:
                self.interrupt()
                caught = exc
        if caught is not None:
            raise caught

    # -- one fire -----------------------------------------------------------------------------

    def _run(self, running: _Running) -> Outcome | None:
        """Run one fire's pipeline and record its outcome (None when the claiming loop
        recorded it: an inline fire it interrupted)."""
        schedule, fire = running.schedule, running.fire
        tags = {TRIGGER_TAG: fire.trigger, SCHEDULE_TAG: schedule.name, FIRE_TAG: fire.id}

        def on_start(run_id: str) -> None:
            running.run_id = run_id
            try:
                self.service.record_run(fire.id, worker=self.name, run_id=run_id)
            except ModelyardError as exc:  # finish() records it; the run goes on
                self.log(f"{self._stamp()} could not record run {run_id[:12]}: {exc.message}")

        outcome: tuple[str, str | None]
        with self._renewing(fire):
            if self._interrupted.is_set():  # started as the interrupt came
                outcome = (FAILED, INTERRUPTED)
            elif self.isolation == "inline":
                outcome = self._inline(schedule, tags, on_start)
            else:
                outcome = self._in_process(running, tags, on_start)
        return self._settle(running, *outcome)

    def _settle(
        self, running: _Running, status: str, error: str | None, *, run_status: str = FAILED
    ) -> Outcome | None:
        """Record a fire's outcome once: end its run as ``run_status`` when it failed and
        the run still runs, finish the fire, add it to its pass and write its line."""
        with self._lock:
            if running.settled:
                return None
            running.settled = True
        schedule, fire, run_id = running.schedule, running.fire, running.run_id
        if status == FAILED:
            self._end_run(schedule.project, run_id, error, status=run_status)
        recorded = self.service.finish(
            fire.id, worker=self.name, status=status, run_id=run_id, error=error
        )
        seconds = time.monotonic() - running.started
        outcome = Outcome(fire, schedule, run_id, status, error, seconds, recorded)
        running.done.ran.append(outcome)
        self.log(self._line(outcome, running.due))
        return outcome

    def _inline(
        self, schedule: Schedule, tags: dict[str, str], on_start: Callable[[str], None]
    ) -> tuple[str, str | None]:
        """Run the pipeline in this process."""
        try:
            resolve(schedule.pipeline, self.sources).run(
                client=self.client,
                project=schedule.project,
                tags=tags,
                on_start=on_start,
                **schedule.params,
            )
        except Exception as exc:
            return FAILED, one_line(exc)
        return FINISHED, None

    def _in_process(
        self, running: _Running, tags: dict[str, str], on_start: Callable[[str], None]
    ) -> tuple[str, str | None]:
        """Run the pipeline in a fresh process, in its own session (a Ctrl-C at the
        terminal reaches only the worker); it never outlives this call. A process that
        :meth:`interrupt` stopped before it reported an outcome was interrupted."""
        schedule = running.schedule
        job = job_line(
            self.settings,
            pipeline=schedule.pipeline,
            project=schedule.project,
            params=schedule.params,
            tags=tags,
        )
        with self._lock:  # started and seen by _drain, or not started once interrupted
            if self._interrupted.is_set():
                return FAILED, INTERRUPTED
            running.proc = subprocess.Popen(
                fire_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,
            )
        with running.proc as proc:
            try:
                outcome = _follow(proc, job, on_start)
            finally:
                _stop(proc)
        if outcome is not None:
            return outcome
        if self._interrupted.is_set():
            return FAILED, INTERRUPTED
        return FAILED, _exit_error(proc.returncode)

    def _end_run(
        self, project: str, run_id: str | None, error: str | None, *, status: str = FAILED
    ) -> None:
        """End a failed fire's pipeline run, and its step runs, as ``status`` where they
        are still running (their process died before it could end them)."""
        if run_id is None:
            return
        tracking = self.client.tracking
        try:
            if tracking.get_run(run_id).status != "running":
                return
            steps = tracking.search_runs(
                project,
                filter=f"attributes.parent_id = '{run_id}' and attributes.status = 'running'",
            )
            for still_running in [*(step.id for step in steps.runs), run_id]:
                tracking.end_run(still_running, status, error=error)
        except ModelyardError as exc:
            self.log(f"{self._stamp()} could not end run {run_id[:12]}: {exc.message}")

    @contextmanager
    def _renewing(self, fire: Fire) -> Iterator[None]:
        """Renew the fire's lease every third of ``lease_s`` until the block ends."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.lease_s / 3):
                try:
                    if not self.service.renew(fire.id, worker=self.name, lease_s=self.lease_s):
                        return
                except ModelyardError as exc:
                    self.log(f"{self._stamp()} could not renew the lease: {exc.message}")

        thread = threading.Thread(target=beat, name=f"modelyard-lease-{fire.id[:8]}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    # -- what it says ---------------------------------------------------------------------------

    def _stamp(self) -> str:
        return self.clock().astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    def _line(self, outcome: Outcome, due: Due | None) -> str:
        fire = outcome.fire
        parts = [f"{self._stamp()} {fire.project}/{fire.schedule} {fire.trigger}:"]
        if fire.attempts > 1:
            parts.append(f"attempt {fire.attempts} (the previous worker stopped);")
        run = f"run {outcome.run_id[:12]}" if outcome.run_id else "no run"
        parts.append(f"{run} {outcome.status} in {outcome.seconds:.1f} s")
        if outcome.error:
            parts[-1] += f": {outcome.error}"
        if due is not None and due.missed:
            parts.append(
                f"(skipped {due.missed}{'+' if due.missed >= MAX_COUNTED else ''} missed "
                f"occurrence{'s' if due.missed != 1 else ''}; only the newest runs)"
            )
        if not outcome.recorded:
            parts.append("(not recorded: another worker took the fire over, or it was deleted)")
        return " ".join(parts)


def fire_command() -> list[str]:
    """The command of a fire's pipeline process; the job (secrets included) goes on its
    stdin, never in its arguments."""
    return [sys.executable, "-m", "modelyard.worker._fire"]


def _follow(
    proc: subprocess.Popen[bytes], job: bytes, on_start: Callable[[str], None]
) -> tuple[str, str | None] | None:
    """Send the job, pass the run id on as it comes, and return the outcome the process
    reported once it ended (None when it ended without one)."""
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(job)
        proc.stdin.flush()
    except BrokenPipeError:  # it died at once; its exit code says why
        pass
    outcome: tuple[str, str | None] | None = None
    for raw in proc.stdout:
        try:
            message: dict[str, Any] = json.loads(raw)
        except ValueError:  # not the protocol's: user code found its descriptor
            continue
        if "run_id" in message:
            on_start(message["run_id"])
        elif "status" in message:
            outcome = (message["status"], message.get("error"))
    proc.wait()
    return outcome


def _exit_error(code: int) -> str:
    if code >= 0:
        return f"the pipeline process exited with code {code}" + (
            " without reporting an outcome" if code == 0 else ""
        )
    number = -code
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = "unknown signal"
    hint = "; out of memory?" if number == signal.SIGKILL else ""
    return f"the pipeline process was killed by signal {number} ({name}{hint})"


def _stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """:func:`_stop` each pipeline process, all at once."""
    stoppers = [threading.Thread(target=_stop, args=(proc,), daemon=True) for proc in procs]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the process group of a pipeline process still running: SIGTERM (its run
    ends ``killed``), then SIGKILL after :data:`TERMINATE_GRACE_S`."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=TERMINATE_GRACE_S)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue
        return
