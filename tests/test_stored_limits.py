"""Every stored string has a limit (modelyard.limits), documented in docs/limits.md and
enforced by the services: a value over it is InvalidInput naming the field and the limit,
the message never quotes the whole value, and nothing of the call is stored."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from modelyard import Client, limits
from modelyard.errors import InvalidInput
from modelyard.governance import SYSTEM, Governance
from modelyard.tracking._buffer import Batch
from service_support import schedule_service

DOCS = Path(__file__).resolve().parents[1] / "docs" / "limits.md"
HUGE = 60 * 1024 * 1024


def _constants() -> dict[str, int]:
    return {
        name: value
        for name, value in vars(limits).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, int)
    }


def test_the_documentation_lists_every_limit_with_its_value() -> None:
    rows = {
        m.group(1): int(m.group(2).replace(",", ""))
        for m in re.finditer(r"^\| `([A-Z_]+)` \| ([\d,]+) \|", DOCS.read_text(), re.MULTILINE)
    }
    assert rows == _constants()
    assert set(_constants()) <= set(limits.__all__)


def _refused(exc: pytest.ExceptionInfo[InvalidInput], field: str, size: int, limit: int) -> None:
    assert exc.value.field == field
    assert exc.value.message == f"{field}: {size} characters, the limit is {limit}"


def test_a_60_mib_tag_value_is_refused_and_no_run_is_created(client: Client) -> None:
    service = client.tracking
    with pytest.raises(InvalidInput) as exc:
        service.create_run("p", name="r", tags_={"note": "x" * HUGE})
    _refused(exc, "tags.note", HUGE, limits.TAG_VALUE)
    assert [p.name for p in client.projects.list_projects()] == []
    service.create_run("p", name="r", tags_={"note": "x" * limits.TAG_VALUE})
    assert service.count_runs("p") == 1


@pytest.mark.parametrize(
    ("kwargs", "field", "limit"),
    [
        ({"name": "r" * 256}, "name", limits.RUN_NAME),
        ({"user": "u" * 256}, "user", limits.SHORT_TEXT),
        ({"host": "h" * 256}, "host", limits.SHORT_TEXT),
        ({"entry_point": "e" * 4097}, "entry_point", limits.ENTRY_POINT),
    ],
)
def test_run_fields_over_their_limit_store_nothing(
    client: Client, kwargs: dict[str, str], field: str, limit: int
) -> None:
    with pytest.raises(InvalidInput) as exc:
        client.tracking.create_run("p", **kwargs)
    _refused(exc, field, limit + 1, limit)
    assert client.projects.list_projects() == []


def test_a_batch_with_one_value_over_its_limit_stores_none_of_its_rows(client: Client) -> None:
    service = client.tracking
    run = service.create_run("p", name="r")
    point = (run.id, "loss", 1.0, 0, 1)
    for batch, field, size, limit in [
        (Batch(metrics=[point], tags=[(run.id, "note", "x" * 70_000)]), "tags.note", 70_000, 5000),
        (
            Batch(metrics=[point], params=[(run.id, "lr", "1" * 65_537)]),
            "params.lr",
            65_537,
            limits.PARAM_VALUE,
        ),
    ]:
        with pytest.raises(InvalidInput) as exc:
            service.write_batch(batch, "batch-0001")
        _refused(exc, field, size, limit)
    with pytest.raises(InvalidInput) as key:
        service.write_batch(Batch(metrics=[(run.id, "k" * 251, 1.0, 0, 1)]))
    _refused(key, "metric key", 251, limits.KEY)
    stored = service.get_run(run.id)
    assert (stored.metrics, stored.params, stored.tags) == ({}, {}, {})
    # the refused batch id was not remembered: the same id with valid rows is stored
    service.write_batch(Batch(metrics=[point]), "batch-0001")
    assert service.get_run(run.id).metrics == {"loss": 1.0}


def test_an_ended_runs_error_keeps_its_last_characters(client: Client) -> None:
    service = client.tracking
    run = service.create_run("p", name="r")
    service.end_run(run.id, "failed", error="a" * HUGE + "ValueError: the end")
    error = service.get_run(run.id).error
    assert error is not None and len(error) == limits.RUN_ERROR
    assert error.endswith("ValueError: the end")


def test_project_descriptions_and_names(client: Client) -> None:
    with pytest.raises(InvalidInput) as exc:
        client.projects.create("p", description="d" * 10_001)
    _refused(exc, "description", 10_001, limits.DESCRIPTION)
    with pytest.raises(InvalidInput) as named:
        client.projects.create("p" * HUGE)
    _refused(named, "project", HUGE, limits.NAME)
    assert client.projects.list_projects() == []


def test_dataset_descriptions_and_sources(client: Client) -> None:
    service = client.datasets.service
    table = pa.table({"x": [1, 2]})
    with pytest.raises(InvalidInput) as exc:
        service.register("d", table, project="p", description="d" * 10_001)
    _refused(exc, "description", 10_001, limits.DESCRIPTION)
    with pytest.raises(InvalidInput) as source:
        service.register("d", table, project="p", source="s" * 4097)
    _refused(source, "source", 4097, limits.SOURCE)
    with pytest.raises(InvalidInput) as user:
        service.register("d", table, project="p", user="u" * 256)
    _refused(user, "user", 256, limits.SHORT_TEXT)
    with pytest.raises(InvalidInput) as named:
        service.register("d" * HUGE, table, project="p")
    _refused(named, "dataset", HUGE, limits.NAME)
    assert service.list_datasets() == []


@pytest.mark.parametrize(
    ("kwargs", "field", "size", "limit"),
    [
        ({"pipeline": "m" * 1025 + ":p"}, "pipeline", 1027, limits.PIPELINE_REF),
        ({"cron": "*" * 256}, "cron", 256, limits.CRON),
        ({"cron": "* * * * *", "timezone": "Z" * 65}, "timezone", 65, limits.TIMEZONE),
        ({"params": {"text": "x" * 70_000}}, "params", 70_012, limits.SCHEDULE_PARAMS),
        ({"params": '{"text": "' + "x" * 70_000 + '"}'}, "params", 70_012, limits.SCHEDULE_PARAMS),
    ],
)
def test_schedule_fields_over_their_limit_store_nothing(
    client: Client, kwargs: dict[str, object], field: str, size: int, limit: int
) -> None:
    service = schedule_service(client.store)
    args: dict[str, object] = {"pipeline": "some_module:pipe", "cron": "* * * * *", **kwargs}
    with pytest.raises(InvalidInput) as exc:
        service.create("s", project="p", **args)  # type: ignore[arg-type]
    _refused(exc, field, size, limit)
    assert service.list_schedules() == []
    assert client.projects.list_projects() == []


def test_user_and_token_names(client: Client) -> None:
    governance = Governance(client.store)
    with pytest.raises(InvalidInput) as user:
        governance.users.create_service_account("u" * HUGE, actor=SYSTEM)
    _refused(user, "username", HUGE, limits.NAME)
    with pytest.raises(InvalidInput) as email:
        governance.users.create_user(
            "ann", "Quartz-Lantern-Orbit-7", actor=SYSTEM, email="e" * 300 + "@x.org"
        )
    _refused(email, "email", 306, limits.EMAIL)
    governance.users.create_service_account("bot", actor=SYSTEM)
    with pytest.raises(InvalidInput) as token:
        governance.tokens.create("bot", "t" * HUGE, actor=SYSTEM)
    _refused(token, "token name", HUGE, limits.KEY)
    assert [u.username for u in governance.users.list_users(actor=SYSTEM)] == ["bot"]
    assert governance.tokens.list_tokens("bot", actor=SYSTEM) == []


def test_a_refusal_quotes_a_preview_of_the_value_not_all_of_it(client: Client) -> None:
    with pytest.raises(InvalidInput) as exc:
        client.projects.create("bad name" + "!" * 100)
    assert exc.value.message.endswith("'bad name!!!" + "!" * 49 + "'... (108 characters)")


def test_stored_strings_hold_no_nul(client: Client) -> None:
    with pytest.raises(InvalidInput, match=r"^tags\.note has a NUL character$"):
        client.tracking.create_run("p", tags_={"note": "a\x00b"})


def test_what_a_run_captures_by_itself_stays_within_the_limits(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["train.py", *(f"data/part-{n:05}.csv" for n in range(2000))])
    with client.start_run("p") as run:
        pass
    argv = client.get_run(run.id).tags["source.argv"]
    assert len(argv) == limits.TAG_VALUE and argv.endswith("characters]")
