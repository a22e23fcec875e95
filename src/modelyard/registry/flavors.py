"""Flavors: how a kind of model object is saved to files and loaded back.

A flavor is registered by name in :data:`FLAVORS` (a :class:`~modelyard._registry.Registry`):
the built-ins (``sklearn``, ``python_function``) like any other; a third party registers
its own with ``FLAVORS.register(name, flavor)`` or declares it as an entry point of the
group ``modelyard.flavors``::

    [project.entry-points."modelyard.flavors"]
    xgboost = "modelyard_xgboost:FLAVOR"

A flavor says whether its files can run code when they are loaded (``runs_code``: pickle
packaged source code and torch.export archives can; skops, native booster files and ONNX
cannot); such a flavor is refused unless both the installation's setting
``registry.allow_code_formats`` and the project's setting of the same name allow it
(:func:`check_code_format`). It names the packages its files need; their versions are
recorded with the version and compared at load (:func:`check_packages`). A flavor may
also predict (``predict(model, data)``: a booster, an ONNX graph or a torch module take
more than the data); :func:`predict` falls back on the model's own ``predict``.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from modelyard._registry import Registry
from modelyard.errors import InvalidInput, MissingDependency

__all__ = [
    "CODE_DIR",
    "CODE_FORMATS_SETTING",
    "FLAVORS",
    "Flavor",
    "PackageMismatch",
    "check_code_format",
    "check_packages",
    "distribution_of",
    "flavor_for",
    "package_versions",
    "predict",
]

CODE_FORMATS_SETTING = "registry.allow_code_formats"
#: The folder of a version's model files that holds its code (``code_paths``, a torch
#: module's source), put on ``sys.path`` before a flavor that runs code loads it.
CODE_DIR = "code"


@runtime_checkable
class Flavor(Protocol):
    """One way of saving and loading models."""

    #: Its name in :data:`FLAVORS` (recorded with each version).
    name: str
    #: Whether loading its files can run code (pickle); refused unless allowed.
    runs_code: bool
    #: Among the flavors that handle an object, the highest priority saves it.
    priority: int

    def handles(self, model: object) -> bool:
        """Whether this flavor can save ``model``."""
        ...

    def packages(self, model: object) -> list[str]:
        """The distributions (PyPI names) its files need to load."""
        ...

    def save(self, model: object, folder: Path) -> dict[str, Any]:
        """Write ``model`` into ``folder``; returns what :meth:`load` needs (JSON)."""
        ...

    def load(self, folder: Path, config: dict[str, Any], *, trusted: Sequence[str]) -> Any:
        """The model saved in ``folder``; ``trusted``: types the caller vouches for."""
        ...


def _adopt(name: str, loaded: Any) -> Flavor:
    if not isinstance(loaded, Flavor):
        raise InvalidInput(
            f"flavor {name!r} is not a flavor: it needs name, runs_code, priority, handles, "
            "packages, save and load (modelyard.registry.flavors.Flavor)",
            field="flavor",
        )
    return loaded


FLAVORS: Registry[Flavor] = Registry("flavor", "modelyard.flavors", field="flavor", adopt=_adopt)


def _register_builtins() -> None:
    from modelyard.registry._lightgbm import LightGBMFlavor
    from modelyard.registry._onnx import OnnxFlavor
    from modelyard.registry._pyfunc import PythonFunctionFlavor
    from modelyard.registry._sklearn import SklearnFlavor
    from modelyard.registry._torch import TorchExportFlavor, TorchModuleFlavor
    from modelyard.registry._xgboost import XGBoostFlavor

    FLAVORS.register("sklearn", SklearnFlavor())
    FLAVORS.register("python_function", PythonFunctionFlavor())
    FLAVORS.register("xgboost", XGBoostFlavor())
    FLAVORS.register("lightgbm", LightGBMFlavor())
    FLAVORS.register("onnx", OnnxFlavor())
    FLAVORS.register("torch_export", TorchExportFlavor())
    FLAVORS.register("pytorch", TorchModuleFlavor())


def flavor_for(model: object) -> Flavor:
    """The flavor that saves ``model``: of those that handle it, the highest priority.
    None does: InvalidInput naming the flavors there are and how to add one."""
    FLAVORS.load_all()
    able = [f for f in (FLAVORS.get(n) for n in FLAVORS.names()) if f.handles(model)]
    if not able:
        raise InvalidInput(
            f"no flavor saves a {type(model).__module__}.{type(model).__qualname__}; the "
            f"flavors are {', '.join(FLAVORS.names())} (python_function takes any object with "
            "a predict method). Add one with modelyard.registry.flavors.FLAVORS.register(name, "
            "flavor) or an entry point in the group 'modelyard.flavors'",
            field="model",
        )
    return max(able, key=lambda f: f.priority)


#: The distributions that provide the same module: a version saved with one loads with the
#: other (xgboost-cpu is xgboost without the GPU libraries).
_SAME_MODULE: dict[str, tuple[str, ...]] = {
    "xgboost": ("xgboost-cpu",),
    "xgboost-cpu": ("xgboost",),
    "onnxruntime": ("onnxruntime-gpu",),
    "onnxruntime-gpu": ("onnxruntime",),
}

#: The modelyard extra that installs a package the built-in flavors record.
EXTRAS: dict[str, str] = {
    "scikit-learn": "sklearn",
    "skops": "sklearn",
    "xgboost": "xgboost",
    "xgboost-cpu": "xgboost",
    "lightgbm": "lightgbm",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "onnxruntime-gpu": "onnx",
    "torch": "torch",
    "safetensors": "torch",
}


def distribution_of(module: str) -> str | None:
    """The installed distribution that provides the top-level ``module`` (``xgboost`` is
    provided by ``xgboost`` or ``xgboost-cpu``); None when none does."""
    provided = importlib.metadata.packages_distributions().get(module, [])
    return provided[0] if provided else None


def _installed(name: str) -> tuple[str, str] | None:
    """The distribution installed as ``name`` or as one providing the same module, and its
    version."""
    for candidate in (name, *_SAME_MODULE.get(name, ())):
        try:
            return candidate, importlib.metadata.version(candidate)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _install_line(name: str, version: str | None = None) -> str:
    pinned = f"'{name}=={version}'" if version else f"'{name}'"
    extra = EXTRAS.get(name)
    return f"pip install 'modelyard[{extra}]' {pinned}" if extra else f"pip install {pinned}"


def package_versions(names: Sequence[str]) -> dict[str, str]:
    """The installed version of each distribution in ``names``."""
    found = {}
    for name in names:
        installed = _installed(name)
        if installed is None:
            raise MissingDependency(
                f"the flavor needs the package {name!r}, which is not installed; install it "
                f"with: {_install_line(name)}"
            )
        found[installed[0]] = installed[1]
    return found


class PackageMismatch(UserWarning):
    """A model is loaded with other versions of its packages than it was saved with."""


def check_packages(packages: dict[str, str], what: str) -> None:
    """Before loading ``what``: MissingDependency naming the package and how to install it
    (the modelyard extra, for the packages of the built-in flavors) when one it needs is
    missing; a :class:`PackageMismatch` warning when one has another version than
    recorded."""
    for name, wanted in sorted(packages.items()):
        installed = _installed(name)
        if installed is None:
            raise MissingDependency(
                f"{what} needs the package {name}=={wanted}, which is not installed; "
                f"install it with: {_install_line(name, wanted)}"
            )
        if installed[1] != wanted:
            warnings.warn(
                f"{what} was saved with {name}=={wanted} but {installed[0]}=={installed[1]} is "
                f"installed; it may load or predict differently (pip install '{name}=={wanted}')",
                PackageMismatch,
                stacklevel=3,
            )


def check_code_format(
    flavor: Flavor, *, installation: bool, project: bool, name: str, doing: str
) -> None:
    """Refuse ``doing`` (registering, loading) a model of project ``name`` in a flavor whose
    files run code on load unless the installation's setting ``registry.allow_code_formats``
    and the project's own setting of that name both allow it (the installation's is the
    ceiling: a project allows only what the installation allows)."""
    if not flavor.runs_code or (installation and project):
        return
    off = []
    if not installation:
        off.append(f"the installation's setting {CODE_FORMATS_SETTING} is off")
    if not project:
        off.append(f"project {name!r} does not allow them ({CODE_FORMATS_SETTING} of the project)")
    raise InvalidInput(
        f"{doing} a model of flavor {flavor.name!r} is refused: its format runs code when it "
        f"is loaded, and {' and '.join(off)}. Allow them only for models whose source you "
        f"trust: the installation with {CODE_FORMATS_SETTING} "
        "(MODELYARD_REGISTRY_ALLOW_CODE_FORMATS=true), and the project with "
        f"`modelyard projects set {name} {CODE_FORMATS_SETTING} true` (a project admin)",
        field="flavor",
    )


def predict(flavor: Flavor, model: Any, data: Any) -> Any:
    """``model``'s prediction on ``data``: the flavor's ``predict`` when it has one, else
    the model's own."""
    own = getattr(flavor, "predict", None)
    if callable(own):
        return own(model, data)
    return model.predict(data)


_register_builtins()
