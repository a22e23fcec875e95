"""Cache key parts: canonical params, the code a step reaches, the environment."""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Callable
from types import ModuleType

import pytest

from modelyard import InvalidInput
from modelyard.pipelines.fingerprint import (
    _module_label,
    canonical_json,
    code_parts,
    environment,
    key_parts,
)

Write = Callable[..., dict[str, ModuleType]]

HELPERS = """
import json

LIMIT = 3
NAMES = ["a", "b"]
SKIP = {"x": (1, 2)}
HANDLE = object()


def clean(rows):
    return _drop(rows)[:LIMIT] + NAMES + [SKIP, HANDLE]


def _drop(rows):
    return [r for r in rows if r is not None]


class Scaler:
    def scale(self, x):
        return x * 2
"""

STEPS = """
import functools
import json

import pandas as pd

import fp_helpers
from fp_helpers import Scaler

import modelyard as my


def unused():
    return 1


@my.step
def prepare(rows: list, factor: float = 1.0) -> list:
    cleaned = [fp_helpers.clean(rows)]
    return [Scaler().scale(r) * factor for r in cleaned[0]] + [json.dumps(1)]


@my.step(fingerprint="gpu-image-7")
def declared(rows: list) -> list:
    return rows
"""


def test_canonical_json_is_sorted_and_compact() -> None:
    assert canonical_json({"b": [1, 2.5], "a": None, "c": (True, "é")}) == (
        '{"a":null,"b":[1,2.5],"c":[true,"é"]}'
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "p is nan"),
        ({1: "x"}, "p has the key 1"),
        ({"a": [object()]}, r"p\['a'\]\[0\] is a builtins\.object"),
        ({1, 2}, r"p is a builtins\.set"),
        ([10**5000], r"p has no canonical JSON: Exceeds the limit"),
    ],
)
def test_values_without_canonical_json_are_rejected(value: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        canonical_json(value, "p")


def test_the_code_parts_follow_project_helpers_transitively(write_modules: Write) -> None:
    modules = write_modules(fp_helpers=HELPERS, fp_steps=STEPS)
    code, constants, visited = code_parts(modules["fp_steps"].prepare.fn)

    assert set(code) == {
        "fp_steps.prepare",
        "fp_helpers.clean",
        "fp_helpers._drop",
        "fp_helpers.Scaler",
    }
    assert set(constants) == {"fp_helpers.LIMIT", "fp_helpers.NAMES", "fp_helpers.SKIP"}
    assert visited == {"fp_steps", "fp_helpers"}


def test_the_key_changes_with_helper_source_and_params(write_modules: Write) -> None:
    steps = write_modules(fp_helpers=HELPERS, fp_steps=STEPS)["fp_steps"]
    base = key_parts(steps.prepare, "prepare", {"factor": 1.0}, {"rows": "a" * 64})
    assert key_parts(steps.prepare, "prepare", {"factor": 1.0}, {"rows": "a" * 64}) == base
    assert key_parts(steps.prepare, "prepare", {"factor": 2.0}, {"rows": "a" * 64}).key() != (
        base.key()
    )
    assert key_parts(steps.prepare, "prepare", {"factor": 1.0}, {"rows": "b" * 64}).key() != (
        base.key()
    )
    edited = write_modules(fp_helpers=HELPERS.replace("x * 2", "x * 3"), fp_steps=STEPS)["fp_steps"]
    changed = key_parts(edited.prepare, "prepare", {"factor": 1.0}, {"rows": "a" * 64})
    assert changed.code["fp_helpers.Scaler"] != base.code["fp_helpers.Scaler"]
    assert changed.key() != base.key()


def test_the_environment_is_python_and_the_imported_packages(write_modules: Write) -> None:
    steps = write_modules(fp_helpers=HELPERS, fp_steps=STEPS)["fp_steps"]
    parts = key_parts(steps.prepare, "prepare", {}, {})
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert parts.env["python"] == python
    packages = parts.env["packages"]
    assert packages["pandas"] == importlib.metadata.version("pandas")
    assert packages["modelyard"] == importlib.metadata.version("modelyard")
    assert "json" not in packages  # the standard library has no version of its own
    assert key_parts(steps.declared, "declared", {}, {}).env == {
        "python": python,
        "declared": "gpu-image-7",
    }


def test_library_modules_are_not_project_code() -> None:
    assert environment(set()) == {
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "packages": {},
    }
    code, _, visited = code_parts(_calls_json)
    assert set(code) == {f"{__name__}._calls_json"}
    assert visited == {__name__}


def _calls_json() -> str:
    return canonical_json({"a": 1}) + str(pytest.approx(1))


def test_a_script_is_named_after_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    script = ModuleType("__main__")
    script.__file__ = "/somewhere/train_bikes.py"
    monkeypatch.setitem(sys.modules, "__main__", script)
    assert _module_label("__main__") == "train_bikes"
    assert _module_label("pkg.steps") == "pkg.steps"


def test_editing_a_list_constant_changes_the_key(write_modules: Write) -> None:
    steps = write_modules(fp_helpers=HELPERS, fp_steps=STEPS)["fp_steps"]
    base = key_parts(steps.prepare, "prepare", {}, {})
    edited = write_modules(fp_helpers=HELPERS.replace('["a", "b"]', '["a", "c"]'), fp_steps=STEPS)
    changed = key_parts(edited["fp_steps"].prepare, "prepare", {}, {})
    assert changed.code == base.code
    assert changed.constants["fp_helpers.NAMES"] != base.constants["fp_helpers.NAMES"]
    assert changed.key() != base.key()
