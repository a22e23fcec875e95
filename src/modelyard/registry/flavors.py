"""Flavors: how a kind of model object is saved to files and loaded back.

A flavor is registered by name in :data:`FLAVORS` (a :class:`~modelyard._registry.Registry`):
the built-ins (``sklearn``, ``python_function``) like any other; a third party registers
its own with ``FLAVORS.register(name, flavor)`` or declares it as an entry point of the
group ``modelyard.flavors``::

    [project.entry-points."modelyard.flavors"]
    xgboost = "modelyard_xgboost:FLAVOR"

A flavor says whether its files can run code when they are loaded (``runs_code``: pickle
can, skops and native formats cannot); such a flavor is refused unless the setting
``registry.allow_code_formats`` is on. It names the packages its files need; their
versions are recorded with the version and compared at load (:func:`check_packages`).
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
    "CODE_FORMATS_SETTING",
    "FLAVORS",
    "Flavor",
    "PackageMismatch",
    "check_code_format",
    "check_packages",
    "flavor_for",
    "package_versions",
]

CODE_FORMATS_SETTING = "registry.allow_code_formats"


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
    from modelyard.registry._pyfunc import PythonFunctionFlavor
    from modelyard.registry._sklearn import SklearnFlavor

    FLAVORS.register("sklearn", SklearnFlavor())
    FLAVORS.register("python_function", PythonFunctionFlavor())


_register_builtins()


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


def package_versions(names: Sequence[str]) -> dict[str, str]:
    """The installed version of each distribution in ``names``."""
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise MissingDependency(
                f"the flavor needs the package {name!r}, which is not installed"
            ) from None
    return found


class PackageMismatch(UserWarning):
    """A model is loaded with other versions of its packages than it was saved with."""


def check_packages(packages: dict[str, str], what: str) -> None:
    """Before loading ``what``: MissingDependency when a package it needs is missing; a
    :class:`PackageMismatch` warning when one has another version than recorded."""
    for name, wanted in sorted(packages.items()):
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise MissingDependency(
                f"{what} needs the package {name}=={wanted}, which is not installed; "
                f"install it with: pip install '{name}=={wanted}'"
            ) from None
        if installed != wanted:
            warnings.warn(
                f"{what} was saved with {name}=={wanted} but {name}=={installed} is "
                f"installed; it may load or predict differently (pip install '{name}=={wanted}')",
                PackageMismatch,
                stacklevel=3,
            )


def check_code_format(flavor: Flavor, allowed: bool, doing: str) -> None:
    """Refuse ``doing`` (saving, registering, loading) a flavor whose files run code on
    load unless the setting ``registry.allow_code_formats`` is on."""
    if flavor.runs_code and not allowed:
        raise InvalidInput(
            f"{doing} a model of flavor {flavor.name!r} is refused: its format (pickle) runs "
            f"code when it is loaded, and the setting {CODE_FORMATS_SETTING} is off (turn it on, "
            "e.g. MODELYARD_REGISTRY_ALLOW_CODE_FORMATS=true, only for models whose source you "
            "trust)",
            field="flavor",
        )
