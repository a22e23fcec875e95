"""``modelyard pipelines run``, ``sweep`` and ``explain``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from typer.testing import CliRunner

import modelyard as my
from modelyard import Client
from modelyard.cli.main import app
from modelyard.cli.pipelines import parse_params
from modelyard.config import Settings
from modelyard.errors import InvalidInput

STEPS = """
import modelyard as my


@my.step
def numbers(count: int, label: str) -> list:
    return [label] * count


@my.step
def size(values: list) -> int:
    return len(values)


@my.pipeline
def counting(count: int, label: str = "x"):
    size(numbers(count, label))


@my.step
def explode(count: int) -> int:
    raise ZeroDivisionError("no bikes")


@my.pipeline
def failing(count: int):
    explode(count)


@my.step
def score(count: int, weight: float) -> dict:
    return {"value": count * weight}


@my.pipeline
def scoring(count: int, weight: float = 1.0):
    score(count, weight)


not_a_pipeline = 3
"""


@pytest.fixture
def cli(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Any]]:
    (tmp_path / "cli_steps.py").write_text(STEPS)  # tmp_path is the working directory
    monkeypatch.setattr(sys, "path", list(sys.path))  # the command adds the directory
    runner = CliRunner()
    base = ["--store-url", settings.store_url, "--home", str(settings.home)]

    def invoke(*args: str) -> Any:
        return runner.invoke(app, [*base, *args])

    yield invoke
    sys.modules.pop("cli_steps", None)


def test_run_then_rerun_from_the_cache_and_explain(cli: Callable[..., Any]) -> None:
    first = cli("pipelines", "run", "cli_steps:counting", "--param", "count=3", "--json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert [(s["step"], s["outcome"]) for s in data["steps"]] == [
        ("numbers", "ran"),
        ("size", "ran"),
    ]

    again = cli("pipelines", "run", "cli_steps:counting", "--param", "count=3")
    assert again.exit_code == 0, again.output
    assert "cached" in again.output and "pipeline run" in again.output

    label = cli(
        "pipelines",
        "run",
        "cli_steps:counting",
        "--param",
        "count=3",
        "--param",
        "label=7",
        "--json",
    )
    run_id = json.loads(label.output)["run_id"]
    why = cli("pipelines", "explain", run_id[:10], "--json")
    assert why.exit_code == 0, why.output
    assert json.loads(why.output)["steps"][0]["reasons"] == ['param label x → "7"']
    table = cli("pipelines", "explain", run_id)
    assert "input values changed" in table.output


def test_no_cache_and_a_file_reference(cli: Callable[..., Any], tmp_path: Path) -> None:
    ref = f"{tmp_path / 'cli_steps.py'}:counting"
    cli("pipelines", "run", ref, "--param", "count=2")
    result = cli("pipelines", "run", ref, "--param", "count=2", "--no-cache", "--json")
    assert result.exit_code == 0, result.output
    assert {s["outcome"] for s in json.loads(result.output)["steps"]} == {"ran"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no_such_module:counting"], "cannot import module 'no_such_module'"),
        (["cli_steps:missing"], "module 'cli_steps' has no attribute 'missing'"),
        (["cli_steps:not_a_pipeline"], "cli_steps:not_a_pipeline is not a pipeline"),
        (["counting"], "not a pipeline reference"),
        (["cli_steps:counting"], "pipeline 'counting' is missing its required parameter 'count'"),
        (["cli_steps:counting", "--param", "count"], "--param must be key=value"),
        (
            ["cli_steps:counting", "--param", "cout=1"],
            "pipeline 'counting' has no parameter 'cout'",
        ),
        (["nowhere.py:counting"], "no such file: nowhere.py"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    cli: Callable[..., Any], args: list[str], message: str
) -> None:
    result = cli("pipelines", "run", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["counting", "--param", "count=abc"], "parameter 'count' takes int; got 'abc'"),
        (["counting", "--param", "count=2.5"], "parameter 'count' takes int; got '2.5'"),
        (["scoring", "--param", "count=1", "--param", "weight=heavy"], "takes float; got 'heavy'"),
        (["counting", "--param", "cout=1"], "pipeline 'counting' has no parameter 'cout'"),
    ],
)
def test_params_are_checked_against_the_type_hints_before_anything_runs(
    cli: Callable[..., Any], settings: Settings, args: list[str], message: str
) -> None:
    name, *params = args
    result = cli("pipelines", "run", f"cli_steps:{name}", *params, "-p", "typed")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and message in result.output
    with Client(settings) as client:
        assert "typed" not in [p.name for p in client.list_projects()]  # nothing ran


def test_a_swept_value_is_checked_like_a_param(cli: Callable[..., Any]) -> None:
    result = cli(
        "pipelines", "sweep", "cli_steps:scoring", "--grid", "count=1,two", "--metric", "score"
    )
    assert result.exit_code == 2
    assert result.output == (
        "error: pipeline 'scoring': parameter 'count' takes int; got 'two' (--grid count=two)\n"
    )


@my.pipeline
def hinted(
    flag: bool,
    sizes: list[int],
    where: Path,
    mode: Literal["fast", "slow"] = "fast",
    ratio: float | None = None,
    anything=None,  # not annotated: not checked
) -> None:
    """Annotations as strings (``from __future__ import annotations``), resolved."""


def test_params_of_each_kind_of_hint() -> None:
    ok = parse_params(
        hinted,
        ["flag=true", "sizes=[1, 2]", "where=data/x.csv", "mode=slow", "ratio=2", "anything=?"],
    )
    assert ok == {
        "flag": True,
        "sizes": [1, 2],
        "where": "data/x.csv",
        "mode": "slow",
        "ratio": 2,
        "anything": "?",
    }
    assert parse_params(hinted, ["ratio=null"]) == {"ratio": None}
    for pair, expected in [
        ("flag=1", "bool"),
        ("flag=yes", "bool"),
        ('sizes=[1, "a"]', "list[int]"),
        ("sizes=3", "list[int]"),
        ("where=3", "Path"),
        ("mode=medium", "Literal['fast', 'slow']"),
        ("ratio=x", "float | None"),
    ]:
        with pytest.raises(InvalidInput, match="takes") as raised:
            parse_params(hinted, [pair])
        key, _, text = pair.partition("=")
        assert raised.value.message == (
            f"pipeline 'hinted': parameter {key!r} takes {expected}; got {text!r} (--param {pair})"
        )


@pytest.mark.parametrize("stem", ["typing", "antigravity", "my-steps"])
def test_a_file_is_not_imported_under_the_name_of_another_module(
    cli: Callable[..., Any], tmp_path: Path, stem: str
) -> None:
    imported = stem in sys.modules
    (tmp_path / "elsewhere").mkdir()
    path = tmp_path / "elsewhere" / f"{stem}.py"
    path.write_text(STEPS)
    result = cli("pipelines", "run", f"{path}:counting", "--param", "count=1")
    assert result.exit_code == 2 and "Traceback" not in result.output
    if stem == "my-steps":
        assert "'my-steps' is not a module name" in result.output
    else:
        assert f"as module {stem!r}: that is the name of another module" in result.output
    assert (stem in sys.modules) == imported  # nothing replaced, nothing imported


def test_files_of_one_name_in_two_folders_load_one_after_the_other(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "twin_steps.py").write_text(STEPS)
        result = cli(
            "pipelines", "run", f"{tmp_path / folder}/twin_steps.py:counting", "--param", "count=1"
        )
        assert result.exit_code == 0, result.output
    assert sys.modules.pop("twin_steps").__file__ == str(tmp_path / "b" / "twin_steps.py")


def test_explain_of_a_run_that_is_not_a_pipeline_run(
    cli: Callable[..., Any], settings: Settings
) -> None:
    from modelyard import Client

    with Client(settings) as client, client.start_run(capture=False) as plain:
        pass
    result = cli("pipelines", "explain", plain.id)
    assert result.exit_code != 0
    assert "is not a pipeline run" in result.output


def test_a_failing_step_is_one_line_and_a_non_zero_exit(cli: Callable[..., Any]) -> None:
    result = cli("pipelines", "run", "cli_steps:failing", "--param", "count=1")
    assert result.exit_code == 1
    assert "pipeline 'failing' failed in run " in result.output
    assert ": ZeroDivisionError: no bikes (the step's run holds the traceback)" in result.output
    assert "modelyard pipelines resume cli_steps:failing " in result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) == 1


def test_sweep_prints_the_trials_best_first(cli: Callable[..., Any]) -> None:
    args = ["pipelines", "sweep", "cli_steps:scoring", "--grid", "count=1,3,2"]
    result = cli(*args, "--param", "weight=2", "--metric", "score.value", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(t["trial"], t["params"], t["metric"]) for t in data["trials"]] == [
        (1, {"count": 3}, 6.0),
        (2, {"count": 2}, 4.0),
        (0, {"count": 1}, 2.0),
    ]
    assert data["best"]["trial"] == 1 and data["metric"] == "score.value"

    drawn = cli(
        *args,
        "--random",
        "weight=0.5:1.5",
        "--trials",
        "2",
        "--metric",
        "score.value",
        "--mode",
        "min",
    )
    assert drawn.exit_code == 0, drawn.output
    assert "best first (min score.value)" in drawn.output and "sweep run" in drawn.output
    assert drawn.output.count("finished") == 6


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["--grid", "count=1", "--metric", "score.nope"], "has no key 'nope' (keys: value)", 2),
        (["--grid", "count"], "--grid must be key=values; got 'count'", 2),
        (["--grid", "count=1", "--random", "weight=a:b", "--trials", "2"], "must be numbers", 2),
        (["--grid", "cnt=1"], "pipeline 'scoring' has no parameter 'cnt'", 2),
        (["--grid", "count=1", "--mode", "best"], "mode must be max or min", 2),
    ],
)
def test_a_bad_sweep_is_one_line_and_a_non_zero_exit(
    cli: Callable[..., Any], args: list[str], message: str, code: int
) -> None:
    options = args if "--metric" in args else [*args, "--metric", "score.value"]
    result = cli("pipelines", "sweep", "cli_steps:scoring", *options)
    assert result.exit_code == code
    assert message in result.output and "Traceback" not in result.output


def test_a_sweep_whose_trials_all_fail(cli: Callable[..., Any]) -> None:
    result = cli(
        "pipelines", "sweep", "cli_steps:failing", "--grid", "count=1,2", "--metric", "explode"
    )
    assert result.exit_code == 1
    assert "every trial failed, the first with ZeroDivisionError: no bikes" in result.output


@pytest.mark.ray
@pytest.mark.slow
def test_run_on_ray(cli: Callable[..., Any], ray_instance: Any) -> None:
    args = ["pipelines", "run", "cli_steps:counting", "--param", "count=2", "--json"]
    result = cli(*args, "--executor", "ray")
    assert result.exit_code == 0, result.output
    assert [s["outcome"] for s in json.loads(result.output)["steps"]] == ["ran", "ran"]
