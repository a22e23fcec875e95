"""scikit-learn autologging."""

from __future__ import annotations

import pytest

import modelyard as my
from modelyard import Client

sklearn = pytest.importorskip("sklearn")


@pytest.fixture
def autologging(settings_env):
    my.autolog(project="auto")
    yield
    my.autolog(disable=True)


def _data():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


def test_fit_outside_a_run_creates_one(autologging, client: Client) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = _data()
    LogisticRegression(max_iter=300, C=0.5).fit(X, y)
    (run,) = client.search_runs("auto", output="list")
    assert run.status == "finished"
    assert run.params["C"] == "0.5" and run.params["max_iter"] == "300"
    assert run.metrics["training_score"] > 0.9
    assert run.metrics["fit_time_s"] > 0
    assert run.tags["autolog.estimator"].endswith("LogisticRegression")
    assert [a.path for a in client.list_artifacts(run.id)] == ["model/model.pkl"]


def test_fit_inside_a_run_logs_into_it_and_nested_fits_are_not_logged(
    autologging, client: Client
) -> None:
    from sklearn.model_selection import GridSearchCV
    from sklearn.tree import DecisionTreeClassifier

    X, y = _data()
    with my.start_run(project="auto", name="manual") as run:
        GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2, 3]}, cv=2).fit(
            X, y
        )
    runs = client.search_runs("auto", output="list")
    assert [r.id for r in runs] == [run.id]
    stored = runs.runs[0]
    assert stored.tags["autolog.estimator"].endswith("GridSearchCV")
    assert stored.params["estimator"] == "DecisionTreeClassifier"


def test_second_fit_in_the_same_run_goes_to_a_child(autologging, client: Client) -> None:
    from sklearn.linear_model import LinearRegression, Ridge

    X, y = _data()
    with my.start_run(project="auto", name="two-models") as run:
        LinearRegression().fit(X, y)
        Ridge(alpha=2.0).fit(X, y)
    (child,) = client.search_runs(
        "auto", filter=f"attributes.parent_id = '{run.id}'", output="list"
    )
    assert child.params["alpha"] == "2.0"


def test_disable_stops_logging(settings_env, client: Client) -> None:
    from sklearn.linear_model import LinearRegression

    my.autolog(project="auto")
    my.autolog(disable=True)
    LinearRegression().fit(*_data())
    with pytest.raises(my.NotFound):
        client.search_runs("auto")


def test_failed_fit_marks_the_run_failed(autologging, client: Client) -> None:
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ValueError):
        LogisticRegression().fit([[1.0], [2.0]], [0, 0])
    (run,) = client.search_runs("auto", output="list")
    assert run.status == "failed" and "ValueError" in run.error


def test_a_search_records_its_best_params_score_and_estimator(autologging, client: Client) -> None:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    X, y = _data()
    grid = GridSearchCV(
        DecisionTreeClassifier(random_state=0), {"max_depth": [1, 3], "criterion": ["gini"]}, cv=3
    ).fit(X, y)
    (run,) = client.search_runs("auto", output="list")
    assert run.params["best_max_depth"] == "3" and run.params["best_criterion"] == "gini"
    assert run.metrics["best_cv_score"] == pytest.approx(grid.best_score_)
    assert run.tags["autolog.best_estimator"] == "sklearn.tree._classes.DecisionTreeClassifier"

    search = RandomizedSearchCV(
        make_pipeline(StandardScaler(), SVC()),
        {"svc__C": [0.1, 10.0], "svc__kernel": ["linear"]},
        n_iter=2,
        cv=3,
        random_state=0,
    )
    with my.start_run(project="auto", name="random") as outer:
        search.fit(X, y)
    found = client.get_run(outer.id)
    assert found.params["best_svc__C"] == str(search.best_params_["svc__C"])
    assert found.params["best_svc__kernel"] == "linear"
    assert found.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert found.tags["autolog.best_estimator"] == "sklearn.pipeline.Pipeline"


def test_a_plain_fit_records_no_search_results(autologging, client: Client) -> None:
    from sklearn.linear_model import LinearRegression

    LinearRegression().fit(*_data())
    (run,) = client.search_runs("auto", output="list")
    assert not any(key.startswith("best_") for key in [*run.params, *run.metrics])
    assert "autolog.best_estimator" not in run.tags
