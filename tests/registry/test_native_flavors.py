"""The flavors of native formats, which run no code on load: XGBoost (UBJSON booster
files), LightGBM (text model files) and ONNX (predicted with onnxruntime). Each model is
saved, registered, loaded back and predicts as the original did; one of them through a
server as well."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import InvalidInput
from modelyard.registry.flavors import FLAVORS, flavor_for, predict
from modelyard.sdk.client import Client


def _data(classes: Any = (0, 1)) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    x = pd.DataFrame({"a": rng.random(200), "b": rng.random(200), "c": rng.random(200)})
    y = np.where(x["a"] + x["b"] > 1, classes[1], classes[0])
    return x, y


def _round_trip(client: Client, model: object, name: str, x: pd.DataFrame) -> Any:
    with client.start_run("boost"):
        mv = client.models.log(model, name, input_example=x[:5])
    assert mv.signature is not None
    assert [c.name for c in mv.signature.inputs.columns or ()] == ["a", "b", "c"]
    assert mv.flavor == flavor_for(model).name
    return client.models.load(name, project="boost")


def test_an_xgboost_classifier_round_trips_in_its_native_format(client: Client) -> None:
    xgb = pytest.importorskip("xgboost")
    x, y = _data(("stay", "leave"))
    model = xgb.XGBClassifier(n_estimators=8, max_depth=3).fit(x, y == "leave")
    loaded = _round_trip(client, model, "xgb-clf", x)
    assert type(loaded) is xgb.XGBClassifier
    assert (loaded.predict(x) == model.predict(x)).all()
    assert np.allclose(loaded.predict_proba(x), model.predict_proba(x))
    version = client.models.get_version("xgb-clf", project="boost")
    assert version.flavor == "xgboost" and version.flavor_config["class"] == "XGBClassifier"
    # xgboost or xgboost-cpu: the distribution that provides the module is recorded.
    (package,) = version.packages
    assert package in ("xgboost", "xgboost-cpu")
    assert version.packages[package] == importlib.metadata.version(package)


@pytest.mark.local_only("the round trip through a server is the classifier's")
def test_an_xgboost_regressor_and_a_raw_booster_round_trip(client: Client) -> None:
    xgb = pytest.importorskip("xgboost")
    x, y = _data()
    target = x["a"] * 3 + y
    regressor = xgb.XGBRegressor(n_estimators=8, max_depth=3).fit(x, target)
    loaded = _round_trip(client, regressor, "xgb-reg", x)
    assert type(loaded) is xgb.XGBRegressor
    assert np.allclose(loaded.predict(x), regressor.predict(x))
    booster = xgb.train({"max_depth": 3}, xgb.DMatrix(x, label=target), num_boost_round=5)
    flavor = FLAVORS.get("xgboost")
    loaded = _round_trip(client, booster, "xgb-booster", x)
    assert isinstance(loaded, xgb.Booster)
    assert np.allclose(predict(flavor, loaded, x), booster.predict(xgb.DMatrix(x)))
    with client.start_run("boost"):  # the same booster again: the same bytes, the same version
        again = client.models.log(booster, "xgb-booster", input_example=x[:5])
    assert again.version == 1


@pytest.mark.local_only("file formats; the server round trip is the XGBoost classifier's")
def test_lightgbm_wrappers_and_boosters_round_trip_in_its_text_format(client: Client) -> None:
    lgb = pytest.importorskip("lightgbm")
    x, y = _data(("stay", "leave"))
    classifier = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1).fit(x, y)
    loaded = _round_trip(client, classifier, "lgb-clf", x)
    assert type(loaded) is lgb.LGBMClassifier
    assert list(loaded.classes_) == ["leave", "stay"]
    assert (loaded.predict(x) == classifier.predict(x)).all()
    assert np.allclose(loaded.predict_proba(x), classifier.predict_proba(x))
    assert list(loaded.feature_names_in_) == ["a", "b", "c"]

    three = np.select([x["a"] < 0.3, x["a"] < 0.6], [0, 1], 2)
    multi = lgb.LGBMClassifier(n_estimators=5, num_leaves=7, verbose=-1).fit(x, three)
    loaded = _round_trip(client, multi, "lgb-multi", x)
    assert (loaded.predict(x) == multi.predict(x)).all()

    regressor = lgb.LGBMRegressor(n_estimators=10, num_leaves=7, verbose=-1).fit(x, x["a"] * 2)
    loaded = _round_trip(client, regressor, "lgb-reg", x)
    assert type(loaded) is lgb.LGBMRegressor
    assert np.allclose(loaded.predict(x), regressor.predict(x))

    booster = lgb.train(
        {"objective": "regression", "verbose": -1}, lgb.Dataset(x, x["b"]), num_boost_round=5
    )
    loaded = _round_trip(client, booster, "lgb-booster", x)
    assert isinstance(loaded, lgb.Booster)
    assert np.allclose(loaded.predict(x), booster.predict(x))
    version = client.models.get_version("lgb-booster", project="boost")
    assert version.packages == {"lightgbm": importlib.metadata.version("lightgbm")}


@pytest.mark.local_only("file formats; the server round trip is the XGBoost classifier's")
def test_a_subclass_of_a_booster_wrapper_is_refused_with_the_way_out(client: Client) -> None:
    lgb = pytest.importorskip("lightgbm")

    class Mine(lgb.LGBMRegressor):
        pass

    x, y = _data()
    with client.start_run("boost"), pytest.raises(InvalidInput) as exc:
        client.models.log(Mine(n_estimators=2, verbose=-1).fit(x, y), "mine")
    assert exc.value.field == "model" and "booster_" in exc.value.message
    assert client.models.list_models("boost") == []


@pytest.mark.local_only("file formats; the server round trip is the XGBoost classifier's")
def test_an_onnx_graph_converted_from_scikit_learn_round_trips(client: Client) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    x, y = _data()
    model = LogisticRegression().fit(x, y)
    graph = skl2onnx.convert_sklearn(
        model, initial_types=[("X", FloatTensorType([None, 3]))], target_opset=17
    )
    array = x.to_numpy(dtype=np.float32)
    with client.start_run("boost"):
        mv = client.models.log(graph, "onnx-lr", input_example=array[:5])
    assert mv.flavor == "onnx"
    assert mv.signature is not None and mv.signature.inputs.tensor is not None
    assert set(mv.packages) == {"onnx", "onnxruntime"}
    loaded = client.models.load("onnx-lr", project="boost")
    assert type(loaded).__name__ == "ModelProto"
    assert (predict(FLAVORS.get("onnx"), loaded, array) == model.predict(x)).all()


@pytest.mark.local_only("file formats; the server round trip is the XGBoost classifier's")
def test_an_onnx_graph_built_by_hand_predicts_and_says_what_it_takes(client: Client) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    weights = helper.make_tensor("w", TensorProto.FLOAT, [2, 1], [2.0, -1.0])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    with client.start_run("boost"):
        client.models.log(model, "linear", input_example=np.array([[1.0, 2.0]]))
    loaded = client.models.load("linear", project="boost")
    flavor = FLAVORS.get("onnx")
    assert predict(flavor, loaded, [[1, 2], [3, 1]]).tolist() == [[0.0], [5.0]]
    assert predict(flavor, loaded, {"x": [[2, 0]]}).tolist() == [[4.0]]
    with pytest.raises(InvalidInput, match="input 'x' is missing"):
        predict(flavor, loaded, {"z": [[2, 0]]})


def test_a_booster_and_an_onnx_graph_are_evaluated_through_their_flavor(client: Client) -> None:
    """Their own predict needs more than the rows (a DMatrix, an input feed): evaluation
    predicts through the flavor, where the registry is (embedded, and on a server)."""
    xgb = pytest.importorskip("xgboost")
    x, y = _data()
    target = x["a"] * 3 + y
    booster = xgb.train({"max_depth": 3}, xgb.DMatrix(x, label=target), num_boost_round=5)
    with client.start_run("boost"):
        client.models.log(booster, "xgb-booster", input_example=x[:5])
    report = client.models.evaluate(
        "xgb-booster/1", data=x.assign(t=target), target="t", project="boost", task="regression"
    )
    expected = float(np.sqrt(np.mean((booster.predict(xgb.DMatrix(x)) - target) ** 2)))
    assert report.metrics["rmse"] == pytest.approx(expected, rel=1e-5)
