"""explain: the reasons in words, and the cases where nothing in the key changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from typer.testing import CliRunner

from modelyard import Client, InvalidInput, NotFound
from modelyard.cli.main import app
from modelyard.config import Settings
from modelyard.governance import SYSTEM, Governance
from modelyard.pipelines import explain
from modelyard.pipelines.explanations import parts_changes
from modelyard.pipelines.fingerprint import KeyParts

Write = Callable[..., dict[str, ModuleType]]


def _parts(**changes: object) -> KeyParts:
    base: dict[str, object] = {
        "function": "mod.train",
        "code": {"mod.train": "a", "mod.clean": "b"},
        "constants": {"mod.LIMIT": "c"},
        "params": {"n": 100, "kind": "rf"},
        "inputs": {"df": "d"},
        "env": {"python": "3.11", "packages": {"pandas": "2.2.0", "numpy": "2.0.0"}},
    }
    return KeyParts(**{**base, **changes})  # type: ignore[arg-type]


def test_no_change_means_no_reasons() -> None:
    assert parts_changes(_parts(), _parts()) == []


def test_every_kind_of_change_is_put_in_words() -> None:
    new = _parts(
        code={"mod.train": "A", "mod.scale": "s"},
        constants={},
        params={"n": 200, "depth": 3},
        inputs={"df": "D"},
        env={"python": "3.12", "packages": {"pandas": "2.3.0", "polars": "1.0"}},
    )
    assert parts_changes(_parts(), new) == [
        "no longer uses helper `mod.clean`",
        "now uses helper `mod.scale`",
        "source of step `mod.train` changed",
        "value of `mod.LIMIT` changed",
        "param depth = 3 (new)",
        "param kind removed",
        "param n 100 → 200",
        "input df changed",
        "Python 3.11 → 3.12",
        "package numpy 2.0.0 → absent",
        "package pandas 2.2.0 → 2.3.0",
        "package polars absent → 1.0",
    ]


def test_file_changes_are_put_in_words() -> None:
    old = _parts(params={"path": "a.csv", "other": "b.csv"}, files={"path": "1", "other": "2"})
    assert parts_changes(old, _parts(params=old.params, files={"path": "9", "other": "2"})) == [
        "input file changed: a.csv (param path)"
    ]
    moved = _parts(params={"path": "c.csv", "other": "b.csv"}, files={"path": "9", "other": "2"})
    assert parts_changes(old, moved) == ['param path "a.csv" → "c.csv"']
    typed = _parts(params=old.params, files={"other": "2", "new": "3"})
    assert parts_changes(old, typed) == [
        "param new is now read as a file",
        "param path is no longer read as a file",
    ]


def test_declared_fingerprints_and_renamed_functions() -> None:
    old = _parts(env={"python": "3.11", "declared": "image-1"})
    new = _parts(function="mod.fit", env={"python": "3.11", "declared": "image-2"})
    assert parts_changes(old, new)[0] == "step function is now `mod.fit` (was `mod.train`)"
    assert parts_changes(old, new)[-1] == 'environment fingerprint "image-1" → "image-2"'
    assert parts_changes(_parts(params={"s": "a b"}), _parts(params={"s": "c"}))[0] == (
        'param s "a b" → c'
    )


STEPS = """
from pathlib import Path

import modelyard as my


@my.step
def first(flag: str) -> str:
    if not Path(flag).exists():
        Path(flag).write_text("seen")
        raise RuntimeError("first try fails")
    return "ok"


@my.step
def second(text: str) -> str:
    return text * 2


@my.pipeline
def twice(flag: str):
    second(first(flag))
