"""Path params: a step's param annotated ``pathlib.Path`` (or given a path object) puts the
content digest of the file or folder into the cache key, and explain names the file."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from modelyard import Client, InvalidInput, NotFound
from modelyard.cli.main import app
from modelyard.config import Settings
from modelyard.pipelines import explain
from modelyard.pipelines.fingerprint import KeyParts

Write = Callable[..., dict[str, ModuleType]]

STEPS = """
from pathlib import Path

import modelyard as my


@my.step
def count_lines(path: Path) -> int:
    assert isinstance(path, Path)
    return len(path.read_text().splitlines())


@my.step
def count_files(folder: Path | None) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


@my.step
def read_text(path: str) -> str:
    return Path(path).read_text()


@my.step
def double(n: int) -> int:
    return 2 * n


@my.pipeline
def lines(path: Path):
    double(count_lines(path))


@my.pipeline
def files(folder: str):
    count_files(folder)


@my.pipeline
def untyped(path: str):
    read_text(path)
"""


@pytest.fixture
def steps(write_modules: Write) -> ModuleType:
    return write_modules(file_steps=STEPS)["file_steps"]


def test_a_changed_file_reruns_the_step_and_explain_names_it(
    pipe_client: Client, steps: ModuleType, tmp_path: Path
) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a\nb\n")
    first = steps.lines.run(path=data, client=pipe_client)
    assert first.output("double") == 4
    assert steps.lines.run(path=data, client=pipe_client).cached == ["count_lines", "double"]

    data.write_text("a\nb\nc\n")
    again = steps.lines.run(path=data, client=pipe_client)

    assert again.ran == ["count_lines", "double"]
    assert again.output("double") == 6
    why = {e.step: str(e) for e in explain(again.run_id, client=pipe_client)}
    assert why["count_lines"] == f"count_lines: ran: input file changed: {data} (param path)"
    assert why["double"] == "double: ran: input n changed"


def test_the_same_bytes_touched_or_rewritten_stay_cached(
    pipe_client: Client, steps: ModuleType, tmp_path: Path
) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a\nb\n")
    steps.lines.run(path=str(data), client=pipe_client)  # text for a Path param: the same
    os.utime(data, (1, 1))
    data.write_text("a\nb\n")
    assert steps.lines.run(path=data, client=pipe_client).cached == ["count_lines", "double"]


def test_a_relative_path_is_read_from_the_working_directory_and_kept_as_given(
    pipe_client: Client, steps: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("data.csv").write_text("a\n")
    result = steps.lines.run(path="data.csv", client=pipe_client)
    assert pipe_client.get_run(result.steps["count_lines"].run_id).params == {"path": "data.csv"}
    assert pipe_client.get_run(result.run_id).params == {"path": "data.csv"}


def test_a_folder_is_keyed_by_its_tree(
    pipe_client: Client, steps: ModuleType, tmp_path: Path
) -> None:
    folder = tmp_path / "parts"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("1\n")
    (folder / "sub" / "b.csv").write_text("2\n")
    folder_path = Path(folder)
    steps.files.run(folder=folder_path, client=pipe_client)
    (folder / "a.csv").touch()
    assert steps.files.run(folder=folder_path, client=pipe_client).cached == ["count_files"]

    (folder / "sub" / "b.csv").write_text("3\n")  # same file count, other content
    changed = steps.files.run(folder=folder_path, client=pipe_client)
    assert changed.ran == ["count_files"]
    [why] = explain(changed.run_id, client=pipe_client)
    assert why.reasons == [f"input file changed: {folder} (param folder)"]

    (folder / "c.csv").write_text("4\n")
    added = steps.files.run(folder=folder_path, client=pipe_client)
    assert added.ran == ["count_files"]
    assert added.output("count_files") == 3


def test_a_missing_file_is_refused_before_anything_runs(
    pipe_client: Client, steps: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFound) as missing:
        steps.lines.run(path="nowhere.csv", client=pipe_client)
    assert str(missing.value) == (
        "step 'count_lines', param 'path': no file or folder at 'nowhere.csv' "
        f"(relative to {str(tmp_path)!r})"
    )
    assert missing.value.field == "path"
    with pytest.raises(NotFound, match="project 'default' does not exist"):  # nothing started
        pipe_client.search_runs("default")


def test_a_path_in_a_str_param_is_not_covered(
    pipe_client: Client, steps: ModuleType, tmp_path: Path
) -> None:
    """What the docs say the key cannot see: a str param that holds a path."""
    data = tmp_path / "data.txt"
    data.write_text("old")
    steps.untyped.run(path=str(data), client=pipe_client)
    data.write_text("new")
    stale = steps.untyped.run(path=str(data), client=pipe_client)
    assert stale.cached == ["read_text"]
    assert stale.output("read_text") == "old"


def test_keys_of_steps_without_path_params_did_not_change() -> None:
    parts = KeyParts("m.f", {"m.f": "a"}, {}, {"n": 1}, {}, {"python": "3.11"})
    assert '"files"' not in parts.to_json()
    assert parts.key() == (  # the key before path params existed
        "f43275851e4729e98712ce443697de2071bc810fbac08cf80cc0c3cbeca224b6"
    )
    assert KeyParts.from_json(parts.to_json()) == parts
    with_file = KeyParts("m.f", {"m.f": "a"}, {}, {"p": "x"}, {}, {}, {"p": "d"})
    assert KeyParts.from_json(with_file.to_json()) == with_file


def test_the_command_line_explains_a_changed_file(
    settings: Settings, write_modules: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_modules(file_steps=STEPS)
    monkeypatch.chdir(tmp_path)
    Path("data.csv").write_text("a\n")
    runner = CliRunner()
    base = ["--home", str(settings.home), "--store-url", settings.store_url]
    run = [*base, "pipelines", "run", "file_steps:lines", "--param", "path=data.csv", "--json"]
    assert runner.invoke(app, run).exit_code == 0
    Path("data.csv").write_text("a\nb\n")
    again = runner.invoke(app, run)
    assert again.exit_code == 0, again.output
    run_id = again.output.split('"run_id": "')[1].split('"')[0]
    explained = runner.invoke(app, [*base, "pipelines", "explain", run_id, "--json"])
    assert explained.exit_code == 0, explained.output
    assert json.loads(explained.output)["steps"][0]["reasons"] == [
        "input file changed: data.csv (param path)"
    ]

    missing = runner.invoke(app, [*run[:-2], "path=gone.csv"])
    assert missing.exit_code == 4
    assert "step 'count_lines', param 'path': no file or folder at 'gone.csv'" in missing.output


def test_a_folder_with_a_link_out_of_it_is_refused_naming_the_param(
    pipe_client: Client, steps: ModuleType, tmp_path: Path
) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    (tmp_path / "secret.txt").write_text("x")
    (folder / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(InvalidInput, match="step 'count_files', param 'folder': cannot store"):
        steps.files.run(folder=Path(folder), client=pipe_client)
