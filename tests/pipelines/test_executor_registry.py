"""Executors by name: a third party's, registered or declared as an entry point, runs a
pipeline as the built-ins do; an unknown name lists the executors there are."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import modelyard as my
from modelyard import Client, InvalidInput, MissingDependency, NotFound
from modelyard.pipelines.backends import EXECUTORS, Executor
from plugin_support import install_entry_point

Write = Callable[..., dict[str, ModuleType]]

#: A third-party executor: steps in this process, one at a time, each one noted.
INLINE = """
import contextlib

from modelyard.pipelines.backends import Executor
from modelyard.pipelines.execute import run_step

SUBMITTED = []


class _Inline:
    capacity = 1

    def __init__(self, client):
        self.client = client

    def submit(self, step, task):
        SUBMITTED.append(task.node)
        return run_step(self.client, step, task)

    def wait(self, handles):
        return handles

    def result(self, handle):
        return handle


@contextlib.contextmanager
def _open(client, max_workers):
    yield _Inline(client)


ENTRY = Executor(_open, in_process=True)
"""

STEPS = """
import modelyard as my


@my.step
def numbers(n: int) -> list:
    return list(range(n))


@my.step
def total(values: list) -> int:
    return sum(values)


@my.pipeline
def adding(n: int = 4):
    total(numbers(n))
"""


@pytest.fixture(autouse=True)
def executors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Executors registered by a test are forgotten after it."""
    monkeypatch.setattr(EXECUTORS, "_entries", dict(EXECUTORS._entries))


@pytest.fixture
def steps(write_modules: Write) -> ModuleType:
    return write_modules(registry_steps=STEPS)["registry_steps"]


def test_a_registered_executor_runs_the_steps(
    pipe_client: Client, steps: ModuleType, write_modules: Write
) -> None:
    inline = write_modules(inline_executor=INLINE)["inline_executor"]
    EXECUTORS.register("inline", inline.ENTRY)
    result = steps.adding.run(client=pipe_client, executor="inline")
    assert result.output("total") == 6
    assert inline.SUBMITTED == ["numbers", "total"]
    assert pipe_client.get_run(result.run_id).tags["modelyard.executor"] == "inline"


def test_an_executor_declared_as_an_entry_point_runs_the_steps(
    pipe_client: Client, steps: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = install_entry_point(monkeypatch, tmp_path, "modelyard.executors", "inline", INLINE)
    result = steps.adding.run(n=3, client=pipe_client, executor="inline")
    assert result.output("total") == 3
    assert sys.modules[module].SUBMITTED == ["numbers", "total"]


def test_an_executor_checks_before_the_run_starts(pipe_client: Client, steps: ModuleType) -> None:
    def needs_an_extra() -> None:
        raise MissingDependency.for_extra("dask", "dask")

    def never_opened(client: Client, max_workers: int | None) -> AbstractContextManager[Any]:
        raise AssertionError("opened")

    EXECUTORS.register("checked", Executor(never_opened, check=needs_an_extra))
    with pytest.raises(MissingDependency, match="modelyard\\[dask\\]"):
        steps.adding.run(client=pipe_client, executor="checked", project="extras")
    with pytest.raises(NotFound):  # no pipeline run, not even its project
        pipe_client.search_runs("extras")


def test_an_out_of_process_executor_needs_module_level_steps(pipe_client: Client) -> None:
    EXECUTORS.register("elsewhere", Executor(EXECUTORS.get("local").open))

    @my.step
    def inner() -> int:
        return 1

    @my.pipeline
    def nested():  # type: ignore[no-untyped-def]
        inner()

    with pytest.raises(InvalidInput, match="top level of a module for the elsewhere executor"):
        nested.run(client=pipe_client, executor="elsewhere")


def test_an_unknown_executor_lists_the_executors(
    pipe_client: Client, steps: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install_entry_point(monkeypatch, tmp_path, "modelyard.executors", "inline", INLINE)
    with pytest.raises(InvalidInput) as exc:
        steps.adding.run(client=pipe_client, executor="dask")
    assert exc.value.field == "executor"
    assert "no executor named 'dask'" in exc.value.message
    assert exc.value.message.endswith("must be one of sequential, local, ray, inline")
