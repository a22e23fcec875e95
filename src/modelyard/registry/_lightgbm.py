"""The LightGBM flavor: boosters and their scikit-learn wrappers in LightGBM's own text
model format, which holds trees and parameters and no code.

LightGBM's wrappers have no file format of their own (theirs is pickle), so a wrapper is
saved as its booster's text model plus, in the flavor's configuration, its class, its
parameters and, for a classifier, its classes; loading builds the class again with those
parameters and gives it the booster and the fitted attributes its ``predict`` reads.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInput, MissingDependency

__all__ = ["LightGBMFlavor"]

_FILE = "model.txt"
_BOOSTER = "Booster"
_WRAPPERS = ("LGBMClassifier", "LGBMRegressor", "LGBMRanker", "LGBMModel")


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ModuleNotFoundError:
        raise MissingDependency.for_extra("lightgbm", "lightgbm") from None
    return lightgbm


def _params(model: Any) -> dict[str, Any]:
    params = model.get_params()
    for key, value in params.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"the LightGBM parameter {key}={value!r} cannot be kept as JSON (a callable "
                "objective or a RandomState): set it to a plain value, or log the booster "
                "(model.booster_)",
                field="model",
            ) from None
    return dict(params)


class LightGBMFlavor:
    """LightGBM boosters and scikit-learn wrappers, in LightGBM's text model format."""

    name = "lightgbm"
    runs_code = False
    priority = 20  # a wrapper is a scikit-learn estimator too: this flavor saves it

    def handles(self, model: object) -> bool:
        lgb = sys.modules.get("lightgbm")  # not imported: not a LightGBM model
        return lgb is not None and isinstance(model, lgb.Booster | lgb.LGBMModel)

    def packages(self, model: object) -> list[str]:
        return ["lightgbm"]

    def save(self, model: object, folder: Path) -> dict[str, Any]:
        lgb = _lightgbm()
        if isinstance(model, lgb.Booster):
            model.save_model(folder / _FILE)
            return {"file": _FILE, "class": _BOOSTER}
        kind = type(model)
        if kind.__name__ not in _WRAPPERS or getattr(lgb, kind.__name__) is not kind:
            raise InvalidInput(
                f"{kind.__module__}.{kind.__qualname__} is not one of lightgbm's own classes: "
                "the lightgbm flavor loads a model back as lightgbm's class; log an "
                "LGBMClassifier, LGBMRegressor or LGBMRanker, or its booster (booster_)",
                field="model",
            )
        if not model.__sklearn_is_fitted__():  # type: ignore[attr-defined]
            raise InvalidInput("the LightGBM model is not fitted", field="model")
        if callable(model._objective):  # type: ignore[attr-defined]
            raise InvalidInput(
                "a LightGBM model with a custom objective function cannot be saved without its "
                "code; log its booster (model.booster_)",
                field="model",
            )
        model.booster_.save_model(folder / _FILE)  # type: ignore[attr-defined]
        config: dict[str, Any] = {
            "file": _FILE,
            "class": kind.__name__,
            "params": _params(model),
            "objective": model._objective,  # type: ignore[attr-defined]
            "feature_names": bool(model._fitted_with_feature_names),  # type: ignore[attr-defined]
        }
        if isinstance(model, lgb.LGBMClassifier):
            classes = model.classes_
            config["classes"] = classes.tolist()
            config["classes_dtype"] = classes.dtype.str
        return config

    def load(self, folder: Path, config: dict[str, Any], *, trusted: Sequence[str]) -> Any:
        lgb = _lightgbm()
        booster = lgb.Booster(model_file=str(folder / str(config.get("file", _FILE))))
        name = str(config.get("class", _BOOSTER))
        if name == _BOOSTER:
            return booster
        if name not in _WRAPPERS:
            raise InvalidInput(f"{name!r} is not a model class of lightgbm", field="flavor_config")
        model = getattr(lgb, name)(**config.get("params", {}))
        # The attributes fit() leaves that predict() reads (LightGBM 4).
        model._Booster = booster
        model._n_features = model._n_features_in = booster.num_feature()
        model._fitted_with_feature_names = bool(config.get("feature_names"))
        model._objective = config.get("objective")
        model._evals_result = {}
        model._best_iteration = booster.best_iteration
        model._best_score = booster.best_score
        model.fitted_ = True
        if "classes" in config:
            import numpy as np
            from sklearn.preprocessing import LabelEncoder

            classes = np.asarray(config["classes"], dtype=np.dtype(config["classes_dtype"]))
            model._le = LabelEncoder().fit(classes)
            model._classes = model._le.classes_
            model._n_classes = len(classes)
            model._class_map = {c: i for i, c in enumerate(model._classes)}
        return model
