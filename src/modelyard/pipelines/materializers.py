"""Materializers: how a step's output is written to a file and read back, chosen by the
output's type.

The registry maps a type (or its qualified name, so built-ins need not import pandas or
numpy to register) to a :class:`Materializer`; the first class in the value's MRO with
one registered wins, and a materializer may decline a value (``accepts``) to let the next
one try. Built-ins are registered the same way users register theirs
(:func:`register_materializer`); a package may also declare one as an entry point in the
group ``modelyard.materializers``, named as the materializer is and naming the
materializer object, whose ``types`` (classes or import paths) say which outputs it
saves. Entry points are loaded on the first output saved, or when a stored output names
one:

======================================  ==========  ===============================
type                                    name        file
======================================  ==========  ===============================
pandas DataFrame                        pandas      ``output.parquet``
pyarrow Table                           arrow       ``output.parquet``
numpy ndarray                           numpy       ``output.npy``
dict/list/str/int/float/bool/None       json        ``output.json`` (exact round trip)
bytes                                   bytes       ``output.bin``
scikit-learn estimator                  sklearn     ``output.joblib``
anything else picklable (the fallback)  pickle      ``output.pkl``
======================================  ==========  ===============================
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from modelyard._registry import Registry
from modelyard.errors import InvalidInput

__all__ = [
    "Materializer",
    "materializer_for",
    "materializer_named",
    "register_materializer",
]


@runtime_checkable
class Materializer(Protocol):
    """Writes values of some type to a file (or folder) and reads them back."""

    #: Recorded with the output; loading finds the materializer again by this name.
    name: str

    def save(self, value: Any, directory: Path) -> Path:
        """Write ``value`` under ``directory``; return the file (or folder) written."""
        ...

    def load(self, path: Path) -> Any:
        """Read back what :meth:`save` wrote at ``path``."""
        ...


def _check(materializer: object) -> Materializer:
    if not isinstance(materializer, Materializer):
        raise InvalidInput(
            "a materializer needs a name and save(value, directory) and load(path) methods",
            field="materializer",
        )
    return materializer


def _check_type(cls: type | str) -> type | str:
    if isinstance(cls, str) and "." not in cls:
        raise InvalidInput(f"{cls!r} is not an import path such as 'pandas.DataFrame'", field="cls")
    return cls


def _adopt(name: str, loaded: Any) -> Materializer:
    """A materializer from an entry point: checked, and registered for its ``types``."""
    materializer = _check(loaded)
    if materializer.name != name:
        raise InvalidInput(
            f"the entry point {name!r} names a materializer named {materializer.name!r}",
            field="materializer",
        )
    types = [_check_type(cls) for cls in getattr(materializer, "types", ())]
    for cls in types:
        _BY_TYPE.insert(0, (cls, materializer))
    return materializer


_BY_TYPE: list[tuple[type | str, Materializer]] = []  # newest first
_BY_NAME: Registry[Materializer] = Registry(
    "materializer", "modelyard.materializers", field="materializer", adopt=_adopt
)


def register_materializer(cls: type | str, materializer: Materializer) -> None:
    """Use ``materializer`` for outputs of type ``cls`` and its subclasses. ``cls`` is a
    class, or its import path (``"pandas.DataFrame"``), resolved only once its top-level
    package has been imported. Registered later, it is tried before earlier ones."""
    _check(materializer)
    _check_type(cls)
    _BY_NAME.register(materializer.name, materializer)
    _BY_TYPE.insert(0, (cls, materializer))


def _resolve(cls: type | str) -> type | None:
    """The class an entry names; None while its package is not imported (no value can
    be an instance of it then)."""
    if isinstance(cls, type):
        return cls
    module_name, _, attr = cls.rpartition(".")
    if module_name.partition(".")[0] not in sys.modules:
        return None
    try:
        found = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return None
    return found if isinstance(found, type) else None


def materializer_for(value: Any) -> Materializer:
    """The materializer for ``value``: by the first class of its MRO with one registered
    that accepts it."""
    _BY_NAME.load_all()
    entries = [(_resolve(cls), m) for cls, m in _BY_TYPE]
    for cls in type(value).__mro__:
        for registered, candidate in entries:
            if registered is not cls:
                continue
            accepts = getattr(candidate, "accepts", None)
            if accepts is None or accepts(value):
                return candidate
    raise InvalidInput(
        f"no materializer for {type(value).__module__}.{type(value).__qualname__}; register "
        "one with modelyard.pipelines.register_materializer",
        field="output",
    )


def materializer_named(name: str) -> Materializer:
    """The materializer registered under ``name`` (to load a stored output)."""
    return _BY_NAME.get(name)


class _PandasParquet:
    name = "pandas"

    def save(self, value: Any, directory: Path) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = directory / "output.parquet"
        pq.write_table(pa.Table.from_pandas(value), path)
        return path

    def load(self, path: Path) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pandas()


class _ArrowParquet:
    name = "arrow"

    def save(self, value: Any, directory: Path) -> Path:
        import pyarrow.parquet as pq

        path = directory / "output.parquet"
        pq.write_table(value, path)
        return path

    def load(self, path: Path) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(path)


class _Numpy:
    name = "numpy"

    def accepts(self, value: Any) -> bool:
        return value.dtype != object  # object arrays would need pickle inside .npy

    def save(self, value: Any, directory: Path) -> Path:
        import numpy as np

        path = directory / "output.npy"
        np.save(path, value, allow_pickle=False)
        return path

    def load(self, path: Path) -> Any:
        import numpy as np

        return np.load(path, allow_pickle=False)


class _Json:
    name = "json"

    def accepts(self, value: Any) -> bool:
        """Only values JSON gives back equal (no tuples, int keys or NaN)."""
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            return False
        back = json.loads(text)
        return bool(back == value) and _same_shape(back, value)

    def save(self, value: Any, directory: Path) -> Path:
        path = directory / "output.json"
        path.write_text(json.dumps(value, sort_keys=True, allow_nan=False), encoding="utf-8")
        return path

    def load(self, path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))


def _same_shape(back: Any, value: Any) -> bool:
    """``back == value`` and the containers are of the same kinds (a tuple equals no
    list, but ``True == 1`` and ``1.0 == 1`` would let a bool or float change type)."""
    if type(back) is not type(value) and not (
        isinstance(value, float) and type(back) is float  # float subclasses (numpy) are fine
    ):
        return False
    if isinstance(value, dict):
        return all(_same_shape(back[k], v) for k, v in value.items())
    if isinstance(value, list):
        return all(_same_shape(b, v) for b, v in zip(back, value, strict=True))
    return True


class _Bytes:
    name = "bytes"

    def save(self, value: Any, directory: Path) -> Path:
        path = directory / "output.bin"
        path.write_bytes(bytes(value))
        return path

    def load(self, path: Path) -> Any:
        return path.read_bytes()


class _Pickle:
    """Pickles with joblib when it is installed (efficient for numpy buffers), else with
    the standard library; the file name says which."""

    def __init__(self, name: str) -> None:
        self.name = name

    def save(self, value: Any, directory: Path) -> Path:
        import pickle

        try:
            try:
                import joblib
            except ModuleNotFoundError:
                path = directory / "output.pkl"
                with path.open("wb") as f:
                    pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
                return path
            path = directory / "output.joblib"
            joblib.dump(value, path)
            return path
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            cls = type(value)
            raise InvalidInput(
                f"cannot pickle a {cls.__module__}.{cls.__qualname__} output ({exc}); return "
                "something picklable or register a materializer for its type",
                field="output",
            ) from exc

    def load(self, path: Path) -> Any:
        if path.suffix == ".joblib":
            import joblib

            return joblib.load(path)
        import pickle

        with path.open("rb") as f:
            return pickle.load(f)


register_materializer(object, _Pickle("pickle"))
register_materializer("sklearn.base.BaseEstimator", _Pickle("sklearn"))
register_materializer(bytes, _Bytes())
_JSON = _Json()
for _cls in (dict, list, str, int, float, bool, type(None)):
    register_materializer(_cls, _JSON)
register_materializer("numpy.ndarray", _Numpy())
register_materializer("pyarrow.Table", _ArrowParquet())
register_materializer("pandas.DataFrame", _PandasParquet())
