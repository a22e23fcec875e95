"""The python-function flavor: any object with a ``predict`` method, pickled (with
cloudpickle when it is installed, which also carries classes defined in ``__main__``).
Pickle runs code when it is loaded, so this flavor is refused unless the setting
``registry.allow_code_formats`` is on."""

from __future__ import annotations

import importlib.util
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelyard.errors import MissingDependency

__all__ = ["PythonFunctionFlavor"]

_FILE = "model.pkl"


class PythonFunctionFlavor:
    """Objects with ``predict``, pickled."""

    name = "python_function"
    runs_code = True
    priority = 0

    def handles(self, model: object) -> bool:
        return callable(getattr(model, "predict", None))

    def _cloudpickle(self) -> bool:
        return importlib.util.find_spec("cloudpickle") is not None

    def packages(self, model: object) -> list[str]:
        return ["cloudpickle"] if self._cloudpickle() else []

    def save(self, model: object, folder: Path) -> dict[str, Any]:
        if self._cloudpickle():
            import cloudpickle

            data, serializer = cloudpickle.dumps(model), "cloudpickle"
        else:
            data, serializer = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL), "pickle"
        (folder / _FILE).write_bytes(data)
        kind = type(model)
        return {
            "file": _FILE,
            "serializer": serializer,
            "class": f"{kind.__module__}.{kind.__qualname__}",
        }

    def load(self, folder: Path, config: dict[str, Any], *, trusted: Sequence[str]) -> Any:
        data = (folder / str(config.get("file", _FILE))).read_bytes()
        if config.get("serializer") == "cloudpickle":
            try:
                import cloudpickle
            except ModuleNotFoundError:
                raise MissingDependency(
                    "this model was saved with cloudpickle, which is not installed; install "
                    "it with: pip install cloudpickle"
                ) from None
            return cloudpickle.loads(data)
        return pickle.loads(data)  # allowed: registry.allow_code_formats is on (checked first)