"""


@pytest.fixture
def steps(write_modules: Write) -> ModuleType:
    return write_modules(explain_steps=STEPS)["explain_steps"]


def test_a_rerun_after_a_failure_with_the_same_key(
    pipe_client: Client, steps: ModuleType, tmp_path: Path
) -> None:
    flag = str(tmp_path / "flag")
    with pytest.raises(RuntimeError):
        steps.twice.run(flag=flag, client=pipe_client)
    result = steps.twice.run(flag=flag, client=pipe_client)
    [first, second] = explain(result.run_id, client=pipe_client)
    assert str(first).startswith("first: ran: the earlier run ")
    assert str(first).endswith(" with the same key failed")
    assert str(second) == "second: ran: no earlier run"
    assert first.to_dict()["outcome"] == "ran"


def test_a_step_whose_stored_output_is_gone_runs_again(
    pipe_client: Client, steps: ModuleType, tmp_path: Path
) -> None:
    flag = tmp_path / "flag"
    flag.write_text("seen")
    first = steps.twice.run(flag=str(flag), client=pipe_client)
    pipe_client.blobs.delete(first.steps["first"].output.digest)

    again = steps.twice.run(flag=str(flag), client=pipe_client)

    assert again.ran == ["first"]  # same bytes again: second is still cached
    why = {e.step: str(e) for e in explain(again.run_id, client=pipe_client)}
    assert why["first"].endswith("with the same key were not available")
    assert pipe_client.blobs.exists(first.steps["first"].output.digest)


def test_deleted_runs_serve_no_cache_and_purged_runs_leave_no_rows(
    pipe_client: Client, steps: ModuleType, tmp_path: Path
) -> None:
    flag = tmp_path / "flag"
    flag.write_text("seen")
    first = steps.twice.run(flag=str(flag), client=pipe_client)
    pipe_client.delete_run(first.run_id)
    again = steps.twice.run(flag=str(flag), client=pipe_client)
    assert again.cached == []

    pipe_client.delete_run(again.run_id, permanent=True)
    assert pipe_client.services.steps.of_pipeline_run(again.run_id) == []
    with pytest.raises(NotFound):
        explain(again.run_id, client=pipe_client)
    with pytest.raises(InvalidInput, match="is not a pipeline run"):
        explain(first.steps["first"].run_id, client=pipe_client)


def test_explain_through_the_server_answers_as_embedded(
    pipe_client: Client,
    steps: ModuleType,
    tmp_path: Path,
    settings: Settings,
    served: str,
    admin_token: str,
) -> None:
    flag = tmp_path / "flag"
    flag.write_text("seen")
    steps.twice.run(flag=str(flag), client=pipe_client)
    again = steps.twice.run(flag=str(flag), client=pipe_client)
    here = explain(again.run_id, client=pipe_client)
    remote = settings.model_copy(
        update={
            "tracking": settings.tracking.model_copy(update={"uri": served, "token": admin_token})
        }
    )
    with Client(remote) as over_http:
        assert explain(again.run_id[:10], client=over_http) == here
        with pytest.raises(InvalidInput, match="is not a pipeline run") as refused:
            explain(again.steps["first"].run_id, client=over_http)
        assert refused.value.field == "run"
        with pytest.raises(NotFound):
            explain("0123456789abcdef", client=over_http)

    cli = CliRunner().invoke(
        app,
        [
            "--home",
            str(settings.home),
            "--tracking-uri",
            served,
            "pipelines",
            "explain",
            again.run_id,
            "--json",
        ],
        env={"MODELYARD_TRACKING_TOKEN": admin_token},
    )
    assert cli.exit_code == 0, cli.output
    assert '"outcome": "cached"' in cli.output

    gov = Governance(pipe_client.store)
    gov.users.create_service_account("outsider", actor=SYSTEM)
    token = gov.tokens.create("outsider", "t", actor=SYSTEM).secret
    with httpx.Client(base_url=served + "/api/v1", timeout=30) as web:
        answer = web.get(
            f"/runs/{again.run_id}/explain", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 404, answer.text  # as if the run did not exist
    outsider = remote.tracking.model_copy(update={"token": token})
    with (
        Client(remote.model_copy(update={"tracking": outsider})) as theirs,
        pytest.raises(NotFound),
    ):
        explain(again.run_id, client=theirs)
