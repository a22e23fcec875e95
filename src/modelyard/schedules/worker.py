"""The worker behind ``modelyard worker``: find due work, claim it, run the pipelines.

Each pass takes over fires whose worker stopped (their lease expired), then claims the
due occurrences of the enabled schedules (:meth:`ScheduleService.due`) one at a time and
runs each claimed fire's pipeline in this process with
``Pipeline.run(client=..., project=..., **params)``. While a pipeline runs, a thread
renews the fire's lease. The pipeline run carries the fire's trigger from its first
moment as tags (:data:`TRIGGER_TAG`, :data:`SCHEDULE_TAG`, :data:`FIRE_TAG`); the fire
records the run, its status and its error. One line per fire goes to ``log`` (stderr).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from modelyard.client import Client
from modelyard.errors import InvalidInput, ModelyardError
from modelyard.schedules.cron import MAX_COUNTED
from modelyard.schedules.entities import Due, Fire, Schedule
from modelyard.schedules.service import FAILED, FINISHED, Clock, ScheduleService, resolve

if TYPE_CHECKING:
    from modelyard.config import Settings

__all__ = ["FIRE_TAG", "SCHEDULE_TAG", "TRIGGER_TAG", "Outcome", "Pass", "Worker"]

#: What started a scheduled pipeline run: ``cron:EXPR@TIME`` or ``dataset:NAME:VERSION``.
TRIGGER_TAG = "modelyard.trigger"
#: The schedule of a scheduled pipeline run.
SCHEDULE_TAG = "modelyard.schedule"
#: The fire (claimed occurrence) a scheduled pipeline run belongs to.
FIRE_TAG = "modelyard.schedule_fire"


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
        status, error = FINISHED, None
        client = self.client

        started_run: list[str] = []

        def on_start(run_id: str) -> None:
            started_run.append(run_id)
            try:
                self.service.record_run(fire.id, worker=self.name, run_id=run_id)
            except ModelyardError as exc:  # finish() records it; the run goes on
                self.log(f"{self._stamp()} could not record run {run_id[:12]}: {exc.message}")

        with self._renewing(fire):
            try:
                pipeline = resolve(schedule.pipeline)
                pipeline.run(
                    client=client,
                    project=schedule.project,
                    tags=tags,
                    on_start=on_start,
                    **schedule.params,
                )
            except Exception as exc:
                status, error = FAILED, _one_line(exc)
            except KeyboardInterrupt:
                self.service.finish(
                    fire.id,
                    worker=self.name,
                    status=FAILED,
                    run_id=started_run[0] if started_run else None,
                    error="interrupted: the worker was stopped during the run",
                )
                raise
            run_id = started_run[0] if started_run else None
        recorded = self.service.finish(
            fire.id, worker=self.name, status=status, run_id=run_id, error=error
        )
        outcome = Outcome(
            fire, schedule, run_id, status, error, time.monotonic() - started, recorded
        )
        self.log(self._line(outcome, due))
        return outcome

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


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
