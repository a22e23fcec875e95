"""docs/examples/bikeshare_pipeline.py (the example of docs/pipelines.md) runs, on ISLP's
Bikeshare data, and its rerun is served from the cache."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from modelyard import Client

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "bikeshare_pipeline.py"


@pytest.fixture
def example(bikeshare_path: Path) -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("bikeshare_pipeline", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bikeshare_pipeline"] = module
    spec.loader.exec_module(module)
    assert module.bikeshare_csv() == bikeshare_path
    yield module
    del sys.modules["bikeshare_pipeline"]


def test_the_bikeshare_example_trains_and_reruns_from_the_cache(
    pipe_client: Client, example: ModuleType
) -> None:
    first = example.training.run(month="2011-03", n_estimators=20, client=pipe_client)
    scores = first.output("evaluate")
    assert scores["r2"] > 0.5 and scores["mae"] > 0
    assert len(first.output("load")) == 730  # the hours of March 2011 in the data
    evaluate_run = pipe_client.get_run(first.steps["evaluate"].run_id)
    assert evaluate_run.metrics["r2"] == pytest.approx(scores["r2"])
    checked = pipe_client.datasets.get("bikeshare-checked")
    assert checked.num_rows == 730
    assert first.steps["check"].output.dataset == "bikeshare-checked:1"

    again = example.training.run(month="2011-03", n_estimators=20, client=pipe_client)
    assert again.cached == ["load", "check", "train", "evaluate"]

    more_trees = example.training.run(month="2011-03", n_estimators=30, client=pipe_client)
    assert more_trees.ran == ["train", "evaluate"]
