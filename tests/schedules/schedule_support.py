"""Helpers the schedule tests share."""

from __future__ import annotations

import multiprocessing
import os
from datetime import datetime, timedelta
from typing import Any


class Clock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def claim_everything(url: str, now: str, barrier: Any, results: Any) -> None:
    """In a child process: list what is due at ``now``, wait for the other process, then
    claim all of it; put how much was due and the (schedule, trigger) pairs this process
    won on ``results``."""
    from modelyard.store import open_store
    from service_support import schedule_service

    store = open_store(url)
    moment = datetime.fromisoformat(now)
    service = schedule_service(store, clock=lambda: moment)
    due = service.due()
    barrier.wait(timeout=60)
    won = [
        (d.schedule.name, d.trigger)
        for d in due
        if service.claim(d, worker=f"w{os.getpid()}", lease_s=60)
    ]
    store.dispose()
    results.put((len(due), won))


def work_once(settings: Any, now: str, barrier: Any, results: Any) -> None:
    """In a child process: one pass of a worker whose clock says ``now``, started at the
    same moment as the other process's; put (schedule, trigger, run id, status) of each
    fire it ran."""
    from modelyard.worker.worker import Worker

    moment = datetime.fromisoformat(now)
    with Worker(settings, clock=lambda: moment, log=lambda _: None) as worker:
        barrier.wait(timeout=60)
        done = worker.run_once()
    results.put([(o.schedule.name, o.fire.trigger, o.run_id, o.status) for o in done.ran])


def in_two_processes(target: Any, *args: Any) -> list[Any]:
    """Run ``target(*args, barrier, results)`` in two spawned processes at once; their
    results."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    found = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return found
