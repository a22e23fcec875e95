"""The source of a step module whose two branches must run at the same time, shared by
the tests of the out-of-process executors (each adds its own ``combine``, which ``fan``
calls, and a failing step)."""

FAN_HEAD = """
import os
import time
from pathlib import Path

import modelyard as my


@my.step
def source(n: int) -> list:
    return list(range(n))


@my.step
def branch(values: list, power: int, marks: str) -> dict:
    Path(marks, f"{power}.start").write_text(str(os.getpid()))
    deadline = time.monotonic() + 20
    while len(list(Path(marks).glob("*.start"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # both branches must be running at once to get past this
    return {"pid": os.getpid(), "total": sum(v**power for v in values)}


@my.pipeline
def fan(n: int, marks: str):
    values = source(n)
    combine(branch(values, 1, marks), branch(values, 2, marks))
"""
