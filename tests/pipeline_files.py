"""The pipeline module the schedule tests write to disk (``tests/schedules``, and the
schedule tests of the API and the command line), in a module of its own so each can
import it: pipelines ``tick``, ``failing``, ``slow`` (its step writes its pid to
``nap.pid``), ``whoami`` (its step writes its pid to ``path``), ``crash``
(``how="exit"``: ``os._exit(3)``, else SIGKILL) and ``together`` (its step writes
``MARKS/LABEL.start`` with its pid and how many fires were running with it, waits until
two have started and no ``MARKS/hold`` file is there, else fails after ``deadline_s``,
then writes ``MARKS/LABEL.end``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PIPES = """
import os
import pathlib
import signal
import time

import modelyard as my


@my.step
def emit(label: str) -> str:
    return label


@my.pipeline
def tick(label: str = "x"):
    emit(label)


@my.step
def boom(label: str) -> str:
    raise ValueError("boom " + label)


@my.pipeline
def failing(label: str = "x"):
    boom(label)


@my.step(cache=False)
def nap(seconds: float) -> float:
    pathlib.Path("nap.pid").write_text(str(os.getpid()))
    time.sleep(seconds)
    return seconds


@my.pipeline
def slow(seconds: float = 1.0):
    nap(seconds)


@my.step(cache=False)
def record_pid(path: str) -> int:
    pathlib.Path(path).write_text(str(os.getpid()))
    return os.getpid()


@my.pipeline
def whoami(path: str = "pid.txt"):
    record_pid(path)


@my.step(cache=False)
def die(how: str) -> str:
    if how == "exit":
        os._exit(3)
    os.kill(os.getpid(), signal.SIGKILL)
    return how


@my.pipeline
def crash(how: str = "exit"):
    die(how)


@my.step(cache=False)
def meet(marks: str, label: str, deadline_s: float) -> int:
    # Say it started (its pid, and how many fires had started and not ended), then wait
    # until two have started and no hold file is there; then say it ended.
    folder = pathlib.Path(marks)
    running = len(list(folder.glob("*.start"))) - len(list(folder.glob("*.end"))) + 1
    (folder / f"{label}.start").write_text(f"{os.getpid()} {running}")
    deadline = time.monotonic() + deadline_s
    while len(list(folder.glob("*.start"))) < 2 or (folder / "hold").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{label} waited alone")
        time.sleep(0.02)
    (folder / f"{label}.end").write_text(str(os.getpid()))
    return running


@my.pipeline
def together(marks: str, label: str = "x", deadline_s: float = 20.0):
    meet(marks, label, deadline_s)


not_a_pipeline = 3
"""


@contextmanager
def pipeline_file(folder: Path, module: str, source: str = PIPES) -> Iterator[Path]:
    """``source`` (:data:`PIPES`) written as ``folder/MODULE.py``; the module is forgotten
    afterwards."""
    path = folder / f"{module}.py"
    path.write_text(source)
    try:
        yield path
    finally:
        sys.modules.pop(module, None)
