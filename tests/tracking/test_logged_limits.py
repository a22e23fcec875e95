"""The SDK refuses a value over its limit (modelyard.limits) when it is logged, before it
is buffered, embedded and through a server alike: nothing of it is stored."""

from __future__ import annotations

import pytest

from modelyard import Client, limits
from modelyard.errors import InvalidInput


def test_a_tag_or_param_over_its_limit_is_refused_where_it_is_logged(client: Client) -> None:
    with client.start_run("p", name="r", capture=False) as run:
        with pytest.raises(InvalidInput) as tag:
            run.set_tag("note", "x" * 70_000)
        assert tag.value.message == "tags.note: 70000 characters, the limit is 5000"
        with pytest.raises(InvalidInput) as param:
            run.log_param("lr", "1" * (limits.PARAM_VALUE + 1))
        assert param.value.field == "params.lr"
        run.set_tag("kept", "y" * limits.TAG_VALUE)
        run.log_metric("loss", 0.5)
    stored = client.get_run(run.id)
    assert stored.tags == {"kept": "y" * limits.TAG_VALUE}
    assert stored.params == {} and stored.metrics == {"loss": 0.5}


def test_a_run_whose_tag_is_over_its_limit_is_not_created(client: Client) -> None:
    with pytest.raises(InvalidInput, match=r"^tags.note: 60000 characters, the limit is 5000$"):
        client.start_run("p", name="r", tags={"note": "x" * 60_000}, capture=False)
    assert client.projects.list_projects() == []
