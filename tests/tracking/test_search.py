"""search_runs and metric history through the SDK."""

from __future__ import annotations

import math

import pytest

from modelyard import Client, InvalidInput, NotFound


@pytest.fixture
def five_runs(client: Client) -> list[str]:
    ids = []
    for i in range(5):
        with client.start_run("search", name=f"rf-{i}", capture=False) as run:
            run.log_params({"max_depth": i % 2 + 7, "lr": f"0.0{i}"})
            run.log_metric("auc", 0.7 + i * 0.05)
            run.set_tag("team", "vision" if i < 3 else "nlp")
        ids.append(run.id)
    return ids


def test_filter_and_order(client: Client, five_runs: list[str]) -> None:
    frame = client.search_runs(
        "search",
        filter="metrics.auc > 0.79 and params.max_depth = '7'",
        order_by=["metrics.auc DESC"],
    )
    assert frame["run_id"].tolist() == [five_runs[4], five_runs[2]]
    assert frame["params.max_depth"].tolist() == ["7", "7"]
    assert frame["metrics.auc"].tolist() == pytest.approx([0.9, 0.8])


def test_or_in_like_and_attributes(client: Client, five_runs: list[str]) -> None:
    page = client.search_runs(
        "search",
        filter="(tags.team = 'nlp' or attributes.name like 'rf-0') "
        "and attributes.status in ('finished')",
        order_by="attributes.name",
        output="list",
    )
    assert [r.name for r in page] == ["rf-0", "rf-3", "rf-4"]


def test_pagination_walks_every_run_once(client: Client, five_runs: list[str]) -> None:
    seen, token = [], None
    while True:
        page = client.search_runs(
            "search", order_by=["metrics.auc ASC"], max_results=2, page_token=token, output="list"
        )
        seen += [r.id for r in page]
        token = page.next_page_token
        if token is None:
            break
    assert seen == five_runs


def test_page_token_of_another_query_is_rejected(client: Client, five_runs: list[str]) -> None:
    page = client.search_runs("search", max_results=2, output="list")
    with pytest.raises(InvalidInput, match="page_token"):
        client.search_runs("search", filter="metrics.auc > 0", page_token=page.next_page_token)
    with pytest.raises(InvalidInput, match="page_token"):
        client.search_runs("search", page_token="garbage!")


def test_bad_filter_is_invalid_input(client: Client, five_runs: list[str]) -> None:
    with pytest.raises(InvalidInput) as info:
        client.search_runs("search", filter="metrics.auc >")
    assert info.value.field == "filter"


def test_unknown_project_is_not_found(client: Client) -> None:
    with pytest.raises(NotFound):
        client.search_runs("nope")


def test_history_downsampling_keeps_extremes(client: Client) -> None:
    with client.start_run("p", capture=False) as run:
        for step in range(10_000):
            run.log_metric("loss", math.sin(step / 100), step=step)
        run.log_metric("spike", 0.0, step=0)
    full = client.get_metric_history(run.id, "loss")
    assert len(full) == 10_000 and not full.downsampled
    small = client.get_metric_history(run.id, "loss", max_points=200)
    assert len(small) <= 200 and small.downsampled and small.total_points == 10_000
    assert small.steps == sorted(small.steps)
    assert small.steps[0] == 0 and small.steps[-1] == 9_999
    assert max(small.values) == pytest.approx(max(full.values))
    assert min(small.values) == pytest.approx(min(full.values))
    assert small.to_pandas().shape == (len(small), 3)


def test_history_of_unknown_key_is_empty(client: Client) -> None:
    with client.start_run("p", capture=False) as run:
        pass
    assert len(client.get_metric_history(run.id, "nope")) == 0
    with pytest.raises(InvalidInput):
        client.get_metric_history(run.id, "nope", max_points=1)


@pytest.fixture
def mixed_runs(client: Client) -> list[str]:
    """13 runs: ``auc`` on 7 (two equal), NaN on 2, missing on 4; ``depth`` on 8 (as
    text, '10' before '9'); tag ``team`` on 10 with ties."""
    ids = []
    aucs = [0.5, 0.9, None, math.nan, 0.7, 0.5, None, 0.1, math.nan, 0.99, None, 0.3, None]
    for i, auc in enumerate(aucs):
        with client.start_run("mixed", name=f"r-{i:02d}", capture=False) as run:
            if auc is not None:
                run.log_metric("auc", auc)
            if i % 3 != 1:
                run.log_param("depth", str(7 + i % 5))
            if i < 10:
                run.set_tag("team", "ab"[i % 2])
        ids.append(run.id)
    return ids


def _expected(runs: list, order_by: list[str]) -> list[str]:
    """The order search_runs promises, computed here: each item with missing or NaN
    values last, then the newest run first, then by id."""
    ordered = sorted(runs, key=lambda r: r.id)
    ordered.sort(key=lambda r: r.start_time, reverse=True)
    for item in reversed(order_by):
        name, direction = item.split()
        entity, key = name.split(".")
        if entity == "attributes":
            ordered.sort(key=lambda r, k=key: getattr(r, k), reverse=direction == "DESC")
            continue

        def value(r, e=entity, k=key):  # type: ignore[no-untyped-def]
            v = getattr(r, e).get(k)
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

        if direction == "DESC":
            ordered.sort(key=lambda r: (0, 0) if value(r) is None else (1, value(r)), reverse=True)
        else:
            ordered.sort(key=lambda r: (1, 0) if value(r) is None else (0, value(r)))
    return [r.id for r in ordered]


@pytest.mark.parametrize(
    "order_by",
    [
        ["metrics.auc DESC"],
        ["metrics.auc ASC", "attributes.name DESC"],
        ["params.depth DESC"],
        ["tags.team ASC", "metrics.auc DESC"],
        ["tags.team DESC", "params.depth ASC"],
    ],
)
def test_paging_a_sort_by_a_value_gives_runs_with_one_first_then_the_rest(
    client: Client, mixed_runs: list[str], order_by: list[str]
) -> None:
    every = client.search_runs("mixed", output="list")
    expected = _expected(list(every), order_by)
    assert sorted(expected) == sorted(mixed_runs)
    for size in (1, 3, 4, 6, 50):
        seen, token = [], None
        while True:
            page = client.search_runs(
                "mixed", order_by=order_by, max_results=size, page_token=token, output="list"
            )
            seen += [r.id for r in page]
            token = page.next_page_token
            if token is None:
                break
        assert seen == expected, (order_by, size)
    filtered = client.search_runs(
        "mixed", filter="attributes.name != 'r-09'", order_by=order_by, output="list"
    )
    assert [r.id for r in filtered] == [i for i in expected if i != mixed_runs[9]]
