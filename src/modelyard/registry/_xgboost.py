"""The XGBoost flavor: boosters and their scikit-learn wrappers in XGBoost's own format
(UBJSON), which holds trees and parameters and no code.

A wrapper (``XGBClassifier``, ``XGBRegressor``, ...) is saved with ``save_model``, which
keeps its scikit-learn attributes (classes, parameters) in the file, and loaded back as the
same class of ``xgboost``; a subclass of it defined elsewhere is refused at save (its code
would be needed). A :class:`xgboost.Booster` predicts on a ``DMatrix``: :meth:`predict`
makes one from the data.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInput, MissingDependency
from modelyard.registry.flavors import distribution_of

__all__ = ["XGBoostFlavor"]

_FILE = "model.ubj"
_BOOSTER = "Booster"


def _xgboost() -> Any:
    try:
        import xgboost
    except ModuleNotFoundError:
        raise MissingDependency.for_extra("xgboost", "xgboost") from None
    return xgboost


class XGBoostFlavor:
    """XGBoost boosters and scikit-learn wrappers, in XGBoost's UBJSON format."""

    name = "xgboost"
    runs_code = False
    priority = 20  # a wrapper is a scikit-learn estimator too: this flavor saves it

    def handles(self, model: object) -> bool:
        xgb = sys.modules.get("xgboost")  # not imported: not an XGBoost model
        return xgb is not None and isinstance(model, xgb.Booster | xgb.XGBModel)

    def packages(self, model: object) -> list[str]:
        return [(distribution_of("xgboost") or "xgboost")]

    def save(self, model: object, folder: Path) -> dict[str, Any]:
        xgb = _xgboost()
        kind = type(model)
        if not isinstance(model, xgb.Booster) and getattr(xgb, kind.__name__, None) is not kind:
            raise InvalidInput(
                f"{kind.__module__}.{kind.__qualname__} is not one of xgboost's own classes: "
                "the xgboost flavor loads a model back as xgboost's class; log an "
                "xgboost.XGBClassifier, XGBRegressor, ... or its booster (get_booster())",
                field="model",
            )
        model.save_model(folder / _FILE)  # type: ignore[attr-defined]
        return {"file": _FILE, "class": kind.__name__}

    def load(self, folder: Path, config: dict[str, Any], *, trusted: Sequence[str]) -> Any:
        xgb = _xgboost()
        name = str(config.get("class", _BOOSTER))
        kind = getattr(xgb, name, None)
        if not (kind is xgb.Booster or (isinstance(kind, type) and issubclass(kind, xgb.XGBModel))):
            raise InvalidInput(f"{name!r} is not a model class of xgboost", field="flavor_config")
        model = kind()
        model.load_model(folder / str(config.get("file", _FILE)))
        return model

    def predict(self, model: Any, data: Any) -> Any:
        xgb = _xgboost()
        if isinstance(model, xgb.Booster):
            return model.predict(data if isinstance(data, xgb.DMatrix) else xgb.DMatrix(data))
        return model.predict(data)
