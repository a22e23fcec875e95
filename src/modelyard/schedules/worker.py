"""The worker behind ``modelyard worker``: find due work, claim it, run the pipelines.

Each pass takes over fires whose worker stopped (their lease expired), then claims the
due occurrences of the enabled schedules (:meth:`ScheduleService.due`) one at a time and
runs each claimed fire's pipeline with ``Pipeline.run(client=..., project=..., **params)``:
by default in a fresh Python process per fire (``python -m modelyard.schedules._fire``,
the job on its stdin, the run id and outcome back on its stdout), or with
``isolation="inline"`` in this process. While a pipeline runs, a thread renews the fire's
lease. The pipeline run carries the fire's trigger from its first moment as tags
(:data:`TRIGGER_TAG`, :data:`SCHEDULE_TAG`, :data:`FIRE_TAG`); the fire records the run,
its status and its error. One line per fire goes to ``log`` (stderr).
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

from modelyard.client import Client
from modelyard.errors import InvalidInput, ModelyardError
from modelyard.schedules._fire import job_line, one_line
from modelyard.schedules.cron import MAX_COUNTED
from modelyard.schedules.entities import Due, Fire, Schedule
from modelyard.schedules.service import FAILED, FINISHED, Clock, ScheduleService, resolve

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
    """What one pass found: the fires it ran and the occurrences another worker claimed
    first."""

    ran: list[Outcome] = field(default_factory=list)
    lost: int = 0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Worker:
    """Runs the due work of the schedules in one store (of one project, or all); it
    works where the store is (settings with a ``tracking.uri`` are refused).

    ``clock`` (aware datetimes) decides what is due; ``log`` gets one line per fire.
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
        self.settings = settings
        self.clock = clock or _utcnow
        self.log = log or _stderr
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.client = Client(settings)
        self.service = ScheduleService(self.client.store, clock=self.clock)
        self._stop = threading.Event()

    # -- the loop ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop after the fire that is running (no new claims)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_forever(self) -> None:
        """Pass after pass, ``poll_interval_s`` apart, until :meth:`stop`. A pass that
        fails on the store (a database restart) is logged and the next one tries again."""
        while not self._stop.is_set():
            try:
                self.run_once()
            except ModelyardError as exc:
                self.log(f"{self._stamp()} pass failed: {exc.message}")
            self._stop.wait(self.poll_interval_s)

    def run_once(self) -> Pass:
        """One pass: take over abandoned fires, then claim and run what is due."""
        done = Pass()
        while not self._stop.is_set():
            fire = self.service.take_over(
                worker=self.name, lease_s=self.lease_s, project=self.project
            )
            if fire is None:
                break
            schedule = self.service.get(fire.schedule, project=fire.project)
            done.ran.append(self._run(schedule, fire))
        for due in self.service.due(project=self.project):
            if self._stop.is_set():
                break
            claimed = self.service.claim(due, worker=self.name, lease_s=self.lease_s)
            if claimed is None:
                done.lost += 1
                continue
            done.ran.append(self._run(due.schedule, claimed, due))
        return done

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one fire -----------------------------------------------------------------------------

    def _run(self, schedule: Schedule, fire: Fire, due: Due | None = None) -> Outcome:
        tags = {TRIGGER_TAG: fire.trigger, SCHEDULE_TAG: schedule.name, FIRE_TAG: fire.id}
        started = time.monotonic()
        started_run: list[str] = []

        def on_start(run_id: str) -> None:
            started_run.append(run_id)
            try:
                self.service.record_run(fire.id, worker=self.name, run_id=run_id)
            except ModelyardError as exc:  # finish() records it; the run goes on
                self.log(f"{self._stamp()} could not record run {run_id[:12]}: {exc.message}")

        with self._renewing(fire):
            try:
                if self.isolation == "inline":
                    status, error = self._inline(schedule, tags, on_start)
                else:
                    status, error = self._in_process(schedule, tags, on_start)
            except KeyboardInterrupt:
                run_id = started_run[0] if started_run else None
                self._end_run(schedule.project, run_id, INTERRUPTED)
                self.service.finish(
                    fire.id, worker=self.name, status=FAILED, run_id=run_id, error=INTERRUPTED
                )
                raise
            run_id = started_run[0] if started_run else None
        if status == FAILED:
            self._end_run(schedule.project, run_id, error)
        recorded = self.service.finish(
            fire.id, worker=self.name, status=status, run_id=run_id, error=error
        )
        outcome = Outcome(
            fire, schedule, run_id, status, error, time.monotonic() - started, recorded
        )
        self.log(self._line(outcome, due))
        return outcome

    def _inline(
        self, schedule: Schedule, tags: dict[str, str], on_start: Callable[[str], None]
    ) -> tuple[str, str | None]:
        """Run the pipeline in this process."""
        try:
            resolve(schedule.pipeline).run(
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
        self, schedule: Schedule, tags: dict[str, str], on_start: Callable[[str], None]
    ) -> tuple[str, str | None]:
        """Run the pipeline in a fresh process, in its own session (a Ctrl-C at the
        terminal reaches only the worker); it never outlives this call."""
        job = job_line(
            self.settings,
            pipeline=schedule.pipeline,
            project=schedule.project,
            params=schedule.params,
            tags=tags,
        )
        with subprocess.Popen(
            fire_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        ) as proc:
            try:
                return _follow(proc, job, on_start)
            finally:
                _stop(proc)

    def _end_run(self, project: str, run_id: str | None, error: str | None) -> None:
        """End a failed fire's pipeline run, and its step runs, as failed where they are
        still running (their process died before it could end them)."""
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
                tracking.end_run(still_running, FAILED, error=error)
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
    return [sys.executable, "-m", "modelyard.schedules._fire"]


def _follow(
    proc: subprocess.Popen[bytes], job: bytes, on_start: Callable[[str], None]
) -> tuple[str, str | None]:
    """Send the job, pass the run id on as it comes, and return the outcome: the one the
    process reported, or why it ended without one."""
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
    code = proc.wait()
    return outcome if outcome is not None else (FAILED, _exit_error(code))


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
