"""One fire's pipeline in a process of its own: ``python -m modelyard.worker._fire``.

The worker starts this module in its working directory and writes one JSON line on its
stdin, the job: the settings (secrets included, so they never appear in argv), the
pipeline reference, project, parameters and tags. The process answers on its stdout
with JSON lines: ``{"run_id": ...}`` as soon as the pipeline run exists, then
``{"status": "finished"|"failed", "error": ...}``. User code never writes there: before
it runs, file descriptor 1 and ``sys.stdout`` are pointed at stderr and the protocol
keeps a private copy of the original stdout.

The worker keeps the stdin pipe open while the process runs; when it closes (the worker
died), the process kills its process group, so no pipeline outlives its worker. SIGTERM
interrupts the pipeline as Ctrl-C would: the run ends ``killed``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import IO, Any, NoReturn

from pydantic import SecretStr

from modelyard._refs import PipelineSources
from modelyard.config import Settings
from modelyard.schedules.service import FAILED, FINISHED, resolve
from modelyard.sdk.client import Client

__all__ = ["job_line", "main", "one_line"]


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``, as a fire records its error."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _plain(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__} to a pipeline process")


def job_line(
    settings: Settings,
    *,
    pipeline: str,
    project: str,
    params: dict[str, Any],
    tags: dict[str, str],
) -> bytes:
    """The job a pipeline process reads on its stdin: one JSON line, with the settings'
    secret values revealed (``model_dump(mode="json")`` would mask them)."""
    job = {
        "settings": settings.model_dump(),
        "pipeline": pipeline,
        "project": project,
        "params": params,
        "tags": tags,
    }
    return json.dumps(job, default=_plain).encode() + b"\n"


def _private_stdout() -> IO[str]:
    """A private handle on the original stdout; fd 1 and ``sys.stdout`` go to stderr."""
    sys.stdout.flush()
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol


def _watch_parent(stdin: IO[bytes]) -> None:
    """Kill this process group once the worker's end of stdin closes."""

    def watch() -> None:
        stdin.read()
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="modelyard-fire-parent", daemon=True).start()


def _interrupt(_signum: int, _frame: object) -> NoReturn:
    raise KeyboardInterrupt


def main() -> int:
    """Run the job on stdin, report on stdout; the exit code is 0 once the outcome is
    reported (a failed pipeline included)."""
    protocol = _private_stdout()
    stdin = os.fdopen(os.dup(0), "rb")
    job = json.loads(stdin.readline())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    _watch_parent(stdin)
    signal.signal(signal.SIGTERM, _interrupt)

    def say(**message: object) -> None:
        protocol.write(json.dumps(message) + "\n")

    status, error = FINISHED, None
    settings = Settings.model_validate(job["settings"])
    with Client(settings) as client:
        try:
            resolve(job["pipeline"], PipelineSources.from_settings(settings)).run(
                client=client,
                project=job["project"],
                tags=job["tags"],
                on_start=lambda run_id: say(run_id=run_id),
                **job["params"],
            )
        except Exception as exc:
            status, error = FAILED, one_line(exc)
    say(status=status, error=error)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # SIGTERM from the worker: the run ended ``killed``
        sys.exit(130)
