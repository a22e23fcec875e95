"""``modelyard.models``: thin sugar over ``Client.models``, with the active run's client
inside a run and a client from the settings outside."""

from __future__ import annotations

import pandas as pd
from sklearn.linear_model import LinearRegression

import modelyard as my
from modelyard.config import Settings


def test_the_module_sugar(settings_env: Settings) -> None:
    x = pd.DataFrame({"hr": [1.0, 2.0, 3.0, 4.0], "temp": [0.1, 0.4, 0.2, 0.3]})
    y = pd.Series([2.0, 4.1, 5.9, 8.2])
    my.models.create_model("bikes-lr", project="bikes", description="hourly", owners=["ana"])
    with my.start_run(project="bikes") as run:
        run.log_metric("r2", 0.97)
        mv = my.models.log(LinearRegression().fit(x, y), "bikes-lr", input_example=x[:2])
    assert (mv.version, mv.run_id, mv.metrics) == (1, run.id, {"r2": 0.97})
    move = my.models.set_alias("bikes-lr", "champion", 1, project="bikes", reason="first")
    assert (move.from_version, move.to_version, move.reason) == (None, 1, "first")
    model = my.models.load("bikes-lr@champion", project="bikes")
    assert list(model.predict(x)) == list(LinearRegression().fit(x, y).predict(x))
    assert my.models.get_version("bikes-lr@champion", project="bikes").id == mv.id
    assert [v.version for v in my.models.list_versions("bikes-lr", project="bikes")] == [1]
    assert [m.name for m in my.models.list_models("bikes")] == ["bikes-lr"]
    assert my.models.get_model("bikes-lr", project="bikes").owners == ["ana"]
    assert [h.to_version for h in my.models.history("bikes-lr", project="bikes")] == [1]
    assert my.models.alias_at("bikes-lr", "champion", move.moved_at, project="bikes") == 1
